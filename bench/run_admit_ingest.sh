#!/usr/bin/env bash
# Admission under full-speed ingest (by hand, not in CI): the daemon with 100 budgets (2 I/O
# threads), GET /v1/admit from wrk (one thread, 16 connections) first alone, then while
# NDJSON batches of 1,000 company-shaped events (event_rows.h: 50 features, 7 teams, 1,000
# customers, two tags) arrive as fast as the daemon takes them over 4 connections. Prints both
# runs' p99 and their ratio, and the ingest rate. On a 2-core machine the load generators
# share the cores with the daemon: the p99 includes their run-queue waits (perf sched latency).
#   bench/run_admit_ingest.sh [DURATION_S=10]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
command -v wrk >/dev/null || { echo "needs: apt-get install wrk" >&2; exit 1; }
cmake --build build -j "$(nproc)" --target tollgate ingest_load >/dev/null
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/load_lib.sh
{
  echo "budgets:"
  for i in $(seq 0 99); do
    echo "  - name: b$i"
    echo "    match: {feature: [$(seq -s, -f "f%g" $((i * 10)) $((i * 10 + 9))), support-chat, search]}"
    echo "    limit: 1000000"
    echo "    rules:"
    echo "      - {at_percent: 100, action: block, priorities: [batch]}"
    echo "      - {burn_rate: {long: 1h, short: 5m, factor: 14.4}, action: block, priorities: [batch]}"
  done
} > "$work/policies.yaml"
write_config
start_daemon
build/bench/ingest_load 127.0.0.1 "$port" 100000 4 1000 "warm-$run_id-" company >/dev/null
read -r alone_rps alone_p99 < <(wrk_for "$DUR" bench/admit.lua)
# Enough events to outlast wrk at any speed this machine reaches; stopped once wrk is done.
build/bench/ingest_load 127.0.0.1 "$port" 100000000 4 1000 "run-$run_id-" company >/dev/null &
load=$!
sleep 1
before=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^tollgate_ingest_events_total\{result="accepted"\}/ {s += $2} END {print s}')
t0=$(date +%s.%N)
read -r busy_rps busy_p99 < <(wrk_for "$DUR" bench/admit.lua)
t1=$(date +%s.%N)
after=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^tollgate_ingest_events_total\{result="accepted"\}/ {s += $2} END {print s}')
kill $load 2>/dev/null; wait $load 2>/dev/null || true
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) print v / 1000; else if (v ~ /ms$/) print v + 0; else print v * 1000 }'; }
echo "admission alone:        $alone_rps req/s, p99 $alone_p99"
echo "admission during ingest: $busy_rps req/s, p99 $busy_p99"
awk -v a="$after" -v b="$before" -v t0="$t0" -v t1="$t1" \
  'BEGIN { printf "ingest meanwhile: %.0f events/s (company shape, 4 connections)\n", (a - b) / (t1 - t0) }'
awk -v p="$(to_ms "$busy_p99")" -v q="$(to_ms "$alone_p99")" \
  'BEGIN { printf "p99 during ingest: %.2f ms (target <= 2 ms), %.1fx the p99 alone\n", p, p / q }'
