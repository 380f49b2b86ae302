#!/usr/bin/env bash
# One command: install what is missing, build, and run every test. In order:
#   1. the unit and integration suites on the g++ build (deploy/setup.sh --tests builds it), and
#      a short crash loop (tests/crash_loop.py: SIGKILLs under load, the ledger checked each time);
#   2. a Release build with g++ as users build it (warnings are errors here);
#   3. clang with AddressSanitizer + UBSan: the unit and integration suites again, and each
#      libFuzzer target of tests/fuzz for TOLLGATE_FUZZ_SECONDS (any report fails);
#   4. clang with ThreadSanitizer: the unit tests, and ingest, admissions, reloads and scrapes at
#      once against the daemon (tests/integration/test_reload_scrape.py).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh --tests
ctest --test-dir build --output-on-failure --timeout 600 -j 2
echo "== Crash loop: SIGKILL under ingest and admissions, the ledger checked after each restart"
TOLLGATE_BIN="$PWD/build/tollgate" python3 tests/crash_loop.py --kills 10

echo "== Release build with g++"
cmake --preset gcc-release >/dev/null
cmake --build --preset gcc-release -j "$(nproc)"

echo "== AddressSanitizer + UBSan (clang): unit, integration, fuzzers"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$(nproc)"
TOLLGATE_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 600 -j 2

echo "== ThreadSanitizer (clang): unit tests; ingest, admit, reload and scrape at once"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$(nproc)" --target tollgate unit_tests
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
build-tsan/tests/unit_tests
(cd tests/integration && TOLLGATE_SANITIZED=1 TOLLGATE_BIN="$PWD/../../build-tsan/tollgate" \
  TOLLGATE_RELOADS=40 python3 -m unittest -v test_reload_scrape)
