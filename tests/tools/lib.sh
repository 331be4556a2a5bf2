# Shared setup of the shell tests of tests/boot and tests/tools (sourced).
#
# The meson test environment sets DM_TEST_EXE (the distmem binary). Any
# DISTMEM_* configuration inherited from the caller's shell is removed, so
# each test starts from the defaults and sets what it means to test.
set -u
DISTMEM=${DM_TEST_EXE:?DM_TEST_EXE must name the distmem binary}
for v in $(env | sed -n 's/^\(DISTMEM_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/distmem-test.XXXXXX")
BG_PIDS=""
cleanup() {
    for p in $BG_PIDS; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$TMPD"
}
trap cleanup EXIT

# fail MESSAGE: prints the message and the captured output, exits 1.
fail() {
    echo "FAIL: $*" >&2
    for f in "$TMPD"/*.out "$TMPD"/*.err; do
        [ -f "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" >&2
    done
    exit 1
}

# bounded SECS CMD...: runs CMD, killed after SECS (a test must never hang).
bounded() {
    secs=$1
    shift
    timeout -s KILL "$secs" "$@"
}

now() { date +%s; }

# wait_for FILE REGEX SECS [COUNT]: waits until FILE has COUNT lines matching REGEX.
wait_for() {
    end=$(($(now) + $3))
    while :; do
        count=$(grep -cE "$2" "$1" 2>/dev/null)
        [ "${count:-0}" -lt "${4:-1}" ] || break
        [ "$(now)" -lt "$end" ] || return 1
        sleep 0.05
    done
    return 0
}

# start_rendezvous NRANKS [ARGS...]: starts `distmem rendezvous` on an
# ephemeral port in the background; sets RDV_PID, RDV_ADDR and RDV_ERR (its
# stderr file). Each call gets its own output files.
RDV_SEQ=0
start_rendezvous() {
    n=$1
    shift
    RDV_SEQ=$((RDV_SEQ + 1))
    RDV_OUT=$TMPD/rdv$RDV_SEQ.out
    RDV_ERR=$TMPD/rdv$RDV_SEQ.err
    "$DISTMEM" rendezvous --listen 127.0.0.1:0 -n "$n" "$@" >"$RDV_OUT" 2>"$RDV_ERR" &
    RDV_PID=$!
    BG_PIDS="$BG_PIDS $RDV_PID"
    wait_for "$RDV_OUT" '^listening on ' 30 || fail "the rendezvous did not start"
    RDV_ADDR=$(sed -n 's/^listening on //p' "$RDV_OUT")
    [ -n "$RDV_ADDR" ] || fail "no rendezvous address"
}
