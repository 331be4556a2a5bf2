#!/bin/sh
# --timeout ends a job that hangs (ranks ignoring SIGTERM included): exit 124
# with a message, within the timeout plus the 2 s SIGKILL delay.
. "$(dirname "$0")/lib.sh"
KV=$1
start=$(now)
bounded 60 "$DISTMEM" run -n 2 --timeout 2s -- "$KV" hang-hard >"$TMPD/run.out" 2>"$TMPD/run.err"
rc=$?
took=$(($(now) - start))
[ "$rc" -eq 124 ] || fail "launcher exited $rc, expected 124"
grep -q "ran past --timeout 2.0 s" "$TMPD/run.err" || fail "no timeout message"
[ "$took" -lt 40 ] || fail "took $took s"
echo "ok: killed after $took s"
