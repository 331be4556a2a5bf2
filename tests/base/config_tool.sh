#!/bin/sh
# `distmem config` prints every DISTMEM_* variable of the table with its help;
# it shows the environment's current values; a malformed or unknown variable
# makes it exit non-zero with a message that names the variable and value.
. "$(dirname "$0")/../tools/lib.sh"
SRC=${DM_TEST_SOURCE_ROOT:?}

bounded 20 "$DISTMEM" config >"$TMPD/cfg.out" 2>"$TMPD/cfg.err" || fail "distmem config failed"
# Every variable of the table in src/base/config.h appears.
names=$(sed -n 's/^ *X(\([A-Z_]*\), [a-z_]*, [A-Z]*,.*/\1/p' "$SRC/src/base/config.h")
[ -n "$names" ] || fail "could not read the variable names from config.h"
count=0
for n in $names; do
    grep -q "^DISTMEM_$n=" "$TMPD/cfg.out" || fail "DISTMEM_$n missing from distmem config"
    count=$((count + 1))
done
[ "$(grep -c '^DISTMEM_[A-Z_]*=' "$TMPD/cfg.out")" -eq "$count" ] ||
    fail "distmem config prints variables that are not in the table"
grep -q '^DISTMEM_RANK=-1$' "$TMPD/cfg.out" || fail "default DISTMEM_RANK=-1 not shown"

# Current values come from the environment.
bounded 20 env DISTMEM_PEER_TIMEOUT=750ms DISTMEM_LOG_LEVEL=DEBUG "$DISTMEM" config \
    >"$TMPD/cur.out" 2>"$TMPD/cur.err" || fail "distmem config with overrides failed"
grep -q '^DISTMEM_PEER_TIMEOUT=750ms$' "$TMPD/cur.out" || fail "PEER_TIMEOUT=750ms not shown"
grep -q '^DISTMEM_LOG_LEVEL=debug$' "$TMPD/cur.out" || fail "LOG_LEVEL=debug not shown"

# A malformed value: non-zero exit, message naming the variable and value.
bounded 20 env DISTMEM_LOG_LEVEL=loud "$DISTMEM" config >"$TMPD/bad.out" 2>"$TMPD/bad.err"
rc=$?
[ "$rc" -ne 0 ] || fail "DISTMEM_LOG_LEVEL=loud distmem config exited 0"
[ "$rc" -lt 124 ] || fail "distmem config was killed or timed out ($rc)"
grep -q 'DISTMEM_LOG_LEVEL' "$TMPD/bad.err" && grep -q 'loud' "$TMPD/bad.err" ||
    fail "the message does not name DISTMEM_LOG_LEVEL and \"loud\""
grep -q 'error|warn|info|debug|trace' "$TMPD/bad.err" || fail "the message does not list the choices"

# An unknown variable: non-zero exit naming it.
bounded 20 env DISTMEM_NOPE=1 "$DISTMEM" config >"$TMPD/unk.out" 2>"$TMPD/unk.err"
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -lt 124 ] || fail "DISTMEM_NOPE=1 distmem config exited $rc"
grep -q 'DISTMEM_NOPE' "$TMPD/unk.err" || fail "the message does not name DISTMEM_NOPE"
rm -f "$TMPD"/*.out "$TMPD"/*.err
echo "ok: distmem config prints $count variables and rejects bad ones"
