#!/usr/bin/env bash
# Reservation benchmark (by hand, not in CI), with synchronous: full (an fsync per transaction):
# ingest alone, GET admissions alone, POST admissions with estimated_cost alone, then ingest
# beside each kind of admission. Reservations ride in the group commit (or a once-a-second
# flush), so admissions with an estimate must not starve ingest of fsyncs.
#   bench/run_reserve.sh [DURATION_S=10]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
command -v wrk >/dev/null || { echo "needs: apt-get install wrk" >&2; exit 1; }
cmake --build build -j 2 --target tollgate ingest_load >/dev/null
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/load_lib.sh

{
  echo "budgets:"
  for i in $(seq 0 99); do
    echo "  - name: b$i"
    echo "    match: {feature: [$(seq -s, -f "f%g" $((i * 10)) $((i * 10 + 9))), support-chat]}"
    echo "    limit: 1000000000"
    echo "    rules: [{at_percent: 100, action: block, priorities: [batch]}]"
  done
  echo "reservation_ttl_s: 30"
} > "$work/policies.yaml"
cp deploy/examples/prices.yaml "$work/"
cat > "$work/tollgate.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 2}
storage: {path: ledger.db, synchronous: full, commit_interval_ms: 5}
reporting: {currency: USD, fx: {CNY: {rate: 0.1389}}}
prices_file: prices.yaml
policies_file: policies.yaml
YAML
start_daemon

both() {  # both LUA PREFIX: prints "INGEST_EVENTS_PER_S ADMIT_REQ_PER_S"
  ingest_for "$DUR" "$2" > "$work/ingest" &
  local ing=$!
  local w
  w=$(wrk_for "$DUR" "$1")
  wait $ing
  echo "$(cat "$work/ingest") ${w%% *}"
}
ingest_alone=$(ingest_for "$DUR" alone)
get_alone=$(wrk_for "$DUR" bench/admit.lua)
post_alone=$(wrk_for "$DUR" bench/admit_reserve.lua)
read -r ing_get get_mixed < <(both bench/admit.lua mixed-get)
read -r ing_post post_mixed < <(both bench/admit_reserve.lua mixed-post)
echo "ingest alone:                 $ingest_alone events/s"
echo "GET admit alone:              ${get_alone%% *} req/s"
echo "POST admit (estimate) alone:  ${post_alone%% *} req/s"
echo "ingest + GET admit:           $ing_get events/s, $get_mixed req/s"
echo "ingest + POST admit:          $ing_post events/s, $post_mixed req/s"
awk -v a="$ing_post" -v b="$ing_get" -v c="$ingest_alone" -v p="$post_mixed" -v g="$get_mixed" \
  'BEGIN { printf "ingest beside POST / beside GET: %.2f   / alone: %.2f   POST / GET admissions (mixed): %.2f\n", a / b, a / c, p / g }'
echo "reservations in the ledger after the run: $(sqlite3 "$work/ledger.db" 'SELECT COUNT(*) FROM reservations' 2>/dev/null || echo '?')"
