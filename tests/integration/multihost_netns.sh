#!/bin/sh
# multihost_netns.sh TP_CHECK API_CHECK PART [DSM_CHECK]: three "hosts" on one machine.
#
# Topology (all of it exists only inside namespaces this test creates, and is
# deleted on exit; no traffic leaves them):
#
#     dmtest-PID-a  veth0 10.77.0.1/24 --+
#     dmtest-PID-b  veth0 10.77.0.2/24 --+-- br0 in dmtest-PID-hub
#     dmtest-PID-c  veth0 10.77.0.3/24 --+
#
# `distmem rendezvous` listens on 10.77.0.1 in namespace a; rank i runs in
# namespace a, b or c in manual mode (DISTMEM_RANK/NRANKS/RDV) with
# UCX_TLS=tcp and UCX_NET_DEVICES=veth0, so every byte between ranks crosses
# the veths and the bridge (with the default UCX_TLS, UCX would find shared
# memory across namespaces).
#
# PART picks the jobs (each with its own rendezvous; every one must succeed):
#   tp    tp_check pingpong, rma, coll: transport over TCP between the hosts;
#         the veths' byte counters show the traffic crossed them
#   api   api_check lifecycle: the public API (dm_init, barriers, dm_finalize,
#         dm_init again)
#   kill  tp_check kill: rank 2 SIGKILLs itself; ranks 0 and 1 see
#         DM_ERR_PEER_FAILED and exit 0, and the rendezvous exits non-zero
#         naming rank 2, all within the bound.
#   dsm   dsm_check counter and drf (DSM_CHECK, from tests/dsm): a job of the
#         coherent shared memory whose pages and locks move between the
#         hosts; every rank reports ok and the veths' byte counters show the
#         pages crossed them.
# Exit 77 (skip) when namespaces cannot be made (not root, no `ip`, denied).
. "$(dirname "$0")/../tools/lib.sh"
TP=$1
API=$2
PART=$3
DSM=${4:-}
N=3
NET=10.77.0
PFX=dmtest-$$
HUB=$PFX-hub
HOSTS="$PFX-a $PFX-b $PFX-c"
CREATED=""

skip() {
    echo "SKIP: $*"
    exit 77
}

# Teardown: end every process inside our namespaces (they were all started by
# this test), then delete the namespaces; the veths and the bridge go with
# them. Runs on every exit path.
netns_cleanup() {
    for ns in $CREATED; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done
    for ns in $CREATED; do ip netns del "$ns" 2>/dev/null; done
    cleanup
}
trap netns_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case $PART in tp | api | kill | dsm) ;; *) fail "unknown part \"$PART\" (tp, api, kill or dsm)" ;; esac
[ "$PART" != dsm ] || [ -n "$DSM" ] || fail "part dsm needs DSM_CHECK (the fourth argument)"
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root (uid $(id -u))"
command -v ip >/dev/null 2>&1 || skip "no \`ip\` command (iproute2)"
ip netns add "$HUB" 2>"$TMPD/netns.log" || skip "cannot create a network namespace: $(cat "$TMPD/netns.log")"
CREATED=$HUB
ip -n "$HUB" link add br0 type bridge 2>"$TMPD/netns.log" ||
    skip "cannot create a bridge: $(cat "$TMPD/netns.log")"
rm -f "$TMPD/netns.log"
ip -n "$HUB" link set lo up || fail "hub: lo up"
ip -n "$HUB" link set br0 up || fail "hub: br0 up"
i=0
for ns in $HOSTS; do
    i=$((i + 1))
    ip netns add "$ns" || fail "ip netns add $ns"
    CREATED="$CREATED $ns"
    ip link add veth0 netns "$ns" type veth peer name "port$i" netns "$HUB" ||
        fail "veth pair for $ns"
    ip -n "$HUB" link set "port$i" master br0 || fail "port$i into br0"
    ip -n "$HUB" link set "port$i" up || fail "port$i up"
    ip -n "$ns" link set lo up || fail "$ns: lo up"
    ip -n "$ns" addr add "$NET.$i/24" dev veth0 || fail "$ns: address"
    ip -n "$ns" link set veth0 up || fail "$ns: veth0 up"
