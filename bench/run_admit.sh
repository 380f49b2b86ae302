#!/usr/bin/env bash
# Admission benchmark (by hand, not in CI): wrk, 64 connections, GET /v1/admit over 1,000 features
# against the daemon with server.threads: 1 and 100 budgets (10 of them throttling batch), and in
# the same run, with the same wrk settings, nginx (one worker) returning a fixed JSON body of the
# same size. Needs the Debian packages wrk and nginx-light.
# BUDGETS past 100 adds budgets over features the traffic never names (as per-customer or
# per-team budgets of others would be): the engine holds them all, each request matches one.
#   [AUTH=1] bench/run_admit.sh [DURATION_S=10] [BUDGETS=100] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
BUDGETS=${2:-100}
ROUNDS=${3:-3}
command -v wrk >/dev/null && command -v nginx >/dev/null || {
  echo "needs: apt-get install wrk nginx-light" >&2; exit 1; }
cmake --build build -j "$(nproc)" --target tollgate >/dev/null
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT

# 100 budgets over 1,000 features (10 each); the first 10 already past their block threshold.
{
  echo "budgets:"
  for i in $(seq 0 99); do
    feats=$(seq -s, -f "f%g" $((i * 10)) $((i * 10 + 9)))
    echo "  - name: b$i"
    echo "    match: {feature: [$feats]}"
    echo "    limit: 100"
    echo "    rules:"
    echo "      - {at_percent: 80, action: alert}"
    echo "      - {at_percent: 90, action: reroute, model: cheap, priorities: [standard]}"
    echo "      - {at_percent: 100, action: block, priorities: [batch]}"
  done
  for i in $(seq 100 $((BUDGETS - 1))); do
    echo "  - {name: b$i, match: {feature: [g$i]}, limit: 100, rules: [{at_percent: 100, action: block, priorities: [batch]}]}"
  done
} > "$work/policies.yaml"
cat > "$work/tollgate.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 1}
storage: {path: ledger.db}
policies_file: policies.yaml
YAML
# AUTH=1: the daemon knows tokens (three, as a small deployment would) and every request carries
# one with the admit role, as a gateway's would (nginx gets the same header and ignores it).
if [ -n "${AUTH:-}" ]; then
  export TOLLGATE_BENCH_TOKEN=bench-token
  cat >> "$work/tollgate.yaml" <<YAML
auth:
  tokens:
    - {name: gateway, sha256: $(printf bench-token | sha256sum | cut -d' ' -f1), roles: [ingest, admit]}
    - {name: finance, sha256: $(printf finance-token | sha256sum | cut -d' ' -f1), roles: [read]}
    - {name: ops, sha256: $(printf ops-token | sha256sum | cut -d' ' -f1), roles: [admin, read]}
YAML
fi
auth_header=()
[ -n "${AUTH:-}" ] && auth_header=(-H "Authorization: Bearer bench-token")
# Server on core 0, wrk on core 1, for both servers: a fair and repeatable split of 2 cores.
taskset -c 0 build/tollgate serve --config "$work/tollgate.yaml" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/log")
body=""
for i in $(seq 0 9); do body+="{\"event_id\":\"pre$i\",\"feature\":\"f$((i * 10))\",\"provider\":\"p\",\"model\":\"m\",\"cost\":100}"$'\n'; done
curl -s -X POST "${auth_header[@]}" -H 'Content-Type: application/x-ndjson' --data-binary "$body" "http://127.0.0.1:$port/v1/usage" >/dev/null
allow=$(curl -s "${auth_header[@]}" "http://127.0.0.1:$port/v1/admit?feature=f999&priority=batch")

# nginx: one worker, the daemon's allow body, same size.
# A free port from the kernel (port + 1 may be one of wrk's earlier client ports, still in use).
nport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nport;
    location / { default_type application/json; return 200 '$allow'; }
  }
}
CONF
taskset -c 0 nginx -c "$work/nginx.conf" -p "$work"
sleep 0.3
echo "body: $allow (${#allow} bytes)"
run() { taskset -c 1 wrk -t1 -c64 -d"${DUR}s" --latency -s bench/admit.lua "$1"; }
nworker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)
# CPU per request of a server process over a wrk run: "USER_US SYSTEM_US" (clock ticks from
# /proc/PID/stat, summed over its threads).
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
per_request() {  # PID TICKS_BEFORE(2 fields) WRK_OUTPUT
  local n hz; n=$(echo "$4" | awk '/requests in/ {print $1}'); hz=$(getconf CLK_TCK)
  read -r u1 s1 < <(ticks "$1")
  awk -v u="$((u1 - $2))" -v s="$((s1 - $3))" -v n="$n" -v hz="$hz" \
    'BEGIN { printf "%.2f us user + %.2f us system", u / hz * 1e6 / n, s / hz * 1e6 / n }'
}
# Rounds alternate the two servers, so a neighbour's load on this shared machine falls on both
# sides alike; the ratio reported is the median of the rounds' ratios.
ratios=()
for round in $(seq "$ROUNDS"); do
  read -r du ds < <(ticks "$pid")
  dout=$(run "http://127.0.0.1:$port")
  dcpu=$(per_request "$pid" "$du" "$ds" "$dout")
  read -r nu ns < <(ticks "$nworker")
  nout=$(run "http://127.0.0.1:$nport")
  ncpu=$(per_request "$nworker" "$nu" "$ns" "$nout")
  drps=$(echo "$dout" | awk '/Requests\/sec/ {print $2}')
  nrps=$(echo "$nout" | awk '/Requests\/sec/ {print $2}')
  dp99=$(echo "$dout" | awk '$1 == "99%" {print $2}')
  np99=$(echo "$nout" | awk '$1 == "99%" {print $2}')
  ratio=$(awk -v a="$drps" -v b="$nrps" 'BEGIN { printf "%.2f", a / b }')
  ratios+=("$ratio")
  echo "round $round: tollgate $drps req/s (p99 $dp99, $dcpu a request), nginx $nrps req/s (p99 $np99, $ncpu): $ratio"
done
throttled=$(curl -s "http://127.0.0.1:$port/metrics" | awk -F' ' '/^tollgate_admission_decisions_total.*decision="throttle"/ {s += $2} END {print s + 0}')
echo "tollgate: $drps req/s, p99 $dp99 (threads: 1, $BUDGETS budgets, 1,000 features, $throttled throttled)"
echo "nginx:    $nrps req/s, p99 $np99 (1 worker, fixed body)"
echo "ratio tollgate/nginx: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}') (median of $ROUNDS rounds: ${ratios[*]})"
