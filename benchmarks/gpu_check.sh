#!/usr/bin/env bash
# The GPU check: on a machine with a GPU and no network (torch already installed), builds the
# extension, runs the tests (the CUDA cases run for real there), runs the microbenchmarks,
# and writes one report, gpu_report.md, with the logs beside it in $OUT (default ./gpu_check).
# Sized for 8 minutes on one H100/H200 (the build for its architecture only, the CUDA tests,
# short sanitizer runs, short benchmarks); every step runs even if an earlier one fails.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
report="$OUT/gpu_report.md"

{
  echo "# GPU check, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo '```'
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  echo '```'
} > "$report"

step() {  # step NAME COMMAND...: runs it, logs to $OUT/NAME.log, notes the outcome
  local name=$1; shift
  local start=$SECONDS
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "- $name: exit $rc, $((SECONDS - start)) s" >> "$report"
  if [ $rc -ne 0 ]; then
    { echo '```'; tail -n 20 "$OUT/$name.log"; echo '```'; } >> "$report"
  fi
  return $rc
}

# Built for the visible GPU's architecture only (setup.py's default when a GPU is visible).
step build env MAX_JOBS=16 "$PY" -m pip install --no-build-isolation --no-deps -e .
# The CUDA cases only (the CPU cases are CI's): every test id with "cuda" in it.
step tests "$PY" -m pytest -q -rs tests -k cuda
{ echo; echo "## Tests (tail)"; echo '```'; tail -n 15 "$OUT/tests.log"; echo '```'; } >> "$report"
# compute-sanitizer on a short selection, where a probe shows it works on this machine:
# memcheck (out-of-bounds, misaligned accesses) on every kernel, racecheck (shared memory
# hazards) on dsconv, the kernels with shared memory.
SHORT="tests/test_dsconv.py tests/test_curve_iter.py tests/test_curve_uint8.py tests/test_affine_uint8.py
  tests/test_guided_coefficients.py tests/test_colour_guided.py tests/test_factor_net.py"
if timeout 120 compute-sanitizer --tool memcheck "$PY" -c \
    "import torch; torch.ones(8, device='cuda').sum().item()" > "$OUT/sanitizer-probe.log" 2>&1; then
  step memcheck timeout 240 compute-sanitizer --tool memcheck --error-exitcode 1 \
    "$PY" -m pytest -q -x $SHORT -k "cuda and (matches_reference or match_reference or three_ops or matches_the_per_layer) and not half"
  step racecheck timeout 180 compute-sanitizer --tool racecheck --error-exitcode 1 \
    "$PY" -m pytest -q -x tests/test_dsconv.py -k "cuda and forward_and_gradients and float32"
else
  echo "- sanitizer: not run (the probe failed: $OUT/sanitizer-probe.log)" >> "$report"
fi
for dtype in float32 float16; do
  step "bench-curve-$dtype" "$PY" benchmarks/bench_curve.py --device cuda --dtype "$dtype" --min-run-time 0.5
done
for dtype in float32 float16; do
  step "bench-dsconv-$dtype" "$PY" benchmarks/bench_dsconv.py --device cuda --dtype "$dtype" --min-run-time 0.3
done
step bench-model-float16 "$PY" benchmarks/bench_model.py --device cuda --dtype float16 --min-run-time 0.3 --no-compile
for md in benchmarks/results/*-cuda.md; do
  [ -f "$md" ] && { echo; cat "$md"; cp "$md" "${md%.md}.json" "$OUT/" 2>/dev/null; } >> "$report"
done
cat "$report"