done
ns_of() { echo "$HOSTS" | cut -d' ' -f$(($1 + 1)); }

# The hosts reach each other through the bridge (bounded: the bridge may take
# a moment to forward). Without ping, the jobs below tell.
if command -v ping >/dev/null 2>&1; then
    ok=0
    for try in 1 2 3 4 5 6 7 8 9 10; do
        if ip netns exec "$PFX-c" ping -c1 -W1 "$NET.1" >/dev/null 2>&1 &&
           ip netns exec "$PFX-a" ping -c1 -W1 "$NET.2" >/dev/null 2>&1; then
            ok=1
            break
        fi
        sleep 0.5
    done
    [ "$ok" -eq 1 ] || fail "the namespaces cannot reach each other over the bridge"
fi

# UCX must see the veth as a TCP device inside a namespace.
if command -v ucx_info >/dev/null 2>&1; then
    ip netns exec "$PFX-b" env UCX_TLS=tcp ucx_info -d >"$TMPD/ucx_info.log" 2>&1
    grep -q 'Device: veth0' "$TMPD/ucx_info.log" ||
        fail "UCX does not list veth0 as a TCP device in $PFX-b"
    rm -f "$TMPD/ucx_info.log"
fi

# run_job NAME PROG ARGS...: a rendezvous in namespace a and one rank per
# namespace. Sets RC0..RC2 (the ranks' exit statuses), RDV_RC, and leaves the
# outputs in $TMPD/NAME.*.
run_job() {
    job=$1
    shift
    ip netns exec "$PFX-a" env DISTMEM_JOB_KEY="$PFX-$job" "$DISTMEM" rendezvous \
        --listen "$NET.1:0" -n "$N" >"$TMPD/$job.rdv.out" 2>"$TMPD/$job.rdv.err" &
    rdv=$!
    BG_PIDS="$BG_PIDS $rdv"
    wait_for "$TMPD/$job.rdv.out" '^listening on ' 30 || fail "$job: the rendezvous did not start"
    addr=$(sed -n 's/^listening on //p' "$TMPD/$job.rdv.out")
    case $addr in "$NET.1:"[0-9]*) ;; *) fail "$job: rendezvous address $addr" ;; esac
    pids=""
    r=0
    while [ "$r" -lt "$N" ]; do
        bounded 120 ip netns exec "$(ns_of $r)" env DISTMEM_RANK=$r DISTMEM_NRANKS=$N \
            DISTMEM_RDV="$addr" DISTMEM_BOOTSTRAP=rdv DISTMEM_JOB_KEY="$PFX-$job" \
            UCX_TLS=tcp UCX_NET_DEVICES=veth0 "$@" \
            >"$TMPD/$job.$r.out" 2>"$TMPD/$job.$r.err" &
        pids="$pids $!"
        BG_PIDS="$BG_PIDS $!"
        r=$((r + 1))
    done
    r=0
    for p in $pids; do
        wait "$p"
        eval "RC$r=\$?"
        r=$((r + 1))
    done
    # The rendezvous exits by itself: at once after the goodbyes, within
    # its linger (10 s) after a failure.
    bounded 60 sh -c "while kill -0 $rdv 2>/dev/null; do sleep 0.1; done" ||
        fail "$job: the rendezvous did not exit"
    wait "$rdv"
    RDV_RC=$?
}

job_ok() {
    [ "$RC0" -eq 0 ] && [ "$RC1" -eq 0 ] && [ "$RC2" -eq 0 ] ||
        fail "$1: ranks exited $RC0 $RC1 $RC2"
    [ "$RDV_RC" -eq 0 ] || fail "$1: the rendezvous exited $RDV_RC"
    rm -f "$TMPD/$1".*
}

