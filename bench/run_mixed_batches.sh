#!/usr/bin/env bash
# Small batches beside large ones (by hand, not in CI): the daemon (2 I/O threads, the example
# prices) answers 10-event batches from one client while another posts 30,000-event NDJSON bodies
# in a loop; prints how long the small batches waited for their answers (bench/mixed_batches.py).
# A decoder busy with a large body must not hold the small ones behind it.
#   [TOLLGATE=build/tollgate] bench/run_mixed_batches.sh [DURATION_S=10]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
cmake --build build -j "$(nproc)" --target tollgate >/dev/null
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/load_lib.sh
echo "budgets: []" > "$work/policies.yaml"
write_config
start_daemon
python3 bench/mixed_batches.py "$port" "$DUR"
