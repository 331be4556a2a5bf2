#!/bin/sh
# run_pmix.sh TP_CHECK N: the same transport checks with ranks started by
# Open MPI's mpirun, which hands out ranks through PMIx (no distmem launcher).
. "$(dirname "$0")/../tools/lib.sh"
TP=$1
N=$2
command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed"; exit 77; }
for mode in pingpong coll barrier; do
    bounded 120 mpirun --allow-run-as-root --oversubscribe -n "$N" "$TP" "$mode" \
        >"$TMPD/mpi.out" 2>"$TMPD/mpi.err" || fail "mpirun -n $N tp_check $mode failed"
    got=$(grep -c ": rank [0-9]* ok$" "$TMPD/mpi.out")
    [ "$got" -eq "$N" ] || fail "$got of $N ranks reported ok in mode $mode"
done
echo "ok: PMIx bootstrap under mpirun, $N ranks"
