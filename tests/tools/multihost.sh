#!/bin/sh
# Multi-host mode on one machine: two launchers share one job of 4 ranks.
# The first (--first-rank 0) serves the store at --rdv, the second connects.
# Also: the job key comes from DISTMEM_JOB_KEY and reaches the ranks.
. "$(dirname "$0")/lib.sh"
KV=$1

bounded 20 env DISTMEM_JOB_KEY=inherited-key "$DISTMEM" run -n 2 -- \
    sh -c 'echo "key=$DISTMEM_JOB_KEY rdv=$DISTMEM_RDV boot=$DISTMEM_BOOTSTRAP n=$DISTMEM_NRANKS"' \
    >"$TMPD/env.out" 2>"$TMPD/env.err" || fail "env job failed"
[ "$(grep -c '^key=inherited-key rdv=127.0.0.1:[0-9]* boot=rdv n=2$' "$TMPD/env.out")" -eq 2 ] ||
    fail "the ranks' environment is wrong"
bounded 20 "$DISTMEM" run -n 1 --tls tcp,self -- sh -c 'echo "tls=$UCX_TLS"' \
    >"$TMPD/tls.out" 2>&1 || fail "--tls job failed"
grep -q '^tls=tcp,self$' "$TMPD/tls.out" || fail "--tls did not set UCX_TLS"

# Pick a port that is free now; retry a few times if another test took it.
for try in 1 2 3 4 5; do
    port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000))
    export DISTMEM_JOB_KEY=mh-$port
    "$DISTMEM" run -n 2 --nranks 4 --first-rank 0 --rdv 127.0.0.1:$port -- "$KV" kv \
        >"$TMPD/a.out" 2>"$TMPD/a.err" &
    A=$!
    BG_PIDS="$BG_PIDS $A"
    sleep 0.3
    if kill -0 "$A" 2>/dev/null; then
        break
    fi
    grep -q "cannot start the rendezvous" "$TMPD/a.err" || fail "first launcher failed"
done
bounded 50 "$DISTMEM" run -n 2 --nranks 4 --first-rank 2 --rdv 127.0.0.1:$port -- "$KV" kv \
    >"$TMPD/b.out" 2>"$TMPD/b.err"
rc=$?
[ "$rc" -eq 0 ] || fail "second launcher exited $rc"
bounded 30 sh -c "while kill -0 $A 2>/dev/null; do sleep 0.05; done" || fail "first launcher hung"
wait "$A"
rc=$?
[ "$rc" -eq 0 ] || fail "first launcher exited $rc"
[ "$(cat "$TMPD/a.out" "$TMPD/b.out" | grep -c ': kv ok$')" -eq 4 ] || fail "not 4 ranks ok"
grep -q "rank 0: kv ok" "$TMPD/a.out" && grep -q "rank 3: kv ok" "$TMPD/b.out" ||
    fail "ranks ran on the wrong launcher"
echo "ok"
