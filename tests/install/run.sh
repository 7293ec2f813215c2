#!/usr/bin/env bash
# Installs a build tree into a scratch prefix, then builds consumers against
# the installed copy only: examples/minimal/minimal.c with pkg-config and with
# a CMake project using find_package(mqttrule), and examples/host/host.c (the
# complete epoll host) with pkg-config, run against a Python HTTP service
# (host_check.py). All are run. Every installed program is run from the
# prefix, and the man pages, systemd unit, sample configuration and licence
# must be there.
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
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags mqttrule) \
   "$ROOT/examples/host/host.c" -o "$work/host" $(pkg-config --libs mqttrule)
LD_LIBRARY_PATH=$LIBDIR /usr/bin/python3 "$ROOT/tests/install/host_check.py" "$work/host"
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
         include/mqttrule/common.h include/mqttrule/rule.h include/mqttrule/engine.h \
         include/mqttrule/action.h include/mqttrule/topic.h include/mqttrule/auth.h; do
  [ -e "$PREFIX/$f" ] || { echo "install: $f missing" >&2; exit 1; }
done
# Every installed program runs from the prefix as it is (RPATH $ORIGIN/../lib,
# no LD_LIBRARY_PATH), and answers --version.
for prog in "$PREFIX"/bin/*; do
  out=$(env -u LD_LIBRARY_PATH "$prog" --version 2>&1) ||
    { echo "install: $prog --version failed: $out" >&2; exit 1; }
  case "$out" in
    *"$(basename "$prog")"*libmqttrule*) ;;
    *) echo "install: $prog --version printed '$out'" >&2; exit 1 ;;
  esac
  env -u LD_LIBRARY_PATH "$prog" --help >/dev/null 2>&1 ||
    [ "$(basename "$prog")" = mqttrule-packet ] ||
    { echo "install: $prog --help failed" >&2; exit 1; }
done
for p in mqttrule-broker mqttrule-sql mqttrule-packet mqttrule-bench; do
  [ -x "$PREFIX/bin/$p" ] || { echo "install: bin/$p missing" >&2; exit 1; }
done
# Man pages, the systemd unit, the sample configuration, the licence.
for f in share/man/man8/mqttrule-broker.8 share/man/man5/mqttrule.conf.5 \
         share/man/man1/mqttrule-sql.1 share/man/man1/mqttrule-packet.1 \
         share/man/man1/mqttrule-bench.1 lib/systemd/system/mqttrule-broker.service \
         share/mqttrule/mqttrule-broker.conf share/doc/mqttrule/LICENSE; do
  [ -s "$PREFIX/$f" ] || { echo "install: $f missing" >&2; exit 1; }
done
grep -q "^ExecStart=.*/bin/mqttrule-broker -c " "$PREFIX/lib/systemd/system/mqttrule-broker.service" ||
  { echo "install: the unit does not start the broker" >&2; exit 1; }
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify --man=no "$PREFIX/lib/systemd/system/mqttrule-broker.service" 2>&1 |
    grep -v "not executable\|No such file\|Failed to prepare filename\|Command .* is not" || true
fi
# The installed broker starts on the installed sample configuration.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PREFIX/bin/mqttrule-broker" -c "$PREFIX/share/mqttrule/mqttrule-broker.conf" -p "$port" \
  2>"$work/broker.log" &
bpid=$!
for _ in $(seq 100); do
  grep -q started "$work/broker.log" && break
  sleep 0.05
done
kill -TERM $bpid
wait $bpid || { echo "install: the installed broker failed:" >&2; cat "$work/broker.log" >&2; exit 1; }
grep -q started "$work/broker.log" || { echo "install: the installed broker did not start" >&2; exit 1; }
# Only mqr_* symbols are exported from the shared library, never an internal
# mqr__ one, and every function a header declares MQR_API is exported.
exported=$(nm -D --defined-only "$LIBDIR"/libmqttrule.so | awk '$2 ~ /[TDB]/ {print $3}')
bad=$(printf '%s\n' "$exported" | grep -v '^mqr_' | grep . || true)
bad="$bad$(printf '%s\n' "$exported" | grep '^mqr__' || true)"
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
  # a sink header's MQR_API functions live in the sink's own library
  exported="$exported
$(nm -D --defined-only "$LIBDIR/libmqttrule_$sink.so" | awk '$2 ~ /[TDB]/ {print $3}')"
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
# Core headers, plus the header of each sink whose library was built.
headers=$(ls "$PREFIX"/include/mqttrule/*.h | grep -v '/sink_[a-z]*\.h$')
for sink in sqlite pgsql kafka; do
  [ -e "$LIBDIR/libmqttrule_$sink.so" ] && headers="$headers $PREFIX/include/mqttrule/sink_$sink.h"
done
declared=$(grep -hv '^[[:space:]]*#' $headers | tr '\n' ' ' | grep -o 'MQR_API[^;{]*(' |
           sed -E 's/.*[^a-z0-9_](mqr_[a-z0-9_]+)[[:space:]]*\($/\1/' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported" | sort -u))
[ -z "$missing" ] || { echo "install: declared but not exported: $missing" >&2; exit 1; }
echo "install: pkg-config, static and find_package consumers, installed programs OK"
