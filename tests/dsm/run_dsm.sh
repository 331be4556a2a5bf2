#!/bin/sh
# run_dsm.sh PROG N TLS MODE [ARG]: runs `distmem run -n N [--tls TLS] --
# PROG MODE [ARG]` (PROG: dsm_check, rma_check, emu_check or advise_check, which report as
# "PROG MODE: rank R ok"); MODE ft-X runs mode X with
# DISTMEM_PLACEMENT=first-touch (TLS "default" lets UCX choose: shared memory on one
# machine), bounded in time, and checks the outcome:
#   alloc, counter, prodcons, pagewords, drf, threads: exit 0 and every rank
#       reports "dsm_check MODE: rank R ok";
#   segv below|above: the last rank dies by SIGSEGV (the launcher says so),
#       and stderr names the address it printed before touching it; every
#       other rank reports ok;
#   kill: the last rank SIGKILLs itself; every other rank either reports
#       "rank R saw failure" and exits 0, or dies by SIGBUS with a message
#       naming the dead rank. A hang (the launcher's --timeout, its SIGTERM
#       after the grace time, or the bound) or any other exit fails.
. "$(dirname "$0")/../tools/lib.sh"
DSM=$1
N=$2
TLS=$3
MODE=$4
ARG=${5:-}
LAST=$((N - 1))
PROG=$(basename "$DSM")
# MODE ft-X: mode X under first-touch home placement
# MODE cache-X: mode X with a cache budget of 64 pages per rank (evictions)
# MODE noemu-X: mode X with DISTMEM_FAULT_EMULATE=no (single step only)
# MODE copy-X: mode X with DISTMEM_FAULT_MOVE=no (written pages leave by copy)
case $MODE in
ft-*) MODE=${MODE#ft-}; DISTMEM_PLACEMENT=first-touch; export DISTMEM_PLACEMENT ;;
cache-*) MODE=${MODE#cache-}; DISTMEM_CACHE_SIZE=256K; export DISTMEM_CACHE_SIZE ;;
# MODE store-X: mode X with each rank's home data in a tiered store of 64 pages
# of DRAM over a file (DISTMEM_HOME_MEMORY), and a cache budget of N x 64 pages
# (so bigdata's shared data is 4x each rank's home DRAM and 4x its cache)
store-*) MODE=${MODE#store-}; STORE=1
    DISTMEM_HOME_MEMORY=256K; DISTMEM_STORE_SIZE=64M; DISTMEM_CACHE_SIZE=$((N * 256))K
    export DISTMEM_HOME_MEMORY DISTMEM_STORE_SIZE DISTMEM_CACHE_SIZE ;;
noemu-*) MODE=${MODE#noemu-}; DISTMEM_FAULT_EMULATE=no; export DISTMEM_FAULT_EMULATE ;;
copy-*) MODE=${MODE#copy-}; DISTMEM_FAULT_MOVE=no; export DISTMEM_FAULT_MOVE ;;
esac
# advise_check in a store: the home policy that takes advice
if [ "$PROG" = advise_check ] && [ -n "${STORE:-}" ]; then
    DISTMEM_HOME_POLICY=hint; export DISTMEM_HOME_POLICY
fi
# bigdata: the ranks' statistics (info level) must show evictions
[ "$MODE" != bigdata ] || { DISTMEM_LOG_LEVEL=info; export DISTMEM_LOG_LEVEL; }
# direct: the one-sided counts (info level)
[ "$MODE" != direct ] && [ "$MODE" != runs ] && [ "$MODE" != held ] ||
    { DISTMEM_LOG_LEVEL=info; export DISTMEM_LOG_LEVEL; }
# emulate: one fault per page (no read-ahead); the fault path's counts (info level)
[ "$MODE" != emulate ] || {
    DISTMEM_LOG_LEVEL=info; DISTMEM_PREFETCH=0; export DISTMEM_LOG_LEVEL DISTMEM_PREFETCH
}
set -- run -n "$N" --timeout 100s --grace 60s
[ "$TLS" = default ] || set -- "$@" --tls "$TLS"
set -- "$@" -- "$DSM" "$MODE"
[ -z "$ARG" ] || set -- "$@" "$ARG"
what="$PROG $MODE${ARG:+ $ARG}, $N ranks, tls $TLS${DISTMEM_PLACEMENT:+, $DISTMEM_PLACEMENT}"
what="$what${DISTMEM_CACHE_SIZE:+, cache $DISTMEM_CACHE_SIZE}"
what="$what${DISTMEM_FAULT_EMULATE:+, emulation $DISTMEM_FAULT_EMULATE}"
what="$what${DISTMEM_FAULT_MOVE:+, move $DISTMEM_FAULT_MOVE}"
what="$what${DISTMEM_HOME_POLICY:+, home policy $DISTMEM_HOME_POLICY}"
# stacks_after SECS PID: if PID still runs after SECS, writes the stacks of
# every thread of every process below it to $TMPD/stacks.err (with gdb,
# where installed), so a hang leaves evidence in the failure's output. Ends
# within a second of PID's end.
stacks_after() {
    t=0
    while [ "$t" -lt "$1" ]; do
        kill -0 "$2" 2>/dev/null || return 0
        sleep 1
        t=$((t + 1))
    done
    command -v gdb >/dev/null || { echo "no gdb here: no stacks" >"$TMPD/stacks.err"; return 0; }
    below=$2
    all=""
    while [ -n "$below" ]; do
        next=""
        for p in $below; do
            # children of p: processes whose status names p as parent
            next="$next $(grep -l "^PPid:[[:space:]]*$p\$" /proc/[0-9]*/status 2>/dev/null |
                          sed 's|/proc/\([0-9]*\)/status|\1|')"
        done
        below=$(echo $next)
        all="$below $all" # the ranks (deepest) first
    done
    for p in $all; do
        echo "== pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
        # the stacks, then the forward-progress state of the first pages (a
        # rank process only: the expressions need libdistmem's symbols)
        timeout 20 gdb -batch -nx -p "$p" -ex "thread apply all bt" \
            -ex "p ((struct dm_dsm *)'api.c'::dm_ctx.dsm)->rank" \
            -ex "p *((struct dm_dsm *)'api.c'::dm_ctx.dsm)->pages@4" \
            -ex "p ((struct dm_dsm *)'api.c'::dm_ctx.dsm)->ndeferred" \
            -ex "p ((struct dm_dsm *)'api.c'::dm_ctx.dsm)->deferred[0]@8" \
            -ex "thread apply all p dm_dsm_npinned" 2>&1 | grep -v '^\[New LWP'
    done >"$TMPD/stacks.err"
}
start=$(now)
bounded 120 "$DISTMEM" "$@" >"$TMPD/run.out" 2>"$TMPD/run.err" &
launcher=$!
# before the launcher's --timeout (100 s) stops the ranks
stacks_after 90 "$launcher" </dev/null >/dev/null 2>&1 &
watcher=$!
BG_PIDS="$BG_PIDS $watcher"
wait "$launcher"
rc=$?
took=$(($(now) - start))
# a hang: let the watcher finish its stacks; otherwise it has nothing to do
[ "$took" -ge 90 ] || kill "$watcher" 2>/dev/null
wait "$watcher"
[ "$took" -lt 115 ] || fail "$what: killed by the bound after $took s (a hang)"
[ "$rc" -ne 124 ] || fail "$what: ran past the launcher's --timeout (a hang)"
! grep -q 'did not exit after SIGTERM\|ran past --timeout' "$TMPD/run.err" ||
    fail "$what: the launcher had to stop ranks (a hang)"

