#!/bin/sh
# Nobody listens at the rendezvous: dm_boot_create gives DM_ERR_BOOTSTRAP with
# a clear message once DISTMEM_BOOT_TIMEOUT (2 s) has passed.
. "$(dirname "$0")/../tools/lib.sh"
KV=$1
start=$(now)
DISTMEM_RDV=127.0.0.1:1 DISTMEM_RANK=0 DISTMEM_NRANKS=2 DISTMEM_BOOT_TIMEOUT=2s \
    bounded 30 "$KV" expect DM_ERR_BOOTSTRAP >"$TMPD/kv.out" 2>"$TMPD/kv.err"
rc=$?
took=$(($(now) - start))
[ "$rc" -eq 0 ] || fail "expected DM_ERR_BOOTSTRAP (rc $rc)"
grep -q "could not reach the rendezvous at 127.0.0.1:1 within 2.0 s: Connection refused" \
    "$TMPD/kv.out" || fail "unclear message"
[ "$took" -lt 20 ] || fail "took $took s with a 2 s timeout"
echo "ok: $(cat "$TMPD/kv.out")"
