#!/usr/bin/env bash
# Ingest benchmark (by hand, not in CI): the daemon under NDJSON batches of 1,000 unique events
# over 8 keep-alive connections, as a company sends them (event_rows.h's company shape: 50
# features, 7 teams, 1,000 customers, 4 models, 2 regions, 3 priorities, two tags), against two
# floors measured in the same run: the naive program (bench/naive_floor.cpp: one row per event,
# TEXT unique key, 1,000 rows per transaction, same rows) and the ledger's own events table
# written raw (bench/sqlite_floor.cpp, the older four-feature rows). Also bytes per event on disk
# after a checkpoint, for the daemon's ledger and the naive table.
# BUDGETS > 0 adds that many budgets (100 over the company shape's features, the rest over
# features the traffic never names, as other teams' budgets would be): every event's spend is
# recorded against the budgets that match it.
# IDS=uuid sends (and the naive program writes) 36-character random UUIDs as event ids, as clients
# that make one per call do, instead of short ordered ones ("ev17").
# TOLLGATE=path/to/tollgate runs another build of the daemon (an older commit's, to compare).
#   [IDS=ev|uuid] [TOLLGATE=build/tollgate] bench/run_ingest.sh [EVENTS=400000] [normal|full] [SHAPE=company|simple] [BUDGETS=0]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-400000}
SYNC=${2:-normal}
SHAPE=${3:-company}
BUDGETS=${4:-0}
cmake --build build -j "$(nproc)" --target tollgate ingest_load sqlite_floor naive_floor >/dev/null
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cp deploy/examples/prices.yaml "$work/"
cat > "$work/tollgate.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 2}
storage: {path: ledger.db, synchronous: $SYNC, commit_interval_ms: 5}
reporting: {currency: USD, fx: {CNY: {rate: 0.1389}}}
prices_file: prices.yaml
YAML
if [ "$BUDGETS" -gt 0 ]; then
  {
    echo "budgets:"
    for i in $(seq 0 $((BUDGETS - 1))); do
      if [ "$i" -lt 100 ]; then f=$(printf "feature-%02d" $((i % 50))); else f="other-$i"; fi
      echo "  - {name: b$i, match: {feature: [$f]}, limit: 1000000, rules: [{at_percent: 100, action: block, priorities: [batch]}]}"
    done
  } > "$work/policies.yaml"
  echo "policies_file: policies.yaml" >> "$work/tollgate.yaml"
fi
"${TOLLGATE:-build/tollgate}" serve --config "$work/tollgate.yaml" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/log")
IDS=${IDS:-ev}
ingest=$(build/bench/ingest_load 127.0.0.1 "$port" "$N" 8 1000 "$IDS" "$SHAPE")
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
# The daemon's CPU time (user + system, all threads) per event: steadier than the rate on a
# shared machine, and what a change of the writer's work moves.
cpu_ticks=$(awk '{print $14 + $15}' /proc/$pid/stat)
writer_ticks=0
for t in /proc/$pid/task/*; do
  [ "$(cat "$t/comm")" = tg-writer ] && writer_ticks=$(awk '{print $14 + $15}' "$t/stat")
done
kill -TERM $pid; wait $pid
sqlite3 "$work/ledger.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
ledger_bytes=$(stat -c %s "$work/ledger.db")
naive=$(build/bench/naive_floor "$work/naive.db" "$N" "$SYNC" "$IDS")
floor=$(build/bench/sqlite_floor "$work/floor.db" "$N" "$SYNC")
echo "$ingest (shape: $SHAPE, $BUDGETS budgets, ids: $IDS)"
echo "$naive"
echo "$floor (ledger schema, simple rows)"
a=$(echo "$ingest" | sed -n 's/.*= \([0-9]*\) events\/s.*/\1/p')
b=$(echo "$naive" | sed -n 's/.*= \([0-9]*\) rows\/s.*/\1/p')
c=$(echo "$floor" | sed -n 's/.*= \([0-9]*\) rows\/s.*/\1/p')
awk -v a="$a" -v b="$b" -v c="$c" -v r="$rss_kb" -v t="$cpu_ticks" -v w="$writer_ticks" -v hz="$(getconf CLK_TCK)" -v l="$ledger_bytes" -v n="$N" 'BEGIN {
  printf "ratio ingest/naive floor: %.2f   ingest/ledger-schema floor: %.2f\n", a / b, a / c
  printf "ledger on disk: %.0f bytes/event (target <= 80)   daemon peak RSS: %.1f MiB\n", l / n, r / 1024
  printf "daemon CPU: %.1f us/event, of which the ledger writer %.1f (until the last acknowledgement)\n", t / hz * 1e6 / n, w / hz * 1e6 / n }'