# launcher_line R: the launcher's line about rank R's failure, if any.
launcher_line() { grep "^distmem run: rank $1 (pid [0-9]*) " "$TMPD/run.err"; }
# yes when the running kernel is at least version $1.$2
kernel_at_least() {
    v=$(uname -r | sed 's/^\([0-9]*\)\.\([0-9]*\).*/\1 \2/')
    set -- "$1" "$2" $v
    if [ "$3" -gt "$1" ] || { [ "$3" -eq "$1" ] && [ "$4" -ge "$2" ]; }; then echo yes; else echo no; fi
}
# The ranks' own messages (everything on stderr not from the launcher).
grep -v '^distmem run: ' "$TMPD/run.err" >"$TMPD/ranks.msg"

case $MODE in
segv)
    [ "$rc" -eq 139 ] || fail "$what: launcher exited $rc, want 139 (rank $LAST, SIGSEGV)"
    launcher_line "$LAST" | grep -q 'was killed by signal 11 ' ||
        fail "$what: rank $LAST did not die by SIGSEGV"
    addr=$(sed -n "s/^$PROG segv: rank $LAST touching 0x\\([0-9a-fA-F]*\\) .*/\\1/p" \
           "$TMPD/run.out")
    [ -n "$addr" ] || fail "$what: rank $LAST did not say which address it touches"
    grep -qi "$addr" "$TMPD/ranks.msg" || fail "$what: no message names the address 0x$addr"
    r=0
    while [ "$r" -lt "$LAST" ]; do
        grep -q "^$PROG segv: rank $r ok\$" "$TMPD/run.out" || fail "$what: rank $r not ok"
        ! launcher_line "$r" >/dev/null || fail "$what: $(launcher_line "$r")"
        r=$((r + 1))
    done
    echo "ok: $what: SIGSEGV at 0x$addr: $(grep -i "$addr" "$TMPD/ranks.msg" | head -1)"
    ;;
