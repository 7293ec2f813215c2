#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the library and the thread tests with ThreadSanitizer and run them:
#   tests/tsan.sh [build-dir]   (default $MQR_TSAN_BUILD, else build-tsan)
set -eu
cd "$(dirname "$0")/.."
dir=${1:-${MQR_TSAN_BUILD:-build-tsan}}
cmake -S . -B "$dir" -DMQR_TSAN=ON -DCMAKE_BUILD_TYPE=Debug -DMQR_BUILD_EXAMPLES=OFF \
      -DMQR_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j2 --target test_rule_threads
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" "$dir/tests/unit/test_rule_threads" --jobs 1
