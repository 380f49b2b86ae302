#!/usr/bin/env bash
# Startup benchmark (by hand, not in CI): how long after `tollgate serve` starts /readyz answers
# 200, on a ledger of EVENTS events (build/bench/make_ledger: written as schema 9, migrated to the
# current schema, spread over the last 6 hours) with a monthly budget and a burn-rate rule, so the
# budget rebuild reads its history. Target (issue "Ingest at the raw-SQLite floor"): within 2 s
# at 50 million events. LEDGER reuses a ledger made before (make_ledger takes ~4 minutes and the
# migration ~20 s per million events; 50 million take ~15 GB).
#   bench/run_startup.sh [EVENTS=50000000] [LEDGER=]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000000}
cmake --build build -j "$(nproc)" --target tollgate make_ledger >/dev/null
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
ledger=${2:-$work/ledger.db}
[ -n "${2:-}" ] || build/bench/make_ledger "$ledger" "$N" 6
cp deploy/examples/prices.yaml "$work/"
cat > "$work/policies.yaml" <<YAML
budgets:
  - name: monthly
    match: {feature: [support-chat, search]}
    period: month
    limit: 1000000
    rules:
      - {at_percent: 80, action: alert}
      - {burn_rate: {long: 1h, short: 5m, factor: 14.4}, action: block, priorities: [batch]}
YAML
cat > "$work/tollgate.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 2}
storage: {path: $ledger, synchronous: normal}
reporting: {currency: USD, fx: {CNY: {rate: 0.1389}}}
prices_file: prices.yaml
policies_file: policies.yaml
YAML
# The first start migrates a ledger from an older schema: not timed.
build/tollgate serve --config "$work/tollgate.yaml" 2>"$work/log" &
pid=$!
until grep -q "listening on" "$work/log"; do sleep 0.2; done
kill -TERM $pid; wait $pid
for run in 1 2 3; do
  t0=$(date +%s%N)
  build/tollgate serve --config "$work/tollgate.yaml" 2>"$work/log" &
  pid=$!
  while :; do
    port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/log")
    [ -n "$port" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
    sleep 0.02
  done
  t1=$(date +%s%N)
  echo "start $run: /readyz 200 after $(( (t1 - t0) / 1000000 )) ms ($(stat -c %s "$ledger") bytes of ledger)"
  kill -TERM $pid; wait $pid
done
