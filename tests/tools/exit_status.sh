#!/bin/sh
# Exit status propagation and the grace/SIGTERM/SIGKILL escalation.
. "$(dirname "$0")/lib.sh"
KV=$1

# A rank exits 3 after the first fence: the launcher exits 3 and says so; the
# others see DM_ERR_PEER_FAILED from their next fence.
bounded 60 "$DISTMEM" run -n 3 -- "$KV" exit 3 >"$TMPD/run.out" 2>"$TMPD/run.err"
rc=$?
[ "$rc" -eq 3 ] || fail "exit 3: launcher exited $rc"
grep -qE "^distmem run: rank 2 \(pid [0-9]+\) exited with status 3$" "$TMPD/run.err" ||
    fail "no line naming rank 2 and status 3"
[ "$(grep -c 'saw the failure of rank 2 (fence)' "$TMPD/run.out")" -eq 2 ] ||
    fail "the others did not see the failure"

# Plain programs: all succeed -> 0, one fails -> its status.
bounded 30 "$DISTMEM" run -n 4 -- true >"$TMPD/run.out" 2>"$TMPD/run.err" ||
    fail "run -n 4 true failed"
bounded 30 "$DISTMEM" run -n 2 -- sh -c 'exit $((DISTMEM_RANK + 4))' \
    >"$TMPD/run.out" 2>"$TMPD/run.err"
rc=$?
[ "$rc" -eq 4 ] || [ "$rc" -eq 5 ] || fail "exit 4/5: launcher exited $rc"

# A rank that fails while another ignores SIGTERM and never ends: the
# launcher waits --grace, sends SIGTERM, then SIGKILL 2 s later, and exits
# with the failed rank's status. It must never hang.
start=$(now)
bounded 60 "$DISTMEM" run -n 2 --grace 1s -- sh -c \
    'if [ "$DISTMEM_RANK" = 0 ]; then sleep 0.2; exit 5; fi; trap "" TERM; while :; do sleep 1; done' \
    >"$TMPD/run.out" 2>"$TMPD/run.err"
rc=$?
took=$(($(now) - start))
[ "$rc" -eq 5 ] || fail "escalation: launcher exited $rc, expected 5"
grep -q "rank 0 (pid [0-9]*) exited with status 5" "$TMPD/run.err" || fail "no failure line"
grep -q "sending SIGTERM" "$TMPD/run.err" || fail "no SIGTERM notice"
grep -q "killing 1 rank" "$TMPD/run.err" || fail "no SIGKILL notice"
[ "$took" -lt 40 ] || fail "escalation took $took s"
echo "ok"
