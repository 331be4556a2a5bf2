#!/bin/sh
# One rank SIGKILLs itself after the first fence: the others get
# DM_ERR_PEER_FAILED from a blocking get (rank 0) or fence (the rest) and see
# the rank in poll_failed; `distmem run` names the rank and the signal and
# exits 128+9.
. "$(dirname "$0")/../tools/lib.sh"
KV=$1
N=${2:-3}
LAST=$((N - 1))
start=$(now)
bounded 60 "$DISTMEM" run -n "$N" -- "$KV" die >"$TMPD/run.out" 2>"$TMPD/run.err"
rc=$?
took=$(($(now) - start))
[ "$rc" -eq 137 ] || fail "distmem run exited with $rc, expected 137"
grep -qE "^distmem run: rank $LAST \(pid [0-9]+\) was killed by signal 9 \(Killed\)$" \
    "$TMPD/run.err" || fail "no line naming rank $LAST and signal 9 on stderr"
[ "$(grep -c "saw the failure of rank $LAST" "$TMPD/run.out")" -eq "$LAST" ] ||
    fail "expected $LAST survivors to report DM_ERR_PEER_FAILED"
grep -q "rank 0: saw the failure of rank $LAST (get)" "$TMPD/run.out" ||
    fail "rank 0's blocking get did not fail"
[ "$took" -lt 30 ] || fail "took $took s"
echo "ok: failure of rank $LAST seen by all in $took s"
