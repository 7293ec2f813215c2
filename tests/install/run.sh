#!/usr/bin/env bash
# Installs a build tree into a scratch prefix, then builds two consumers
# against the installed copy only: examples/minimal/minimal.c with pkg-config,
# and a CMake project using find_package(mqttrule). Both are run.
set -euo pipefail
BUILD=$1
PREFIX=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
LIBDIR=$(dirname "$(find "$PREFIX" -name mqttrule.pc | head -1)")/..
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags mqttrule) \
   "$ROOT/examples/minimal/minimal.c" -o "$work/minimal" $(pkg-config --libs mqttrule)
expect='{"clientid":"conn","username":"u_emqx","reason_code":"success","timestamp":1645003578856}'
check() { # check NAME OUTPUT
  [ "$2" = "$expect" ] || { echo "install: $1 printed '$2', expected '$expect'" >&2; exit 1; }
}
check "pkg-config consumer" "$(LD_LIBRARY_PATH=$LIBDIR "$work/minimal")"
cc -std=c11 -Wall -Werror $(pkg-config --cflags mqttrule) \
   "$ROOT/examples/minimal/minimal.c" -o "$work/minimal-static" \
   "$LIBDIR/libmqttrule.a" $(pkg-config --libs-only-l --static mqttrule | sed 's/-lmqttrule//')
check "static consumer" "$("$work/minimal-static")"
mkdir -p "$work/cm"
cat > "$work/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(mqttrule REQUIRED)
add_executable(consumer $ROOT/examples/minimal/minimal.c)
target_link_libraries(consumer PRIVATE mqttrule::mqttrule)
add_executable(consumer_static $ROOT/examples/minimal/minimal.c)
target_link_libraries(consumer_static PRIVATE mqttrule::mqttrule_static)
CM
cmake -S "$work/cm" -B "$work/cm/build" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
cmake --build "$work/cm/build" >/dev/null
check "find_package consumer" "$(LD_LIBRARY_PATH=$LIBDIR "$work/cm/build/consumer")"
check "find_package static consumer" "$("$work/cm/build/consumer_static")"
for f in bin/mqttrule-packet bin/mqttrule-sql bin/mqttrule-broker include/mqttrule.h \
         include/mqttrule/common.h include/mqttrule/rule.h include/mqttrule/engine.h; do
  [ -e "$PREFIX/$f" ] || { echo "install: $f missing" >&2; exit 1; }
done
# Only mqr_* symbols are exported from the shared library.
bad=$(nm -D --defined-only "$LIBDIR"/libmqttrule.so | awk '$2 ~ /[TDB]/ {print $3}' | grep -v '^mqr_' || true)
[ -z "$bad" ] || { echo "install: unexpected exported symbols: $bad" >&2; exit 1; }
# The optional sinks that were built: headers, pkg-config modules, CMake
# components, and only mqr_* symbols exported.
for sink in sqlite pgsql kafka; do
  [ -e "$LIBDIR/libmqttrule_$sink.so" ] || continue
  for f in include/mqttrule/sink_$sink.h include/mqttrule/sink.h; do
    [ -e "$PREFIX/$f" ] || { echo "install: $f missing" >&2; exit 1; }
  done
  pkg-config --exists "mqttrule-$sink" || { echo "install: mqttrule-$sink.pc missing" >&2; exit 1; }
  bad=$(nm -D --defined-only "$LIBDIR/libmqttrule_$sink.so" | awk '$2 ~ /[TDB]/ {print $3}' |
        grep -v '^mqr_' || true)
  [ -z "$bad" ] || { echo "install: libmqttrule_$sink exports: $bad" >&2; exit 1; }
done
if [ -e "$LIBDIR/libmqttrule_sqlite.so" ]; then
  cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags mqttrule-sqlite) \
     "$ROOT/tests/install/sink_consumer.c" -o "$work/sink" $(pkg-config --libs mqttrule-sqlite)
  out=$(LD_LIBRARY_PATH=$LIBDIR "$work/sink" "$work/sink.db")
  case "$out" in "sink ok"*) ;; *) echo "install: sqlite sink consumer: $out" >&2; exit 1;; esac
  mkdir -p "$work/cs"
  cat > "$work/cs/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(sink_consumer C)
find_package(mqttrule REQUIRED COMPONENTS sqlite)
add_executable(sink $ROOT/tests/install/sink_consumer.c)
target_link_libraries(sink PRIVATE mqttrule::sqlite)
CM
  cmake -S "$work/cs" -B "$work/cs/build" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
  cmake --build "$work/cs/build" >/dev/null
  out=$(LD_LIBRARY_PATH=$LIBDIR "$work/cs/build/sink" "$work/sink2.db")
  case "$out" in "sink ok"*) ;; *) echo "install: sqlite component consumer: $out" >&2; exit 1;; esac
  echo "install: sink pkg-config and CMake component consumers OK"
fi
echo "install: pkg-config, static and find_package consumers OK"
