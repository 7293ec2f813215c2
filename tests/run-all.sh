#!/usr/bin/env bash
# The test command: builds mqttrule several ways and runs every test.
#   1. gcc build with -Werror, unit tests (Criterion via ctest)
#   1b. gcc -O3 (Release) build with -Werror, compile only
#   1c. a libc-only build (every optional dependency off) and its unit tests
#   2. clang build with -Werror
#   3. AddressSanitizer + UndefinedBehaviorSanitizer build, unit tests again
#   4. install into a scratch prefix; build examples/minimal with pkg-config
#      and a find_package() consumer, and run them
#   5. golden and integration tests (pytest), against the plain and ASan builds
#   6. libFuzzer targets, each for MQR_FUZZ_SECONDS (default 20)
#   7. a valgrind memcheck pass over a subset, bounded by MQR_VALGRIND_SECONDS
# Build trees go to build-test/ (override with MQR_TEST_BUILD). Exits non-zero
# on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${MQR_TEST_BUILD:-$ROOT/build-test}
JOBS=${MQR_JOBS:-$(nproc)}
FUZZ_SECONDS=${MQR_FUZZ_SECONDS:-20}
VALGRIND_SECONDS=${MQR_VALGRIND_SECONDS:-120}
PYTHON=${MQR_PYTHON:-/usr/bin/python3}
mkdir -p "$OUT"

step() { printf '\n=== %s ===\n' "$*"; }

build() { # build DIR CC [cmake args...]
  local dir=$1 cc=$2; shift 2
  CC=$cc cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.cmake.log" 2>&1 \
    || { cat "$dir.cmake.log"; return 1; }
  cmake --build "$dir" -j "$JOBS" >"$dir.build.log" 2>&1 || { tail -60 "$dir.build.log"; return 1; }
}

step "1. gcc build and unit tests"
build "$OUT/gcc" gcc
(cd "$OUT/gcc" && ctest --output-on-failure -j "$JOBS")

step "1b. gcc Release (-O3) build, compile only"
# -O3 inlines more and so warns (-Werror) where -O2 does not.
build "$OUT/release" gcc -DCMAKE_BUILD_TYPE=Release
echo "release build OK"

step "1c. minimal build: libc only (no OpenSSL, zlib or sinks), unit tests"
# The core links libc only; every optional part must be optional.
build "$OUT/minimal" gcc -DMQR_WITH_OPENSSL=OFF -DMQR_WITH_ZLIB=OFF -DMQR_WITH_SQLITE=OFF \
  -DMQR_WITH_PGSQL=OFF -DMQR_WITH_KAFKA=OFF
grep "optional parts" "$OUT/minimal.cmake.log" || true
(cd "$OUT/minimal" && ctest --output-on-failure -j "$JOBS")

step "2. clang build"
build "$OUT/clang" clang
(cd "$OUT/clang" && ctest --output-on-failure -j "$JOBS")

step "3. ASan + UBSan build and unit tests"
build "$OUT/asan" gcc -DMQR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd "$OUT/asan" && ctest --output-on-failure -j "$JOBS")

step "4. install tree, pkg-config and find_package consumers"
bash "$ROOT/tests/install/run.sh" "$OUT/gcc" "$OUT/install"

step "5. golden and integration tests (pytest)"
if compgen -G "$ROOT/tests/integration/test_*.py" >/dev/null || compgen -G "$ROOT/bindings/python/tests/test_*.py" >/dev/null; then
  # Each suite runs in its own pytest process: both have a conftest.py.
  for variant in gcc asan; do
    for suite in "$ROOT/tests/integration" "$ROOT/bindings/python/tests"; do
      compgen -G "$suite/test_*.py" >/dev/null || continue
      echo "-- pytest $(basename "$(dirname "$suite")")/$(basename "$suite") against the $variant build"
      set +e
      # CPython itself "leaks" at exit, so LeakSanitizer is off wherever the
      # library is loaded into Python (the bindings suite); the C programs the
      # integration suite starts keep it on.
      asan_opts=$ASAN_OPTIONS
      case $suite in */bindings/*) asan_opts="detect_leaks=0:abort_on_error=1" ;; esac
      ASAN_OPTIONS=$asan_opts MQR_BUILD_DIR="$OUT/$variant" "$PYTHON" -m pytest -q -p no:cacheprovider "$suite"
      rc=$?
      set -e
      [ $rc -eq 0 ] || [ $rc -eq 5 ] || exit $rc
    done
  done
else
  echo "no pytest suites yet"
fi

step "6. libFuzzer targets, ${FUZZ_SECONDS}s each"
if compgen -G "$ROOT/tests/fuzz/fuzz_*.c" >/dev/null; then
  build "$OUT/fuzz" clang -DMQR_FUZZ=ON
  bash "$ROOT/tests/fuzz/run.sh" "$OUT/fuzz" "$FUZZ_SECONDS"
else
  echo "no fuzz targets yet"
fi

step "6b. ThreadSanitizer"
if [ -x "$ROOT/tests/tsan.sh" ]; then
  MQR_TSAN_BUILD="$OUT/tsan" bash "$ROOT/tests/tsan.sh"
else
  echo "no ThreadSanitizer suite yet"
fi

step "7. valgrind memcheck subset, ${VALGRIND_SECONDS}s budget"
bash "$ROOT/tests/valgrind.sh" "$OUT/gcc" "$VALGRIND_SECONDS"

step "all tests passed"
