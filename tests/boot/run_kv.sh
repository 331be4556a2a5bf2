#!/bin/sh
# N ranks under `distmem run` exchange keys through the TCP store (boot_kv_check kv).
. "$(dirname "$0")/../tools/lib.sh"
KV=$1
N=$2
bounded 50 "$DISTMEM" run -n "$N" -- "$KV" kv >"$TMPD/run.out" 2>"$TMPD/run.err"
rc=$?
[ "$rc" -eq 0 ] || fail "distmem run -n $N exited with $rc"
[ "$(grep -c ': kv ok$' "$TMPD/run.out")" -eq "$N" ] || fail "expected $N 'kv ok' lines"
[ ! -s "$TMPD/run.err" ] || fail "unexpected messages on stderr"
echo "ok: $N ranks exchanged keys"
