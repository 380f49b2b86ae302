#!/usr/bin/env bash
# Installs the Debian 12 packages Tollgate needs, only those missing, and builds build/tollgate.
#   deploy/setup.sh            build dependencies, then build
#   deploy/setup.sh --tests    also what the test suite uses (doctest, python3, promtool)
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(g++ cmake make ccache pkg-config tzdata ca-certificates
            libboost1.81-dev libboost-json1.81-dev libsqlite3-dev libspdlog-dev libyaml-cpp-dev
            libssl-dev)
test_pkgs=(doctest-dev python3 sqlite3 prometheus curl)

want=("${build_pkgs[@]}")
[[ "${1:-}" == "--tests" ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