kill)
    [ "$rc" -ne 0 ] || fail "$what: launcher exited 0 although rank $LAST was killed"
    launcher_line "$LAST" | grep -q 'was killed by signal 9 ' ||
        fail "$what: the launcher did not report rank $LAST killed by SIGKILL"
    saw=0
    bus=0
    r=0
    while [ "$r" -lt "$LAST" ]; do
        line=$(launcher_line "$r")
        if [ -z "$line" ]; then
            grep -q "^$PROG kill: rank $r saw failure" "$TMPD/run.out" ||
                fail "$what: rank $r neither reported the failure nor died by SIGBUS (stopped by the launcher?)"
            saw=$((saw + 1))
        else
            case $line in
            *"was killed by signal 7 "*) bus=$((bus + 1)) ;;
            *) fail "$what: $line" ;;
            esac
        fi
        r=$((r + 1))
    done
    if [ "$bus" -gt 0 ]; then
        grep -Eq "rank $LAST([^0-9]|\$)" "$TMPD/ranks.msg" ||
            fail "$what: $bus rank(s) died by SIGBUS without a message naming rank $LAST"
    fi
    echo "ok: $what: of $LAST survivors $saw saw DM_ERR_PEER_FAILED, $bus died by SIGBUS" \
         "naming rank $LAST; launcher exited $rc after $took s"
    ;;
