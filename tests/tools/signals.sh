#!/bin/sh
# Signals sent to the launcher reach the ranks: SIGTERM (the ranks handle it
# and exit 0, so the job exits 0) and SIGINT (the ranks die of it: 130).
# The ranks run in a process group of their own.
. "$(dirname "$0")/lib.sh"
KV=$1

"$DISTMEM" run -n 2 -- "$KV" hang >"$TMPD/run.out" 2>"$TMPD/run.err" &
LPID=$!
BG_PIDS="$BG_PIDS $LPID"
wait_for "$TMPD/run.out" ': ready$' 30 2 || fail "ranks did not start"
# Process groups: the ranks' group differs from the launcher's.
lpg=$(ps -o pgid= -p "$LPID" | tr -d ' ')
cpids=$(ps -o pid= --ppid "$LPID" | tr -d ' ')
for c in $cpids; do
    cpg=$(ps -o pgid= -p "$c" | tr -d ' ')
    [ "$cpg" != "$lpg" ] || fail "rank $c shares the launcher's process group"
done
kill -TERM "$LPID"
bounded 30 sh -c "while kill -0 $LPID 2>/dev/null; do sleep 0.05; done" || fail "launcher hung"
wait "$LPID"
rc=$?
[ "$rc" -eq 0 ] || fail "SIGTERM: launcher exited $rc, expected 0"
[ "$(grep -c 'got SIGTERM' "$TMPD/run.out")" -eq 2 ] || fail "SIGTERM did not reach both ranks"

"$DISTMEM" run -n 3 -- "$KV" hang >"$TMPD/run2.out" 2>"$TMPD/run2.err" &
LPID=$!
BG_PIDS="$BG_PIDS $LPID"
wait_for "$TMPD/run2.out" ': ready$' 30 3 || fail "ranks did not start"
kill -INT "$LPID"
bounded 30 sh -c "while kill -0 $LPID 2>/dev/null; do sleep 0.05; done" || fail "launcher hung"
wait "$LPID"
rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT: launcher exited $rc, expected 130"
grep -q "forwarded Interrupt" "$TMPD/run2.err" || fail "no notice of the forwarded signal"
echo "ok"
