#!/usr/bin/env bash
# Runs a subset of the unit tests under valgrind memcheck within a time budget
# (seconds). Criterion's own forking is turned off so valgrind sees the tests.
set -euo pipefail
BUILD=$1
BUDGET=${2:-120}
deadline=$(( $(date +%s) + BUDGET ))
for t in "$BUILD"/tests/unit/test_*; do
  [ -x "$t" ] || continue
  left=$(( deadline - $(date +%s) ))
  if [ $left -le 5 ]; then echo "valgrind: budget spent, stopping before $(basename "$t")"; break; fi
  echo "valgrind: $(basename "$t")"
  timeout "$left" valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
     "$t" --no-fork --jobs 1 >/tmp/mqr-valgrind.log 2>&1 || {
       rc=$?; if [ $rc -eq 124 ]; then echo "valgrind: budget reached inside $(basename "$t")"; break; fi
       tail -40 /tmp/mqr-valgrind.log; exit $rc; }
done
echo "valgrind: clean"
