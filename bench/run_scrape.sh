#!/usr/bin/env bash
# Scrape benchmark (by hand, not in CI): GET /metrics with at least 10,000 user-labelled series
# (EVENTS events of the company shape over 10,000 features fill tollgate_cost_total,
# _tokens_total and _requests_total up to metrics.max_series = 10,000 each), timed with curl:
# on an idle daemon, then during full-speed ingest; and ingest's rate without and with a scrape
# every 100 ms beside it. Target (issue "Ingest at the raw-SQLite floor"): <= 50 ms, and no
# stall of ingest.
#   bench/run_scrape.sh [EVENTS=200000] [SCRAPES=50]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
S=${2:-50}
cmake --build build -j "$(nproc)" --target tollgate ingest_load >/dev/null
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cp deploy/examples/prices.yaml "$work/"
cat > "$work/tollgate.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 2}
storage: {path: ledger.db, synchronous: normal, commit_interval_ms: 5}
reporting: {currency: USD, fx: {CNY: {rate: 0.1389}}}
prices_file: prices.yaml
YAML
. bench/load_lib.sh
start_daemon
build/bench/ingest_load 127.0.0.1 "$port" "$N" 8 1000 "fill-" wide >/dev/null
curl -s "http://127.0.0.1:$port/metrics" > "$work/metrics.txt"
series=$(grep -vc '^#' "$work/metrics.txt")
bytes=$(stat -c %s "$work/metrics.txt")
# scrape_times COUNT: COUNT scrapes one after another; prints "p50 p99 max" in ms.
scrape_times() {
  for _ in $(seq "$1"); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/metrics"
  done | sort -n | awk '{ t[NR] = $1 * 1000 } END {
    printf "%.1f %.1f %.1f", t[int(NR * 0.5 + 0.5)], t[int(NR * 0.99 + 0.5)], t[NR] }'
}
idle=$(scrape_times "$S")
alone=$(build/bench/ingest_load 127.0.0.1 "$port" "$N" 8 1000 "alone-" company)
build/bench/ingest_load 127.0.0.1 "$port" "$((N * 4))" 8 1000 "busy-" company > "$work/busy.txt" &
loader=$!
sleep 0.5
busy=$(scrape_times "$S")
wait $loader
( while :; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; sleep 0.1; done ) &
scraper=$!
beside=$(build/bench/ingest_load 127.0.0.1 "$port" "$N" 8 1000 "beside-" company)
kill $scraper
echo "/metrics: $series series, $bytes bytes"
echo "scrape idle (ms):        p50/p99/max $idle"
echo "scrape during ingest:    p50/p99/max $busy (target <= 50 ms)"
echo "ingest alone:            $alone"
echo "ingest, scraped at 10/s: $beside"
