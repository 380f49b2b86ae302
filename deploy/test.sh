#!/usr/bin/env bash
# One command: install what is missing, build, and run every test (unit and integration), then
# build Release with g++ and with clang as users build it (warnings are errors here) and run the
# unit tests of the clang build. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh --tests
ctest --test-dir build --output-on-failure --timeout 600 -j 2
for preset in gcc-release clang-release; do
  echo "== Release build: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)"
done
build-clang-release/tests/unit_tests
