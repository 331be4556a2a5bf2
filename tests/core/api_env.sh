#!/bin/sh
# api_env.sh API_CHECK CASE: one process, no launcher.
#   single         no DISTMEM_* at all: bootstrap `single`, rank 0 of 1
#   single_forced  DISTMEM_BOOTSTRAP=single, the same
#   bad_value      DISTMEM_PEER_TIMEOUT=fast: dm_init is DM_ERR_CONFIG naming it
#   unknown_var    DISTMEM_NOPE=1: dm_init is DM_ERR_CONFIG naming it
# The process must neither hang nor crash (bounded, exit status checked).
. "$(dirname "$0")/../tools/lib.sh"
API=$1
CASE=$2
case $CASE in
single)        set -- env "$API" single ;;
single_forced) set -- env DISTMEM_BOOTSTRAP=single "$API" single ;;
bad_value)     set -- env DISTMEM_PEER_TIMEOUT=fast "$API" badenv DISTMEM_PEER_TIMEOUT ;;
unknown_var)   set -- env DISTMEM_NOPE=1 "$API" badenv DISTMEM_NOPE ;;
*)             fail "unknown case $CASE" ;;
esac
bounded 60 "$@" >"$TMPD/api.out" 2>"$TMPD/api.err"
rc=$?
[ "$rc" -eq 0 ] || fail "api_check ($CASE) exited with $rc"
case $CASE in
single*) grep -q '^api_check single: rank 0 of 1 ok$' "$TMPD/api.out" || fail "no ok line" ;;
bad_value)
    grep -q 'fast' "$TMPD/api.out" || fail "the message does not name the value"
    # the library also reports the error on stderr, once per failed dm_init
    grep -q 'DISTMEM_PEER_TIMEOUT' "$TMPD/api.err" || fail "nothing on stderr" ;;
esac
echo "ok: $CASE: $(cat "$TMPD/api.out")"
