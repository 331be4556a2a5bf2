#!/bin/sh
# run_litmus.sh LITMUS TEST LAYOUT N TLS ITERS [bait]: one litmus test
# (litmus.c) under `distmem run -n N [--tls TLS]` (TLS "default" lets UCX
# choose). Without `bait` the run must end with status 0 and rank 0's
# "litmus TEST LAYOUT: ok" line; with `bait` an allowed outcome is declared
# forbidden and the run must fail on it: rank 0's "litmus: FORBIDDEN ...
# (bait: ...)" line, rank 0 alone ending with status 1, no real violation and
# no failed check. The outcome histogram is printed either way; an iteration
# slower than 1 s is reported on stderr (not a failure).
. "$(dirname "$0")/../tools/lib.sh"
LITMUS=$1
TEST=$2
LAYOUT=$3
N=$4
TLS=$5
ITERS=$6
BAIT=${7:-}
set -- run -n "$N"
[ "$TLS" = default ] || set -- "$@" --tls "$TLS"
what="litmus $TEST $LAYOUT ${BAIT:+($BAIT) }with $N ranks, tls $TLS"
bounded 100 "$DISTMEM" "$@" -- "$LITMUS" "$TEST" "$LAYOUT" "$ITERS" ${BAIT:+"$BAIT"} \
    >"$TMPD/run.out" 2>"$TMPD/run.err"
rc=$?
cat "$TMPD/run.out"
grep "^litmus rank [0-9]*: iteration " "$TMPD/run.err" >&2
if [ -z "$BAIT" ]; then
    [ "$rc" -eq 0 ] || fail "$what exited with $rc"
    grep -q "^litmus $TEST $LAYOUT: ok" "$TMPD/run.out" || fail "$what: no ok line"
    echo "ok: $what"
    exit 0
fi
[ "$rc" -ne 0 ] || fail "$what: the bait outcome never occurred in $ITERS iterations"
grep -q "^litmus: FORBIDDEN $TEST $LAYOUT iteration [0-9]*: .*(bait: " "$TMPD/run.out" ||
    fail "$what exited with $rc without catching the bait"
! grep "^litmus: FORBIDDEN" "$TMPD/run.out" | grep -qv "(bait: " ||
    fail "$what: a real SC violation"
! grep -q "^litmus rank [0-9]*: .*litmus.c" "$TMPD/run.err" || fail "$what: a check failed"
# Only rank 0 fails (after a clean dm_finalize); the other ranks end with 0.
grep -q "^distmem run: rank 0 (pid [0-9]*) exited with status 1\$" "$TMPD/run.err" ||
    fail "$what: rank 0 did not end with status 1"
! grep "^distmem run: " "$TMPD/run.err" | grep -qv "^distmem run: rank 0 (pid [0-9]*) exited" ||
    fail "$what: another rank failed"
echo "ok: $what: the checker caught the bait"
