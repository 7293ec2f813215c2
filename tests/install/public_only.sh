#!/usr/bin/env bash
# public_only.sh ROOT SRCDIR OBJ... - fails when a program is not a client
# of the public API only: an object file that references an internal mqr__
# symbol (nm), or a source under SRCDIR that includes a header of lib/.
# Run by ctest for the broker and examples/host (issue #13).
set -euo pipefail
ROOT=$1
SRC=$2
shift 2
fail=0
[ $# -gt 0 ] || { echo "public_only: no object files given" >&2; exit 1; }
for o in "$@"; do
  [ -f "$o" ] || { echo "public_only: $o: no such object file" >&2; exit 1; }
  bad=$(nm "$o" | awk '{print $NF}' | grep '^mqr__' | sort -u || true)
  if [ -n "$bad" ]; then
    echo "public_only: $(basename "$o") references internal symbols:" $bad >&2
    fail=1
  fi
done
# every #include "x" or <x> of the sources, as "file: header"
incs=$(grep -H -E '^[[:space:]]*#[[:space:]]*include' "$SRC"/*.c "$SRC"/*.h 2>/dev/null |
       sed -E 's/^([^:]*):[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^">]*)[">].*/\1 \2/' || true)
while read -r f h; do
  [ -n "${h:-}" ] || continue
  base=$(basename "$h")
  if [[ "$h" == */lib/* || "$h" == lib/* ]] ||
     { [ -e "$ROOT/lib/$base" ] && [ ! -e "$SRC/$h" ] && [[ "$h" != mqttrule* ]]; }; then
    echo "public_only: $f includes $h (a lib/ header)" >&2
    fail=1
  fi
done <<< "$incs"
[ $fail -eq 0 ] && echo "public_only: $SRC uses the public API only ($# objects)"
exit $fail
