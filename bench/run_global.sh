#!/usr/bin/env bash
# Global budgets benchmark (by hand, not in CI): one Tollgate coordinating through a real etcd
# (one member on loopback, data on tmpfs), 100 budgets over 1,000 features, measured twice with
# the same daemon configuration: the budgets `scope: local`, then `scope: global`. Each run: ingest
# alone (NDJSON batches of 1,000 over 4 connections), GET admissions alone (wrk, 16 connections),
# POST admissions with an estimate alone, then ingest beside POST admissions. Prints every figure
# and the global / local ratios (target: >= 0.9 for admission and for ingest).
#   bench/run_global.sh [DURATION_S=10]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
command -v wrk >/dev/null || { echo "needs: apt-get install wrk" >&2; exit 1; }
command -v etcd >/dev/null || { echo "needs: apt-get install etcd-server" >&2; exit 1; }
cmake --build build -j 2 --target tollgate ingest_load >/dev/null
work=$(mktemp -d)
etcd_dir=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
pid="" etcd_pid=""
trap 'kill $pid $etcd_pid 2>/dev/null || true; rm -rf "$work" "$etcd_dir"' EXIT
source bench/load_lib.sh

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(free_port); pport=$(free_port)
etcd --name b --data-dir "$etcd_dir/b" --listen-client-urls "http://127.0.0.1:$cport" \
  --advertise-client-urls "http://127.0.0.1:$cport" --listen-peer-urls "http://127.0.0.1:$pport" \
  --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "b=http://127.0.0.1:$pport" >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$cport/health" | grep -q true && break; sleep 0.1; done

policies() {  # policies SCOPE
  echo "budgets:"
  for i in $(seq 0 99); do
    echo "  - name: b$i"
    echo "    scope: $1"
    echo "    match: {feature: [$(seq -s, -f "f%g" $((i * 10)) $((i * 10 + 9))), support-chat]}"
    echo "    limit: 1000000000"
    echo "    rules: [{at_percent: 100, action: block, priorities: [batch]}]"
  done
  echo "reservation_ttl_s: 30"
}

measure() {  # measure SCOPE: prints "INGEST GET_REQ POST_REQ INGEST_MIXED POST_MIXED"
  rm -f "$work"/ledger.db*
  policies "$1" > "$work/policies.yaml"
  write_config "coordination:
  etcd: {endpoints: [http://127.0.0.1:$cport]}
  prefix: /bench-$1-$run_id/
  instance: bench"
  start_daemon
  sleep 1  # the first grants
  local ingest get post
  ingest=$(ingest_for "$DUR" "$1-alone")
  get=$(wrk_for "$DUR" bench/admit.lua)
  post=$(wrk_for "$DUR" bench/admit_reserve.lua)
  ingest_for "$DUR" "$1-mixed" > "$work/ingest" &
  local ing=$! mixed
  mixed=$(wrk_for "$DUR" bench/admit_reserve.lua)
  wait $ing
  echo "$ingest ${get%% *} ${post%% *} $(cat "$work/ingest") ${mixed%% *}"
  grep -c "coordination:" "$work/log" | sed 's/^/coordination log lines: /' >&2
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

read -r l_ing l_get l_post l_ing_mixed l_post_mixed < <(measure local)
read -r g_ing g_get g_post g_ing_mixed g_post_mixed < <(measure global)
printf "%-34s %12s %12s %8s\n" "" local global ratio
row() { printf "%-34s %12s %12s %8s\n" "$1" "$2" "$3" "$(awk -v a="$3" -v b="$2" 'BEGIN { printf "%.2f", a / b }')"; }
row "ingest alone (events/s)" "$l_ing" "$g_ing"
row "GET admit (req/s)" "$l_get" "$g_get"
row "POST admit, estimate (req/s)" "$l_post" "$g_post"
row "ingest beside POST admit (events/s)" "$l_ing_mixed" "$g_ing_mixed"
row "POST admit beside ingest (req/s)" "$l_post_mixed" "$g_post_mixed"
