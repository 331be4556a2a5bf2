#!/bin/sh
# `distmem` argument handling: usage errors exit 2, help/version/config work.
. "$(dirname "$0")/lib.sh"

expect_rc() {
    want=$1
    shift
    bounded 20 "$@" >"$TMPD/cmd.out" 2>"$TMPD/cmd.err"
    got=$?
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want"
}

expect_rc 2 "$DISTMEM"
expect_rc 2 "$DISTMEM" frobnicate
expect_rc 2 "$DISTMEM" run
grep -q "usage\|--help" "$TMPD/cmd.err" || fail "no usage hint"
expect_rc 2 "$DISTMEM" run -n 2
expect_rc 2 "$DISTMEM" run -n 0 -- true
expect_rc 2 "$DISTMEM" run -n abc -- true
expect_rc 2 "$DISTMEM" run --bogus -n 1 -- true
expect_rc 2 "$DISTMEM" run -n 1 --timeout soon -- true
expect_rc 2 "$DISTMEM" run -n 1 --grace -1s -- true
expect_rc 2 "$DISTMEM" run -n 1 --rdv nocolon -- true
expect_rc 2 "$DISTMEM" run -n 2 --first-rank 1 -- true
expect_rc 2 "$DISTMEM" run -n 2 --nranks 1 --rdv 127.0.0.1:0 -- true
expect_rc 2 "$DISTMEM" rendezvous
expect_rc 2 "$DISTMEM" rendezvous --listen 127.0.0.1:0
expect_rc 2 "$DISTMEM" rendezvous --listen nocolon -n 2
expect_rc 127 "$DISTMEM" run -n 1 -- /nonexistent/program
grep -q "/nonexistent/program" "$TMPD/cmd.err" || fail "missing program not named"
expect_rc 127 "$DISTMEM" run -n 1 -- no-such-command-anywhere
expect_rc 0 "$DISTMEM" help
grep -q "rendezvous" "$TMPD/cmd.out" || fail "help lacks the commands"
expect_rc 0 "$DISTMEM" --help
expect_rc 0 "$DISTMEM" run --help
expect_rc 0 "$DISTMEM" version
grep -q "^distmem [0-9]" "$TMPD/cmd.out" || fail "version output"
expect_rc 0 "$DISTMEM" config
grep -q "^DISTMEM_BOOT_TIMEOUT=30s" "$TMPD/cmd.out" || fail "config lacks DISTMEM_BOOT_TIMEOUT"
DISTMEM_BOOT_TIMEOUT=5s expect_rc 0 "$DISTMEM" config
grep -q "^DISTMEM_BOOT_TIMEOUT=5s" "$TMPD/cmd.out" || fail "config does not show the value set"
DISTMEM_BOGUS=1 expect_rc 1 "$DISTMEM" config
grep -q "DISTMEM_BOGUS" "$TMPD/cmd.err" || fail "unknown variable not named"
DISTMEM_BOGUS=1 expect_rc 1 "$DISTMEM" run -n 1 -- true
echo "ok"
