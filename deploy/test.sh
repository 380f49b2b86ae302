#!/usr/bin/env bash
# One command: install what is missing, build, and run every test (unit and integration).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh --tests
ctest --test-dir build --output-on-failure --timeout 600 -j 2
