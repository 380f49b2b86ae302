#!/usr/bin/env bash
# Memory benchmark (by hand, not in CI): the daemon's RSS while it takes EVENTS events of the
# company shape spread over 10,000 features (1,000 customers, two tags), with 100 budgets over
# those features, then EVENTS more: the RSS after each million, and its peak. Target (issue
# "Ingest at the raw-SQLite floor"): <= 150 MB after 10 million and flat over 10 million more.
#   bench/run_memory.sh [EVENTS=10000000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000000}
cmake --build build -j "$(nproc)" --target tollgate ingest_load >/dev/null
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cp deploy/examples/prices.yaml "$work/"
cat > "$work/tollgate.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 2}
storage: {path: ledger.db, synchronous: normal, commit_interval_ms: 5}
reporting: {currency: USD, fx: {CNY: {rate: 0.1389}}}
prices_file: prices.yaml
policies_file: policies.yaml
YAML
. bench/load_lib.sh
write_wide_policies
start_daemon
step=1000000
done_n=0
while [ "$done_n" -lt $((2 * N)) ]; do
  n=$(( step < 2 * N - done_n ? step : 2 * N - done_n ))
  build/bench/ingest_load 127.0.0.1 "$port" "$n" 8 1000 "m$done_n-" wide >/dev/null
  done_n=$((done_n + n))
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  printf "after %9d events: RSS %.1f MiB\n" "$done_n" "$(echo "$rss / 1024" | bc -l)"
done
printf "peak RSS (VmHWM): %.1f MiB\n" "$(echo "$(awk '/VmHWM/ {print $2}' /proc/$pid/status) / 1024" | bc -l)"
