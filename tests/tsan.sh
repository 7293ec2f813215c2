#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the library with ThreadSanitizer and run the rule thread test:
#   tests/tsan.sh [build-dir]   (default $MQR_TSAN_BUILD, else build-tsan)
# Criterion does not run under TSan (Criterion issue #274), so
# tests/unit/test_rule_threads.c is compiled as a standalone program here.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-${MQR_TSAN_BUILD:-build-tsan}}
cc=${CC:-cc}
cmake -S . -B "$dir" -DMQR_TSAN=ON -DCMAKE_BUILD_TYPE=Debug -DMQR_BUILD_TESTS=OFF \
      -DMQR_BUILD_EXAMPLES=OFF -DMQR_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j2 --target mqttrule_static
extra=""
if grep -q "MQR_HAVE_OPENSSL 1" "$dir/generated/mqr_config.h" 2>/dev/null; then
  extra="-lssl -lcrypto"
fi
if grep -q "MQR_HAVE_ZLIB 1" "$dir/generated/mqr_config.h" 2>/dev/null; then
  extra="$extra -lz"
fi
$cc -std=c11 -D_POSIX_C_SOURCE=200809L -DMQR_RULE_THREADS_MAIN -fsanitize=thread -g \
    -Iinclude tests/unit/test_rule_threads.c "$dir/libmqttrule.a" $extra -lm -lpthread \
    -o "$dir/test_rule_threads"
TSAN_OPTIONS="halt_on_error=1" "$dir/test_rule_threads"
