#!/usr/bin/env bash
# Runs every libFuzzer target in a fuzz build for SECONDS each, starting from
# tests/fuzz/corpus/<target>/ (seeds) and keeping crashes in tests/fuzz/crashes/.
# For long runs: tests/fuzz/run.sh build-fuzz 3600
set -euo pipefail
BUILD=$1
SECONDS_EACH=${2:-20}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$ROOT/tests/fuzz/crashes"
for f in "$BUILD"/tests/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  seeds="$ROOT/tests/fuzz/corpus/$name"
  work=$(mktemp -d)
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${SECONDS_EACH}s"
  # Regression inputs first: every file kept from earlier crashes must pass.
  if compgen -G "$ROOT/tests/fuzz/regressions/$name/*" >/dev/null; then
    "$f" "$ROOT"/tests/fuzz/regressions/"$name"/* >/dev/null 2>&1 || { echo "fuzz: $name regression failed"; exit 1; }
  fi
  "$f" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$ROOT/tests/fuzz/crashes/$name-" "$work" 2>"$work.log" || {
         tail -50 "$work.log"; rm -rf "$work"; exit 1; }
  grep -E '^Done|#[0-9]+ *DONE' "$work.log" | tail -1 || true
  rm -rf "$work" "$work.log"
done
