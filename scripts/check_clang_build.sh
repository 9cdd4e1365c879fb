#!/usr/bin/env bash
# Builds the CPU kernels with clang instead of GCC (every capability level, as setup.py builds
# them) into build/clang/, then runs the CPU op tests against that build.
#
#   bash scripts/check_clang_build.sh        (after scripts/setup.sh; installs clang if missing)
#
# OpenMP: clang is told to call GCC's runtime (-fopenmp=libgomp), the one torch's Linux wheels
# load, so one process never holds two OpenMP runtimes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if ! command -v clang++ >/dev/null; then
  apt-get install -y -q clang >/dev/null
fi
clang++ --version | head -1

rm -rf build/clang
mkdir -p build/clang/pkg
# setup.py's build with clang as the compiler and linker, CPU-only (nvcc would want GCC).
CC=clang CXX=clang++ LDSHARED="clang++ -shared" SGZ_FAST_CPU_ONLY=1 SGZ_FAST_OPENMP_FLAG=-fopenmp=libgomp \
  "$PY" setup.py -q build_ext -b build/clang/lib -t build/clang/tmp >build/clang/build.log 2>&1 \
  || { tail -40 build/clang/build.log; exit 1; }
grep -c "clang++" build/clang/build.log | xargs echo "clang++ commands:"

# The package as built by clang: a copy of sgz_fast/ with the clang binary in it.
cp -r sgz_fast build/clang/pkg/
rm -f build/clang/pkg/sgz_fast/_C*.so
cp build/clang/lib/sgz_fast/_C*.so build/clang/pkg/sgz_fast/
PYTHONPATH=build/clang/pkg "$PY" -P - <<'EOF'
import sgz_fast
assert sgz_fast.__file__.startswith(__import__("os").path.abspath("build/clang/pkg")), sgz_fast.__file__
print("clang build loaded:", sgz_fast._C.__file__, "levels", sgz_fast.cpu_capabilities())
EOF
PYTHONPATH=build/clang/pkg "$PY" -P scripts/check_cpu_isa.py build/clang/pkg/sgz_fast/_C*.so
PYTHONPATH=build/clang/pkg "$PY" -P -m pytest -q -p no:cacheprovider tests/test_curve_iter.py \
  tests/test_dsconv.py tests/test_curve_uint8.py tests/test_cpu_capability.py
