#!/usr/bin/env bash
# Installs (as root) or lists the Debian 12 packages that building and testing
# mqttrule needs. Everything comes from Debian's archive and npm's registry.
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev libssl-dev
      libcriterion-dev valgrind python3 python3-pytest python3-paho-mqtt
      python3-venv python3-setuptools mosquitto mosquitto-clients openssl
      gnuplot-nox
      zlib1g-dev libsqlite3-dev sqlite3 libpq-dev postgresql librdkafka-dev kafkacat
      chromium python3-prometheus-client curl)
# Node.js and npm (for MQTT.js) may come from elsewhere; Debian's only if absent.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
install_mqttjs() { # MQTT.js for the interoperability tests, from the npm registry
  local dir
  dir="$(cd "$(dirname "$0")" && pwd)/integration/node"
  [ -d "$dir/node_modules/mqtt" ] && return 0
  echo "deps: npm install (MQTT.js) in $dir"
  # Not fatal: the broker and library need no npm; the MQTT.js tests report a
  # failed install themselves (and fail under CI).
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null) ||
    echo "deps: npm install of MQTT.js failed; the MQTT.js tests will say so" >&2
}
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} Debian packages present"
  install_mqttjs
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages; as root run:" >&2
  echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
install_mqttjs
