#!/usr/bin/env bash
# One command: install what is missing, build, and run the daemon in the foreground on the
# example configuration (ledger at ./var/tollgate.db). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh
mkdir -p var
config=deploy/examples/tollgate.yaml
build/tollgate check --config "$config"
cat <<MSG

Tollgate is starting on http://127.0.0.1:9470
  page:     http://127.0.0.1:9470/
  metrics:  http://127.0.0.1:9470/metrics
  post a usage event:
    curl -s -X POST http://127.0.0.1:9470/v1/usage -H 'Content-Type: application/json' \\
      -d '{"event_id":"demo-1","feature":"support-chat","provider":"alibaba","model":"qwen3-max","input_tokens":1200,"output_tokens":300}'

MSG
exec build/tollgate serve --config "$config"
