#!/bin/sh
# run_api.sh API_CHECK N TLS: `distmem run -n N [--tls TLS] -- api_check
# lifecycle` (TLS "default" lets UCX choose). Every rank must pass; in each of
# round 1 (dm_init .. dm_finalize; a second dm_init is refused in-process) the
# ranks reported must be exactly {0..N-1}, each with size N.
. "$(dirname "$0")/../tools/lib.sh"
API=$1
N=$2
TLS=$3
set -- run -n "$N"
[ "$TLS" = default ] || set -- "$@" --tls "$TLS"
bounded 120 "$DISTMEM" "$@" -- "$API" lifecycle >"$TMPD/run.out" 2>"$TMPD/run.err"
rc=$?
[ "$rc" -eq 0 ] || fail "distmem run -n $N --tls $TLS api_check lifecycle exited with $rc"
for round in 1; do
    got=$(sed -n "s/^api_check: rank \([0-9]*\) of $N (round $round)\$/\1/p" "$TMPD/run.out" |
          sort -n | tr '\n' ' ')
    want=$(seq 0 $((N - 1)) | tr '\n' ' ')
    [ "$got" = "$want" ] || fail "round $round: ranks {$got}, want {$want}"
done
[ "$(grep -c '^api_check lifecycle: rank [0-9]* ok$' "$TMPD/run.out")" -eq "$N" ] ||
    fail "not all $N ranks reported ok"
echo "ok: api_check lifecycle, $N ranks, tls $TLS"