*)
    [ "$rc" -eq 0 ] || fail "$what: exited with $rc"
    got=$(grep -c "^$PROG $MODE: rank [0-9]* ok\$" "$TMPD/run.out")
    [ "$got" -eq "$N" ] || fail "$what: $got of $N ranks reported ok"
    if [ "$MODE" = bigdata ]; then
        ev=$(grep -c 'info: shared memory: .* [1-9][0-9]* evicted' "$TMPD/run.err")
        [ "$ev" -eq "$N" ] || fail "$what: $ev of $N ranks evicted copies (want all)"
        if [ -n "${STORE:-}" ]; then
            # 4x the home DRAM: at least 3/4 of each rank's home pages live on disk
            disk=$(grep -c 'info: home memory tier home-nvme: \(19[2-9]\|2[0-9][0-9]\|[3-9][0-9][0-9]\|[0-9]\{4,\}\) pages' \
                   "$TMPD/run.err")
            [ "$disk" -eq "$N" ] ||
                fail "$what: $disk of $N ranks kept 192 or more home pages on disk (want all)"
        fi
    fi
    if [ "$MODE" = direct ]; then
        # same host: over the default transport every rank ran operations on
        # its peers' home memory, and homes handed their copies over; over
        # tcp (DISTMEM_RMA_DIRECT=auto leaves it off) none
        dir=$(grep -c "info: shared memory: .* one-sided: [0-9]* local, [1-9][0-9]* direct" \
              "$TMPD/run.err")
        hand=$(grep -c "info: shared memory: .* [1-9][0-9]* copies handed over" "$TMPD/run.err")
        if [ "$TLS" = default ]; then
            [ "$dir" -eq "$N" ] && [ "$hand" -eq "$N" ] ||
                fail "$what: $dir of $N ranks went direct, $hand handed copies over (want all)"
        else
            [ "$dir" -eq 0 ] || fail "$what: $dir ranks went direct over $TLS (want none)"
        fi
        what="$what; $dir of $N ranks went direct"
    fi
    if [ "$MODE" = runs ]; then
        # same host: the multi-page puts went direct a run of pages at a time
        # (not necessarily every rank put); over tcp nothing is direct
        runs=$(grep -c "info: shared memory: .* direct on this host's home memory ([1-9][0-9]* pages in runs)" \
               "$TMPD/run.err")
        if [ "$TLS" = default ]; then
            [ "$runs" -ge 1 ] || fail "$what: no rank put pages in runs"
        else
            [ "$runs" -eq 0 ] || fail "$what: $runs ranks put pages in runs over $TLS (want none)"
        fi
        what="$what; $runs of $N ranks put pages in runs"
    fi
    if [ "$MODE" = held ]; then
        # the window of small non-blocking puts left as fewer messages than
        # calls: some message carried several operations (both transports)
        batched=$(grep -c "info: shared memory: .* sent ([1-9][0-9]* batched messages)" \
                  "$TMPD/run.err")
        [ "$batched" -ge 1 ] || fail "$what: no message carried several one-sided operations"
        what="$what; $batched of $N ranks sent batches"
    fi
    if [ "$MODE" = emulate ]; then
        # ranks 0 and 1 took turns as accessor: each says how many of its
        # accesses must have been emulated; the runtime's count must reach it
        # (or be 0, all single-stepped, with emulation off)
        for r in 0 1; do
            must=$(sed -n "s/^$PROG emulate: rank $r must emulate \([0-9]*\) accesses\$/\1/p" \
                   "$TMPD/run.out")
            line=$(grep "^distmem\[$r\] info: fault path: " "$TMPD/run.err")
            emu=$(echo "$line" | sed -n 's/.*: \([0-9]*\) pinned accesses emulated.*/\1/p')
            step=$(echo "$line" | sed -n 's/.* \([0-9]*\) single-stepped.*/\1/p')
            [ -n "$must" ] && [ -n "$emu" ] && [ -n "$step" ] ||
                fail "$what: rank $r: no count of emulated accesses"
            if [ "${DISTMEM_FAULT_EMULATE:-yes}" = no ]; then
                [ "$emu" -eq 0 ] && [ "$step" -ge "$must" ] ||
                    fail "$what: rank $r: $emu emulated, $step stepped; want 0 and >= $must"
            else
                [ "$emu" -ge "$must" ] ||
                    fail "$what: rank $r: $emu accesses emulated, want >= $must"
            fi
            what="$what; rank $r: $emu emulated, $step stepped (must emulate $must)"
            # the accessors took written pages from each other: by moving the
            # frame (Linux 6.8+, unless DISTMEM_FAULT_MOVE=no) or by copying
            moved=$(echo "$line" | sed -n 's/.* \([0-9]*\) written pages revoked by moving.*/\1/p')
            copied=$(echo "$line" | sed -n 's/.* \([0-9]*\) by copying.*/\1/p')
            [ -n "$moved" ] && [ -n "$copied" ] || fail "$what: rank $r: no count of revoked pages"
            if [ "${DISTMEM_FAULT_MOVE:-yes}" = no ]; then
                [ "$moved" -eq 0 ] && [ "$copied" -gt 0 ] ||
                    fail "$what: rank $r: $moved moved, $copied copied; want 0 and > 0"
            elif [ "$(kernel_at_least 6 8)" = yes ]; then
                [ "$moved" -gt 0 ] ||
                    fail "$what: rank $r: no written page left by UFFDIO_MOVE on $(uname -r)"
            else
                [ "$((moved + copied))" -gt 0 ] || fail "$what: rank $r: no written page left"
            fi
            what="$what, $moved pages moved, $copied copied"
        done
    fi
    echo "ok: $what ($took s)"
    ;;
esac
