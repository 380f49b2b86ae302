#!/usr/bin/env bash
# Reload benchmark (by hand, not in CI): a ledger of 10 million events (the last 6 hours, written
# straight into SQLite by build/bench/make_ledger), 100 budgets, ingest (4 connections) and GET
# admissions (wrk) together for DURATION_S, without reloads, then with the policies reloaded every
# second, then without again (each reload changes every budget's match, so every budget is rebuilt).
# Prints ingest throughput and admission p99 of both runs and their ratios. LEDGER: a ledger made
# by an earlier `build/bench/make_ledger LEDGER EVENTS` to run on (in place) instead of a new one.
#   bench/run_reload.sh [DURATION_S=20] [EVENTS=10000000] [LEDGER]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-20}
EVENTS=${2:-10000000}
LEDGER=${3:-}
command -v wrk >/dev/null || { echo "needs: apt-get install wrk" >&2; exit 1; }
cmake --build build -j 2 --target tollgate ingest_load make_ledger >/dev/null
work=$(mktemp -d)
reloader=""
trap 'kill $reloader $pid 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/load_lib.sh

if [ -n "$LEDGER" ]; then ln -s "$(realpath "$LEDGER")" "$work/ledger.db"
else build/bench/make_ledger "$work/ledger.db" "$EVENTS" 6; fi
# Two shapes of 100 budgets over the benchmark's features: each reload swaps them.
policies() {
  echo "budgets:"
  for i in $(seq 0 99); do
    feats=$(seq -s, -f "f%g" $((i * 10)) $((i * 10 + 9)))
    echo "  - name: b$i"
    echo "    match: {feature: [$feats, support-chat, search, summarize, batch-embed$1]}"
    echo "    period: $([ $((i % 2)) = 0 ] && echo month || echo day)"
    echo "    limit: 1000000"
    echo "    rules:"
    echo "      - {at_percent: 80, action: alert}"
    echo "      - {at_percent: 100, action: block, priorities: [batch]}"
    echo "      - {burn_rate: {long: 1h, short: 5m, factor: 14.4}, action: block, priorities: [batch]}"
  done
}
policies "" > "$work/a.yaml"
policies ", extra-$RANDOM" > "$work/b.yaml"
cp "$work/a.yaml" "$work/policies.yaml"
write_config
t0=$(date +%s.%N)
start_daemon
echo "startup on the ledger: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f s", b - a }')"

run() {  # run PREFIX: prints "INGEST_EVENTS_PER_S ADMIT_REQ_PER_S ADMIT_P99"
  ingest_for "$DUR" "$1" > "$work/ingest" &
  local ing=$!
  local w
  w=$(wrk_for "$DUR" bench/admit.lua)
  wait $ing
  echo "$(cat "$work/ingest") $w"
}
# Without reloads before and after the run with them, compared with the mean of the two: the
# ledger warms and grows over the runs, which would otherwise favour whichever run comes later.
read -r ia aa pa < <(run quiet)
(n=0; while true; do
   cp "$work/$([ $((n % 2)) = 0 ] && echo b || echo a).yaml" "$work/policies.yaml"
   curl -s -o /dev/null -X POST "http://127.0.0.1:$port/-/reload"; n=$((n + 1)); sleep 1
 done) &
reloader=$!
read -r i1 a1 p1 < <(run reload)
kill $reloader; reloader=""
reloads=$(grep -c "policies reloaded" "$work/log" || true)
read -r ib ab pb < <(run quiet2)
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) print v / 1000; else if (v ~ /ms$/) print v + 0; else print v * 1000 }'; }
echo "without reloads, before: ingest $ia events/s, admission $aa req/s, p99 $pa"
echo "without reloads, after:  ingest $ib events/s, admission $ab req/s, p99 $pb"
i0=$(awk -v a="$ia" -v b="$ib" 'BEGIN { printf "%.0f", (a + b) / 2 }')
a0=$(awk -v a="$aa" -v b="$ab" 'BEGIN { printf "%.2f", (a + b) / 2 }')
p0=$(awk -v a="$(to_ms "$pa")" -v b="$(to_ms "$pb")" 'BEGIN { printf "%.2fms", (a + b) / 2 }')
echo "without reloads (mean):  ingest $i0 events/s, admission $a0 req/s, p99 $p0"
echo "with reloads:    ingest $i1 events/s, admission $a1 req/s, p99 $p1 ($reloads reloads)"
awk -v a="$i1" -v b="$i0" -v p="$(to_ms "$p1")" -v q="$(to_ms "$p0")" \
  'BEGIN { printf "ingest ratio (reloads/none): %.2f (target >= 0.9)   admission p99 ratio: %.2f (target <= 2)\n", a / b, p / q }'
