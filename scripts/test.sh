#!/usr/bin/env bash
# The whole test suite: installs, builds, runs every test (each in its own
# process; multi-process tests start real processes over real UCX), then the
# unit and transport tests again under AddressSanitizer + UBSan.
# Ends with one line "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

summary() { # summary BUILDDIR -> "pass fail skip"
    python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
}

rc=0
meson test -C build --num-processes 1 --print-errorlogs || rc=1
read -r p1 f1 s1 < <(summary build)

# Sanitizer build: the same sources with ASan+UBSan, the unit tests and the
# multi-process transport and core tests (UCX's own allocations are not ours:
# tests/lsan.supp lists them).
if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
fi
ninja -C build-asan || rc=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
[ -f tests/lsan.supp ] && export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
meson test -C build-asan --num-processes 1 --print-errorlogs \
    --suite base --suite boot --suite tools --suite transport --suite core \
    --suite coherence --suite dsm --suite policy --suite store || rc=1
read -r p2 f2 s2 < <(summary build-asan)

echo "suite: $p1 passed, $f1 failed, $s1 skipped (build)"
echo "asan: $p2 passed, $f2 failed, $s2 skipped (build-asan)"
echo "$((p1 + p2)) passed, $((f1 + f2)) failed, $((s1 + s2)) skipped"
exit $rc
