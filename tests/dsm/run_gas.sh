#!/bin/sh
# run_gas.sh GAS_CHECK N: the global address space negotiation across N ranks.
. "$(dirname "$0")/../tools/lib.sh"
bounded 60 "$DISTMEM" run -n "$2" -- "$1" >"$TMPD/run.out" 2>"$TMPD/run.err" ||
    fail "distmem run -n $2 gas_check failed"
[ "$(grep -c '^gas_check: rank [0-9]* ok$' "$TMPD/run.out")" -eq "$2" ] || fail "not every rank ok"
echo "ok: $2 ranks reserved one global address space"
