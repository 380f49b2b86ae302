# Shared by the mixed-load benchmarks (sourced): a daemon in $work, timed ingest and admission.
# Needs `work` set to a temporary directory holding tollgate.yaml (and what it names).

# write_config [EXTRA_YAML]: $work/tollgate.yaml as the mixed-load benchmarks run the daemon (2 I/O
# threads, the example prices, $work/policies.yaml), EXTRA_YAML appended; copies the prices.
write_config() {
  cp deploy/examples/prices.yaml "$work/"
  cat > "$work/tollgate.yaml" <<YAML
server: {listen: 127.0.0.1:0, threads: 2}
storage: {path: ledger.db, commit_interval_ms: 5}
reporting: {currency: USD, fx: {CNY: {rate: 0.1389}}}
prices_file: prices.yaml
policies_file: policies.yaml
${1:-}
YAML
}

# write_wide_policies: $work/policies.yaml with 100 monthly budgets over the wide shape's 10,000
# features (ingest_load ... wide), each with an alert and a 5m/1h burn rule.
write_wide_policies() {
  {
    echo "budgets:"
    for i in $(seq 0 99); do
      echo "  - name: b$i"
      echo "    match: {feature: [$(seq -s, -f "feature-%g" $((i * 100)) $((i * 100 + 99)))]}"
      echo "    period: month"
      echo "    limit: 1000000"
      echo "    rules:"
      echo "      - {at_percent: 80, action: alert}"
      echo "      - {burn_rate: {long: 1h, short: 5m, factor: 14.4}, action: block, priorities: [batch]}"
    done
  } > "$work/policies.yaml"
}

# Starts build/tollgate serve on $work/tollgate.yaml; sets pid and port.
start_daemon() {
  : >"$work/log"  # emptied first: a restart must not read the last daemon's port
  "${TOLLGATE:-build/tollgate}" serve --config "$work/tollgate.yaml" 2>"$work/log" &
  pid=$!
  for _ in $(seq 600); do grep -q "listening on" "$work/log" && break; sleep 0.05; done
  port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$work/log")
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
    sleep 0.05
  done
}

run_id=$(date +%s%N)  # event ids stay unique on a ledger reused across runs

# ingest_for SECONDS PREFIX: NDJSON batches of 1,000 over 4 connections, in chunks of 100,000
# events, for about SECONDS; prints events/s.
ingest_for() {
  local end=$((SECONDS + $1)) n=0 events=0 secs=0 out
  while [ $SECONDS -lt "$end" ]; do
    out=$(build/bench/ingest_load 127.0.0.1 "$port" 100000 4 1000 "$2-$run_id-$n-")
    events=$((events + 100000))
    secs=$(awk -v s="$secs" -v o="$out" 'BEGIN { split(o, w, " in "); split(w[2], t, " "); print s + t[1] }')
    n=$((n + 1))
  done
  awk -v e="$events" -v s="$secs" 'BEGIN { printf "%.0f\n", e / s }'
}

# wrk_for SECONDS LUA: one wrk thread, 16 connections; prints "REQ_PER_S P99".
wrk_for() {
  local out
  out=$(wrk -t1 -c16 -d"$1s" --latency -s "$2" "http://127.0.0.1:$port")
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '$1 == "99%" {print $2}')"
}
