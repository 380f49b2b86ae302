#!/usr/bin/env bash
# Ingest benchmark (by hand, not in CI): the daemon under NDJSON batches of 1,000 unique events
# over 8 keep-alive connections, against the raw-SQLite floor measured in the same run.
#   bench/run_ingest.sh [EVENTS=400000] [normal|full]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-400000}
SYNC=${2:-normal}
cmake --build build -j "$(nproc)" --target tollgate ingest_load sqlite_floor >/dev/null
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cp deploy/examples/prices.yaml "$work/"
cat > "$work/tollgate.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 2}
storage: {path: ledger.db, synchronous: $SYNC, commit_interval_ms: 5}
reporting: {currency: USD, fx: {CNY: {rate: 0.1389}}}
prices_file: prices.yaml
YAML
build/tollgate serve --config "$work/tollgate.yaml" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/log")
ingest=$(build/bench/ingest_load 127.0.0.1 "$port" "$N" 8 1000)
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid
floor=$(build/bench/sqlite_floor "$work/floor.db" "$N" "$SYNC")
echo "$ingest"
echo "$floor"
a=$(echo "$ingest" | sed -n 's/.*= \([0-9]*\) events\/s.*/\1/p')
b=$(echo "$floor" | sed -n 's/.*= \([0-9]*\) rows\/s.*/\1/p')
awk -v a="$a" -v b="$b" -v r="$rss_kb" 'BEGIN { printf "ratio ingest/floor: %.2f   daemon peak RSS: %.1f MiB\n", a / b, r / 1024 }'
