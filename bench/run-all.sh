#!/usr/bin/env bash
# Every benchmark of the issue "Ingest at the raw-SQLite floor at real cardinality", by hand (never
# in CI), one after the other on an otherwise idle machine, then one table: what we measured, the
# reference measured in the same run, the ratio, and the target. Each line's own output is kept in
# the work directory printed at the end. Admission needs wrk and nginx-light (skipped without);
# so does admission during ingest (bench/run_admit_ingest.sh).
#   bench/run-all.sh [EVENTS=400000] [REPORT_EVENTS=10000000]
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-400000}
REPORT_N=${2:-10000000}
out=$(mktemp -d)
cmake --build build -j "$(nproc)" --target tollgate ingest_load sqlite_floor naive_floor \
  report_bench report_company_bench >/dev/null || exit 1
rows=()
field() { sed -n "$2" "$out/$1"; }

echo "ingest ($N events, company shape) ..." >&2
bench/run_ingest.sh "$N" normal company >"$out/ingest.txt" 2>&1
ingest=$(field ingest.txt 's/^ingest:.*= \([0-9]*\) events\/s.*/\1/p')
naive=$(field ingest.txt 's/^naive:.*= \([0-9]*\) rows\/s.*/\1/p')
bytes=$(field ingest.txt 's/^ledger on disk: \([0-9]*\) bytes.*/\1/p')
naive_bytes=$(field ingest.txt 's/^naive:.*; \([0-9]*\) bytes\/row.*/\1/p')
rss=$(field ingest.txt 's/.*daemon peak RSS: \([0-9.]*\) MiB.*/\1/p')
rows+=("ingest, events/s|$ingest|naive floor $naive rows/s|$(awk -v a="$ingest" -v b="$naive" 'BEGIN{printf "%.2f", a/b}')|>= 1.0")
rows+=("ledger bytes/event|$bytes|naive table $naive_bytes bytes/row|$(awk -v a="$bytes" -v b="$naive_bytes" 'BEGIN{printf "%.2f", a/b}')|<= 80 bytes")
rows+=("daemon peak RSS after $N events|$rss MiB|-|-|<= 150 MiB at 10M events")

echo "ingest with 10,000 budgets ..." >&2
bench/run_ingest.sh "$N" normal company 10000 >"$out/ingest_budgets.txt" 2>&1
budgeted=$(field ingest_budgets.txt 's/^ingest:.*= \([0-9]*\) events\/s.*/\1/p')
rows+=("ingest with 10,000 budgets, events/s|$budgeted|ingest without budgets $ingest events/s|$(awk -v a="$budgeted" -v b="$ingest" 'BEGIN{printf "%.2f", a/b}')|-")

echo "report at company cardinality ($REPORT_N events) ..." >&2
build/bench/report_company_bench "$out/report.db" "$REPORT_N" >"$out/report.txt" 2>&1
rm -f "$out/report.db"
for dim in feature customer; do
  line=$(grep -- "--group-by $dim " "$out/report.txt")
  ours=$(echo "$line" | sed -n 's/.* rows in \([0-9.]*\) s.*/\1/p')
  ref=$(echo "$line" | sed -n 's/.*rollups \([0-9.]*\) s.*/\1/p')
  rows+=("report by $dim, $REPORT_N events/day, s|$ours|full daily rollups $ref s|$(awk -v a="$ours" -v b="$ref" 'BEGIN{printf "%.0fx faster", b/a}')|<= 0.200 s")
done

echo "startup at company cardinality ($N events this month, 151 monthly budgets) ..." >&2
bench/run_startup_company.sh "$N" >"$out/startup_company.txt" 2>&1
ckpt=$(field startup_company.txt 's/^best of 3: checkpoints \([0-9]*\) ms.*/\1/p')
rolled=$(field startup_company.txt 's/^best of 3: .*, rollups \([0-9]*\) ms.*/\1/p')
rows+=("start to /readyz, $N company events this month, ms|$ckpt|budgets rebuilt from the rollups $rolled ms|$(awk -v a="$ckpt" -v b="$rolled" 'BEGIN{printf "%.1fx faster", b/a}')|<= 2000 ms at 50M events")

if command -v wrk >/dev/null && command -v nginx >/dev/null; then
  echo "admission ..." >&2
  bench/run_admit.sh 6 10000 3 >"$out/admit.txt" 2>&1
  d=$(field admit.txt 's/^tollgate: \([0-9.]*\) req\/s.*/\1/p')
  ng=$(field admit.txt 's/^nginx: *\([0-9.]*\) req\/s.*/\1/p')
  ratio=$(field admit.txt 's/^ratio tollgate\/nginx: \([0-9.]*\) .*/\1/p')
  rows+=("admission GET /v1/admit, req/s (10,000 budgets; last of 3 alternating rounds)|$d|nginx $ng req/s|$ratio (median of the rounds)|>= 0.9")
  echo "admission during ingest ..." >&2
  bench/run_admit_ingest.sh 10 >"$out/admit_ingest.txt" 2>&1
  busy=$(field admit_ingest.txt 's/^p99 during ingest: \([0-9.]*\) ms.*/\1/p')
  alone=$(field admit_ingest.txt 's/^admission alone: .*p99 \(.*\)$/\1/p')
  rows+=("admission p99 during company ingest, ms|$busy|p99 alone $alone|$(field admit_ingest.txt 's/.*, \([0-9.]*x\) the p99 alone.*/\1/p')|<= 2 ms")
else
  rows+=("admission|skipped: needs wrk and nginx-light|-|-|>= 0.9")
fi

printf '\n| benchmark | ours | reference, same run | ratio | target |\n|---|---|---|---|---|\n'
for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
echo
echo "each benchmark's own output: $out"
