#!/usr/bin/env bash
# Runs a subset of the unit tests under valgrind memcheck within a time budget
# (seconds), most valuable first (MQR_VALGRIND_TESTS overrides the list).
# valgrind follows Criterion's worker processes (--trace-children).
set -euo pipefail
BUILD=$1
BUDGET=${2:-120}
deadline=$(( $(date +%s) + BUDGET ))
# The most valuable first: the allocation-failure and leak tests of the rule
# compiler and evaluator, the engine, JSON and HTTP, then the decoders of
# untrusted input; the rest follow while the budget lasts.
FIRST="test_rule_alloc test_engine test_json test_http test_packet test_rule_eval test_template
       test_value test_event test_rule_parse test_regex"
order() {
  for n in $FIRST; do [ -x "$BUILD/tests/unit/$n" ] && echo "$BUILD/tests/unit/$n"; done
  for t in "$BUILD"/tests/unit/test_*; do
    case " $(echo $FIRST) " in *" $(basename "$t") "*) ;; *) echo "$t" ;; esac
  done
}
# First a few broker tests with the broker under valgrind (MQR_BROKER_WRAPPER,
# tests/integration/broker_util.py): untrusted bytes, a QoS 2 flow cut by a
# killed client, an HTTP server answering garbage, the limits.
BROKER_TESTS="test_faults.py::test_client_killed_mid_qos2_flow
  test_faults.py::test_http_server_down_slow_or_garbage[garbage]
  test_broker_wire.py::test_random_bytes_never_break_the_broker
  test_broker_limits.py::test_max_subscriptions_per_client
  test_broker_limits.py::test_topic_levels_limit"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${MQR_VALGRIND_TESTS:-}" ] && [ -x "$BUILD/examples/broker/mqttrule-broker" ]; then
  echo "valgrind: mqttrule-broker under a few integration tests"
  args=()
  for t in $BROKER_TESTS; do args+=("$ROOT/tests/integration/$t"); done
  rc=0
  MQR_BUILD_DIR=$BUILD MQR_BROKER_WRAPPER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite" \
    timeout $(( BUDGET / 3 )) /usr/bin/python3 -m pytest -q -p no:cacheprovider "${args[@]}" || rc=$?
  if [ $rc -eq 124 ]; then
    echo "valgrind: the broker tests' share of the budget ran out (no report so far)"
  elif [ $rc -ne 0 ]; then
    echo "valgrind: the broker tests failed (a report in the broker's log fails them)"; exit 1
  fi
fi
for t in ${MQR_VALGRIND_TESTS:-$(order)}; do
  [ -x "$t" ] || continue
  left=$(( deadline - $(date +%s) ))
  if [ $left -le 5 ]; then echo "valgrind: budget spent, stopping before $(basename "$t")"; break; fi
  echo "valgrind: $(basename "$t")"
  # Criterion's workers do not pass valgrind's exit status up, so every
  # process's ERROR SUMMARY is read from the log instead.
  log=$(mktemp)
  rc=0
  timeout "$left" valgrind --trace-children=yes --leak-check=full --errors-for-leak-kinds=definite \
     "$t" --jobs 1 >"$log" 2>&1 || rc=$?
  if grep -qE 'ERROR SUMMARY: [1-9]' "$log"; then
    grep -E '^==[0-9]+== ' "$log" | grep -vE 'Memcheck|Copyright|Using Valgrind|Command:|^==[0-9]+== $' | head -60
    echo "valgrind: errors in $(basename "$t")"; rm -f "$log"; exit 1
  fi
  rm -f "$log"
  if [ $rc -eq 124 ]; then echo "valgrind: budget reached inside $(basename "$t")"; break; fi
  [ $rc -eq 0 ] || { echo "valgrind: $(basename "$t") failed with status $rc"; exit 1; }
done
echo "valgrind: no memory errors in the tests that ran"