# Bytes received on veth0 in namespace $1.
rx_bytes() { ip netns exec "$1" cat /sys/class/net/veth0/statistics/rx_bytes 2>/dev/null || echo 0; }

part_tp() {
    for mode in pingpong rma coll; do
        before=$(rx_bytes "$PFX-b")
        run_job "tp_$mode" "$TP" "$mode"
        for r in 0 1 2; do
            grep -q "^tp_check $mode: rank $r ok\$" "$TMPD/tp_$mode.$r.out" ||
                fail "tp_check $mode: rank $r did not report ok"
        done
        job_ok "tp_$mode"
        got=$(($(rx_bytes "$PFX-b") - before))
        # the rendezvous traffic alone is a few KiB; the data is far more
        [ "$got" -gt 65536 ] || fail "tp_check $mode: only $got bytes crossed veth0 of $PFX-b"
        echo "ok: tp_check $mode across 3 namespaces ($got bytes into $PFX-b)"
    done
}

part_api() {
    run_job api "$API" lifecycle
    for r in 0 1 2; do
        for round in 1; do
            grep -q "^api_check: rank $r of $N (round $round)\$" "$TMPD/api.$r.out" ||
                fail "api_check: rank $r round $round missing"
        done
        grep -q "^api_check lifecycle: rank $r ok\$" "$TMPD/api.$r.out" ||
            fail "api_check: rank $r did not report ok"
    done
    job_ok api
    echo "ok: api_check lifecycle across 3 namespaces"
}

part_kill() {
    start=$(now)
    run_job kill "$TP" kill
    took=$(($(now) - start))
    [ "$RC2" -eq 137 ] || fail "kill: rank 2 exited $RC2, expected 137 (SIGKILL)"
    [ "$took" -lt 110 ] || fail "kill: took $took s, the ranks were killed by the bound"
    for r in 0 1; do
        eval "rc=\$RC$r"
        [ "$rc" -eq 0 ] || fail "kill: survivor rank $r exited $rc"
        grep -q "^tp_check kill: rank $r saw DM_ERR_PEER_FAILED" "$TMPD/kill.$r.out" ||
            fail "kill: rank $r did not see DM_ERR_PEER_FAILED"
    done
    [ "$RDV_RC" -ne 0 ] || fail "kill: the rendezvous exited 0 although rank 2 was killed"
    [ "$RDV_RC" -lt 124 ] || fail "kill: the rendezvous was killed ($RDV_RC)"
    grep -q "rank 2 failed" "$TMPD/kill.rdv.err" || fail "kill: the rendezvous did not name rank 2"
    echo "ok: rank 2 killed: ranks 0 and 1 saw DM_ERR_PEER_FAILED, rendezvous exited $RDV_RC" \
         "($(sed -n 's/^distmem rendezvous: //p' "$TMPD/kill.rdv.err" | head -1)), $took s"
    rm -f "$TMPD"/kill.*
}

part_dsm() {
    for mode in counter drf; do
        before=$(rx_bytes "$PFX-b")
        start=$(now)
        run_job "dsm_$mode" "$DSM" "$mode"
        for r in 0 1 2; do
            grep -q "^dsm_check $mode: rank $r ok\$" "$TMPD/dsm_$mode.$r.out" ||
                fail "dsm_check $mode: rank $r did not report ok"
        done
        job_ok "dsm_$mode"
        got=$(($(rx_bytes "$PFX-b") - before))
        # pages of 4 KiB and lock hand-offs go back and forth many times
        [ "$got" -gt 65536 ] || fail "dsm_check $mode: only $got bytes crossed veth0 of $PFX-b"
        echo "ok: dsm_check $mode across 3 namespaces ($got bytes into $PFX-b," \
             "$(($(now) - start)) s)"
    done
}

"part_$PART"
