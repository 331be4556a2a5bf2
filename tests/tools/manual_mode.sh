#!/bin/sh
# Manual mode: `distmem rendezvous` plus ranks started by hand with
# DISTMEM_RANK/NRANKS/RDV. Also: a wrong job key is refused, and the store
# names a rank that died.
. "$(dirname "$0")/lib.sh"
KV=$1

# A healthy job of 3 ranks; the store exits 0 once all said goodbye.
start_rendezvous 3 --job-key s3cret
pids=""
for r in 0 1 2; do
    DISTMEM_RANK=$r DISTMEM_NRANKS=3 DISTMEM_RDV=$RDV_ADDR DISTMEM_JOB_KEY=s3cret \
        bounded 50 "$KV" kv >"$TMPD/rank$r.out" 2>"$TMPD/rank$r.err" &
    pids="$pids $!"
done
for p in $pids; do
    wait "$p" || fail "a rank failed"
done
bounded 20 sh -c "while kill -0 $RDV_PID 2>/dev/null; do sleep 0.05; done" ||
    fail "the rendezvous did not exit after all ranks left"
wait "$RDV_PID"
rc=$?
[ "$rc" -eq 0 ] || fail "rendezvous exited $rc"
grep -q "all 3 ranks finished" "$RDV_ERR" || fail "no completion message"

# Wrong job key: refused with a clear message.
start_rendezvous 2 --job-key right
DISTMEM_RANK=0 DISTMEM_NRANKS=2 DISTMEM_RDV=$RDV_ADDR DISTMEM_JOB_KEY=wrong \
    DISTMEM_BOOT_TIMEOUT=5s bounded 30 "$KV" expect DM_ERR_BOOTSTRAP >"$TMPD/key.out" 2>&1 ||
    fail "a wrong job key was not refused"
grep -q "refused rank 0: wrong job key" "$TMPD/key.out" || fail "unclear refusal"
# Wrong size: refused too.
DISTMEM_RANK=0 DISTMEM_NRANKS=3 DISTMEM_RDV=$RDV_ADDR DISTMEM_JOB_KEY=right \
    DISTMEM_BOOT_TIMEOUT=5s bounded 30 "$KV" expect DM_ERR_BOOTSTRAP >"$TMPD/size.out" 2>&1 ||
    fail "a wrong DISTMEM_NRANKS was not refused"
kill "$RDV_PID"
wait "$RDV_PID" 2>/dev/null

# A rank dies: the survivor sees it, the store exits 1 naming the rank.
start_rendezvous 2
for r in 0 1; do
    DISTMEM_RANK=$r DISTMEM_NRANKS=2 DISTMEM_RDV=$RDV_ADDR \
        bounded 50 "$KV" die >"$TMPD/die$r.out" 2>"$TMPD/die$r.err" &
    eval "p$r=\$!"
done
wait "$p0" || fail "rank 0 did not see the failure"
wait "$p1"
bounded 30 sh -c "while kill -0 $RDV_PID 2>/dev/null; do sleep 0.05; done" ||
    fail "the rendezvous did not exit after the failure"
wait "$RDV_PID"
rc=$?
[ "$rc" -eq 1 ] || fail "rendezvous exited $rc after a failure, expected 1"
grep -q "rank 1 failed" "$RDV_ERR" || fail "the failed rank is not named"
echo "ok"
