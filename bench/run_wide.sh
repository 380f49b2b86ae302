#!/usr/bin/env bash
# Ingest at 10,000 features (by hand, not in CI): the memory benchmark's traffic and budgets
# (ingest_load ... wide: 10,000 features, 1,000 customers, two tags; 100 budgets with alert and
# burn rules), timed: events/s, and the daemon's and its writer's CPU per event. Where the
# company shape (50 features) makes thousands of dimension sets and charge keys a day, this one
# makes hundreds of thousands.
#   bench/run_wide.sh [EVENTS=300000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300000}
cmake --build build -j "$(nproc)" --target tollgate ingest_load >/dev/null
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/load_lib.sh
write_config  # synchronous: normal, the default
write_wide_policies
start_daemon
out=$(build/bench/ingest_load 127.0.0.1 "$port" "$N" 8 1000 "w$run_id-" wide)
cpu=$(awk '{print $14 + $15}' /proc/$pid/stat)
writer=0
for t in /proc/$pid/task/*; do
  [ "$(cat "$t/comm")" = tg-writer ] && writer=$(awk '{print $14 + $15}' "$t/stat")
done
echo "$out"
awk -v c="$cpu" -v w="$writer" -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN {
  printf "daemon CPU: %.1f us/event, of which the ledger writer %.1f\n", c / hz * 1e6 / n, w / hz * 1e6 / n }'
