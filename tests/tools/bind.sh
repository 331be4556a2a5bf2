#!/bin/sh
# distmem run --bind: each rank's CPU affinity, read back from
# /proc/self/status in the rank itself.
. "$(dirname "$0")/lib.sh"

cpus() { # the CPUs a rank may run on, as printed by the kernel
    bounded 30 "$DISTMEM" run "$@" -- sh -c \
        'echo "rank $DISTMEM_RANK $(sed -n "s/^Cpus_allowed_list:[[:space:]]*//p" /proc/self/status)"' \
        >"$TMPD/run.out" 2>"$TMPD/run.err" || fail "distmem run $* failed"
}

ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || { echo "SKIP: needs 2 CPUs, this process may use $ncpu"; exit 77; }
all=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)

# core: one CPU each, different ones
cpus -n 2 --bind core
[ "$(grep -c '^rank [01] [0-9][0-9]*$' "$TMPD/run.out")" -eq 2 ] || fail "--bind core: not one CPU each"
[ "$(cut -d' ' -f3 "$TMPD/run.out" | sort -u | wc -l)" -eq 2 ] || fail "--bind core: the same CPU twice"

# auto with as many ranks as CPUs: bound; with more: not
cpus -n 2
[ "$(grep -c '^rank [01] [0-9][0-9]*$' "$TMPD/run.out")" -eq 2 ] || fail "--bind auto, 2 ranks: not bound"
cpus -n $((ncpu + 1))
[ "$(grep -c " $all\$" "$TMPD/run.out")" -eq $((ncpu + 1)) ] ||
    fail "--bind auto, more ranks than CPUs: some rank was bound"

# core with more ranks than CPUs: round robin, every rank on one CPU
cpus -n $((ncpu + 1)) --bind core
[ "$(grep -c '^rank [0-9]* [0-9][0-9]*$' "$TMPD/run.out")" -eq $((ncpu + 1)) ] ||
    fail "--bind core, more ranks than CPUs: not one CPU each"

# none: every rank keeps all of them
cpus -n 2 --bind none
[ "$(grep -c " $all\$" "$TMPD/run.out")" -eq 2 ] || fail "--bind none: a rank was bound"

# a bad value is a usage error
bounded 10 "$DISTMEM" run -n 2 --bind sometimes -- true >"$TMPD/bad.out" 2>"$TMPD/bad.err"
[ $? -eq 2 ] || fail "--bind sometimes: not exit 2"
grep -q 'wants auto, core or none' "$TMPD/bad.err" || fail "--bind sometimes: no clear message"
echo "ok: --bind core, auto and none"
