#!/bin/sh
# run_tp.sh TP_CHECK N TLS MODE: runs `distmem run -n N --tls TLS -- tp_check MODE`
# (TLS "default" lets UCX choose: shared memory on one machine) and expects
# every rank to report ok. Mode "kill": the last rank SIGKILLs itself; the
# others must report DM_ERR_PEER_FAILED and the launcher must exit non-zero
# naming the rank and the signal, all within the bound.
. "$(dirname "$0")/../tools/lib.sh"
TP=$1
N=$2
TLS=$3
MODE=$4
set -- run -n "$N"
[ "$TLS" = default ] || set -- "$@" --tls "$TLS"
bounded 120 "$DISTMEM" "$@" -- "$TP" "$MODE" >"$TMPD/run.out" 2>"$TMPD/run.err"
rc=$?
if [ "$MODE" = kill ]; then
    [ "$rc" -ne 0 ] || fail "launcher exited 0 although rank $((N - 1)) was killed"
    [ "$rc" -ne 137 ] || [ "$rc" -ne 124 ] || fail "launcher itself was killed or timed out ($rc)"
    grep -q "rank $((N - 1)) (pid [0-9]*) was killed by signal 9" "$TMPD/run.err" ||
        fail "launcher did not name the killed rank and signal"
    got=$(grep -c 'saw DM_ERR_PEER_FAILED' "$TMPD/run.out")
    [ "$got" -eq "$((N - 1))" ] || fail "$got of $((N - 1)) survivors saw DM_ERR_PEER_FAILED"
    echo "ok: $((N - 1)) survivors saw the failure; launcher exited $rc"
    exit 0
fi
[ "$rc" -eq 0 ] || fail "distmem run -n $N --tls $TLS tp_check $MODE exited with $rc"
got=$(grep -c ": rank [0-9]* ok$" "$TMPD/run.out")
[ "$got" -eq "$N" ] || fail "$got of $N ranks reported ok"
echo "ok: tp_check $MODE, $N ranks, tls $TLS"
