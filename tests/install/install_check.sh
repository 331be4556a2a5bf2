#!/bin/sh
# `meson install` into a fresh prefix gives bin/distmem, lib/libdistmem.so,
# include/distmem.h and a pkg-config file with which a user's program builds
# (cc app.c $(pkg-config --cflags --libs distmem)) and runs under the
# installed launcher.
. "$(dirname "$0")/../tools/lib.sh"
BUILD=${DM_TEST_BUILD_ROOT:?}
SRC=${DM_TEST_SOURCE_ROOT:?}
DEST=$TMPD/root
PREFIX=$(meson introspect --buildoptions "$BUILD" | python3 -c \
    'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
meson install -C "$BUILD" --destdir "$DEST" --no-rebuild --quiet >"$TMPD/install.out" 2>&1 ||
    fail "meson install failed"
ROOT=$DEST$PREFIX
[ -x "$ROOT/bin/distmem" ] || fail "bin/distmem missing"
[ -f "$ROOT/include/distmem.h" ] || fail "include/distmem.h missing"
LIB=$(find "$ROOT" -name 'libdistmem.so' | head -n 1)
[ -n "$LIB" ] || fail "libdistmem.so missing"
PC=$(find "$ROOT" -name distmem.pc | head -n 1)
[ -n "$PC" ] || fail "distmem.pc missing"
# The .pc names the configured prefix; point pkg-config at the staged copy.
export PKG_CONFIG_PATH=$(dirname "$PC")
export PKG_CONFIG_SYSROOT_DIR=$DEST
cc -std=c11 -Wall -Werror "$SRC/examples/hello.c" $(pkg-config --cflags --libs distmem) \
    -o "$TMPD/hello" 2>"$TMPD/cc.err" || fail "a user program does not build with pkg-config"
LD_LIBRARY_PATH=$(dirname "$LIB") bounded 60 "$ROOT/bin/distmem" run -n 3 -- "$TMPD/hello" \
    >"$TMPD/hello.out" 2>&1 || fail "the installed launcher and library do not run a job"
[ "$(grep -c 'is up$' "$TMPD/hello.out")" -eq 3 ] || fail "expected 3 ranks up"
# Only the public API is exported.
if nm -D --defined-only "$LIB" | awk '{print $3}' | grep -v '^dm_' | grep -qv '^_'; then
    fail "libdistmem.so exports non-dm_ symbols: $(nm -D --defined-only "$LIB" | awk '{print $3}' | grep -v '^dm_' | head)"
fi
nm -D --defined-only "$LIB" | awk '{print $3}' | grep -q '^dm_tp_' && fail "internal dm_tp_ symbols are exported"
echo "ok: installed tree builds and runs a user program"
