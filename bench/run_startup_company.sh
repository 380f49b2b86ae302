#!/usr/bin/env bash
# Startup at a company's cardinality (by hand, not in CI). EVENTS events of the company shape
# (bench/event_rows.h: 50 features x 7 teams x 1,000 customers x two tags; nearly every event
# its own daily rollup row) are ingested over HTTP, stamped over the month so far, with 151
# monthly budgets (one for all, one per feature, 100 per customer). Then the time from
# `tollgate serve` to /readyz 200, three starts each way in the same run:
#   - checkpoints: each budget's spend read from budget_spend and the events after it (the
#     daemon as it is; a clean stop wrote the checkpoints);
#   - rollups: budget_spend emptied before the start, so every budget's month is rebuilt from
#     the daily rollups (what every start did before schema 12).
# On the 1st of a month the spread is the hours since midnight (15-minute rollups only).
#   bench/run_startup_company.sh [EVENTS=2000000]     (KEEP=1 keeps the work directory)
# WAYS=checkpoints leaves out the rebuilds from the rollups (minutes each at tens of millions of
# events).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000000}
cmake --build build -j "$(nproc)" --target tollgate ingest_load >/dev/null
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
source bench/load_lib.sh
write_config
{
  echo "budgets:"
  echo "  - {name: all, period: month, limit: 100000000, rules: [{at_percent: 80, action: alert}]}"
  for f in $(seq -w 0 49); do
    echo "  - {name: f-$f, match: {feature: [feature-$f]}, period: month, limit: 1000000, rules: [{at_percent: 80, action: alert}]}"
  done
  for c in $(seq -w 0 99); do
    echo "  - {name: c-$c, match: {customer: [customer-00$c]}, period: month, limit: 100000, rules: [{at_percent: 100, action: block, priorities: [batch]}]}"
  done
} > "$work/policies.yaml"
now=$(date -u +%s)
month_start=$(date -u -d "$(date -u +%Y-%m-01)" +%s)
spread=$((now - month_start - 120))
start_daemon
build/bench/ingest_load 127.0.0.1 "$port" "$N" 8 1000 ev company "$spread"
kill -TERM $pid; wait $pid || true
pid=
echo "ledger: $(stat -c %s "$work/ledger.db") bytes, $(python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute('SELECT COUNT(*) FROM rollup_daily_rows').fetchone()[0], 'daily rollup rows and',
      c.execute('SELECT COUNT(*) FROM event_rows WHERE listed').fetchone()[0], 'events left raw (listed) over',
      c.execute('SELECT COUNT(DISTINCT day_local) FROM rollup_daily').fetchone()[0], 'days')" "$work/ledger.db")"

timed_start() {  # prints ms to /readyz 200 and the log's budget spend line
  local t0 t1
  : >"$work/log"  # emptied before the start: the loop must not read the last daemon's port
  t0=$(date +%s%N)
  build/tollgate serve --config "$work/tollgate.yaml" 2>"$work/log" &
  pid=$!
  port=
  while :; do
    [ -n "$port" ] || port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/log")
    [ -n "$port" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
    sleep 0.02
  done
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000000 )) ms ($(grep -o 'budget spend: .*' "$work/log" | head -1))"
  kill -TERM $pid; wait $pid || true
  pid=
}
declare -A best
ways=${WAYS:-checkpoints rollups}
for way in $ways $ways $ways; do
  [ "$way" = rollups ] && python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute('DELETE FROM budget_spend'); c.commit()" "$work/ledger.db"
  out=$(timed_start)
  echo "start from $way: /readyz 200 after $out"
  ms=${out%% *}
  if [ -z "${best[$way]:-}" ] || [ "$ms" -lt "${best[$way]}" ]; then best[$way]=$ms; fi
done
if [ -n "${best[rollups]:-}" ]; then
  awk -v c="${best[checkpoints]}" -v r="${best[rollups]}" 'BEGIN {
    printf "best of 3: checkpoints %d ms, rollups %d ms: %.1fx faster\n", c, r, r / c }'
else
  echo "best of 3: checkpoints ${best[checkpoints]} ms"
fi
