#!/usr/bin/env bash
# Installs the Debian 12 packages Tollgate needs, only those missing, and builds build/tollgate.
#   deploy/setup.sh            build dependencies, then build
#   deploy/setup.sh --tests    also what the test suite uses (doctest, python3, promtool,
#                              chromium, etcd for the global budgets' tests, node and the e2e
#                              test's playwright-core from npm)
#   deploy/setup.sh --bench    as --tests, and what the benchmarks and their profiles use (wrk,
#                              perf, heaptrack; bench/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(g++ cmake make ccache pkg-config tzdata ca-certificates
            libboost1.81-dev libboost-json1.81-dev libsqlite3-dev libspdlog-dev libyaml-cpp-dev
            libssl-dev libsystemd-dev libhowardhinnant-date-dev libcli11-dev)
test_pkgs=(doctest-dev python3 python3-yaml sqlite3 prometheus curl chromium clang nginx-light
           etcd-server)
bench_pkgs=(wrk linux-perf heaptrack)

if [[ "${1:-}" == "--bench" ]]; then
  test_pkgs+=("${bench_pkgs[@]}")
  set -- --tests
fi

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--tests" ]]; then
  want+=("${test_pkgs[@]}")
  # Node for the browser test: Debian's, unless a node is already installed (e.g. NodeSource's,
  # which brings its own npm).
  command -v node >/dev/null || want+=(nodejs)
  command -v npm >/dev/null || want+=(npm)
fi

missing=()
# The deployment test asks apt-cache about the Docker image's packages: it needs package lists.
if [[ "${1:-}" == "--tests" ]] && ! compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null; then
  missing+=(--update-lists)
fi
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  missing=("${missing[@]/--update-lists}")
  if [[ -n "${missing[*]// }" ]]; then
    echo "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends ${missing[*]}
  fi
fi

# Tests and benchmarks are built (so they never rot) only when the test packages are there.
with_tests=OFF
[[ "${1:-}" == "--tests" ]] && with_tests=ON
# Warnings are errors for the project's own test runs (CI), never for a user's plain build.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOLLGATE_TESTS=$with_tests \
  -DTOLLGATE_BENCH=$with_tests -DTOLLGATE_WERROR=$with_tests >/dev/null
cmake --build build -j "$(nproc)"

if [[ "${1:-}" == "--tests" ]]; then
  # tests/e2e: playwright-core only (it downloads no browser; the test drives Debian's
  # /usr/bin/chromium). tests/otel: the OpenTelemetry JS SDK and its OTLP exporters.
  for dir in tests/e2e tests/otel; do
    for attempt in 1 2 3; do  # a registry hiccup should not fail the suite
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) && break
      [[ $attempt == 3 ]] && exit 1
      sleep 5
    done
  done
fi
