#!/usr/bin/env bash
# The CPU benchmarks at every CPU level this machine runs (or the levels given), one level
# after the other, each report named for its level (results/<date>-<name>-cpu-<level>.md).
#
#   bash benchmarks/run_cpu_levels.sh [avx2 avx512 ...]
#
# Run it on a quiet machine: the two-thread timings share both cores with anything else.
# SGZ_BENCH_LABEL=<label> adds a label to the reports' names (two machines on one day).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
levels=("$@")
if [ ${#levels[@]} -eq 0 ]; then
  read -ra levels < <("$PY" -c "import sgz_fast; print(' '.join(sgz_fast.cpu_capabilities()[1:]) or 'default')")
fi
"$PY" benchmarks/bench_fma_peak.py
for level in "${levels[@]}"; do
  echo "== level $level"
  "$PY" benchmarks/bench_dsconv.py --cpu-capability "$level"
  "$PY" benchmarks/bench_curve.py --cpu-capability "$level"
  "$PY" benchmarks/bench_model.py --cpu-capability "$level"
  "$PY" benchmarks/bench_memory.py --cpu-capability "$level"
  "$PY" benchmarks/bench_train.py --cpu-capability "$level" --semantic none
done
