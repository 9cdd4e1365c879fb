"""Builds sgz_fast._C: the CPU kernels always, the CUDA kernels whenever a CUDA toolkit and a
CUDA build of torch are present (a visible GPU is not needed to compile them).

Environment:
  SGZ_FAST_CPU_ONLY=1     build the CPU kernels only
  CUDA_HOME / CUDA_PATH   the CUDA toolkit to use (else nvcc on PATH, else /usr/local/cuda)
  TORCH_CUDA_ARCH_LIST    GPU architectures; default: the visible GPUs', or DEFAULT_ARCHS
  SGZ_FAST_OPENMP_FLAG    the compiler's (and linker's) OpenMP flags (default -fopenmp; none on
                          macOS, where Apple's clang has none: each op then runs on one thread)

The CPU hot loops (csrc/cpu/kernels/*.cpp) are compiled once per CPU capability level with that
level's flags (CPU_LEVELS) and the best level the CPU runs is picked at load time
(csrc/cpu/capability.h).
"""
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from setuptools import setup

ROOT = Path(__file__).resolve().parent
# Turing/Ampere cards run 7.5/8.0 code (8.6 and 8.9 run 8.0 code); Hopper gets its own code,
# and PTX keeps newer cards working through the driver's compiler.
DEFAULT_ARCHS = "7.5;8.0;9.0+PTX"


def is_toolkit(path):
    return path is not None and (Path(path) / "include" / "cuda_runtime.h").is_file()


def find_cuda_toolkit():
    """Returns (toolkit directory or None, how it was found or why there is none)."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        value = os.environ.get(var)
        if value:
            if is_toolkit(value):
                return value, f"${var}"
            return None, f"${var}={value} holds no include/cuda_runtime.h"
    nvcc = shutil.which("nvcc")
    if nvcc:
        guess = Path(os.path.realpath(nvcc)).parent.parent
        if is_toolkit(guess):
            return str(guess), f"nvcc on PATH ({nvcc})"
        # nvcc may be a wrapper script outside the toolkit: ask nvcc where its toolkit is.
        probe = subprocess.run([nvcc, "-v", "-E", "-x", "cu", os.devnull, "-o", os.devnull],
                               capture_output=True, text=True)
        top = re.search(r"#\$ TOP=(\S+)", probe.stdout + probe.stderr)
        if top and is_toolkit(os.path.normpath(top.group(1))):
            return os.path.normpath(top.group(1)), f"nvcc -v ({nvcc})"
    if is_toolkit("/usr/local/cuda"):
        return "/usr/local/cuda", "/usr/local/cuda"
    return None, "no CUDA toolkit (nvcc) found"


def cuda_plan():
    """Returns (toolkit or None, a sentence saying why)."""
    if os.environ.get("SGZ_FAST_CPU_ONLY", "0") not in ("", "0"):
        return None, "SGZ_FAST_CPU_ONLY is set"
    if torch.version.cuda is None:
        return None, f"torch {torch.__version__} is a CPU-only build"
    toolkit, how = find_cuda_toolkit()
    if toolkit is None:
        return None, how
    return toolkit, f"toolkit {toolkit} (found via {how})"


def arch_list():
    if os.environ.get("TORCH_CUDA_ARCH_LIST"):
        return os.environ["TORCH_CUDA_ARCH_LIST"]
    if torch.cuda.is_available():
        caps = {torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())}
        return ";".join(f"{major}.{minor}" for major, minor in sorted(caps))
    return DEFAULT_ARCHS


def write_build_config(**values):
    lines = ['"""Written by setup.py at build time: how sgz_fast._C was built."""']
    lines += [f"{key} = {value!r}" for key, value in values.items()]
    (ROOT / "sgz_fast" / "_build_config.py").write_text("\n".join(lines) + "\n")


toolkit, reason = cuda_plan()
archs = ""
if toolkit is not None:
    # torch.utils.cpp_extension reads these when imported, so they are set first.
    os.environ["CUDA_HOME"] = toolkit
    archs = arch_list()
    os.environ["TORCH_CUDA_ARCH_LIST"] = archs
from torch.utils import cpp_extension  # noqa: E402

def sources_in(folder, pattern):
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / folder).glob(pattern))


def cpu_levels():
    """(level, flags) for each CPU capability level the kernels are compiled for: ATen's levels,
    names and flags (its per-capability units), so at::vec::Vectorized is that level's.
    -fno-trapping-math (no change to any result: we never read floating-point exception flags)
    lets GCC if-convert float compares without AVX-512's masks: without it the uint8 curve's
    byte loop stayed scalar at AVX2, 6x slower. -Wno-unknown-pragmas: ATen's vector headers
    carry `#pragma unroll`, which GCC does not know (GCC's diagnostic pragmas cannot hide it)."""
    x86 = platform.machine().lower() in ("x86_64", "amd64") and os.name != "nt"
    levels = [("DEFAULT", [])]
    if x86:
        levels += [("AVX2", ["-mavx2", "-mfma"]),
                   ("AVX512", ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma",
                               "-mprefer-vector-width=512"])]
    return [(name, [f"-DCPU_CAPABILITY={name}", f"-DCPU_CAPABILITY_{name}",
                    "-fno-trapping-math", "-Wno-unknown-pragmas", *flags])
            for name, flags in levels]


class BuildExtension(cpp_extension.BuildExtension):
    """Compiles the per-level CPU sources once per level, each with its own flags, and links
    their objects after the others, DEFAULT first: should an inline function of a header
    outlive inlining in several levels, the linker keeps the first copy, the baseline one
    (scripts/check_cpu_isa.py, run by the tests, checks the binary for wider instructions outside
    their levels)."""

    def build_extension(self, ext):
        cxx = ext.extra_compile_args["cxx"]
        for level, flags in CPU_LEVELS:
            ext.extra_objects += self.compiler.compile(
                LEVEL_SOURCES, output_dir=os.path.join(self.build_temp, f"cpu-{level.lower()}"),
                include_dirs=ext.include_dirs, depends=LEVEL_DEPENDS,
                extra_postargs={"cxx": cxx + flags, "nvcc": []})
        super().build_extension(ext)


CPU_LEVELS = cpu_levels()
LEVEL_SOURCES = sources_in("csrc/cpu/kernels", "*.cpp")
LEVEL_DEPENDS = [*sources_in("csrc/cpu/kernels", "*.h"), *sources_in("csrc/common", "*.h"),
                 "csrc/cpu/capability.h"]
sources = ["csrc/ops.cpp", *sources_in("csrc/cpu", "*.cpp")]
# OpenMP: at::parallel_for is inlined into our code, so our objects call torch's runtime.
openmp = shlex.split(os.environ.get("SGZ_FAST_OPENMP_FLAG",
                                    "" if sys.platform == "darwin" else "-fopenmp"))
cxx_flags = ["-O3", *openmp]
if len(CPU_LEVELS) > 1:
    cxx_flags.append("-DSGZ_CPU_X86_LEVELS")
if toolkit is not None:
    sources += sources_in("csrc", "*.cu")
    extension = cpp_extension.CUDAExtension(
        "sgz_fast._C", sources,
        extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "-lineinfo"]},
        extra_link_args=openmp)
else:
    extension = cpp_extension.CppExtension(
        "sgz_fast._C", sources, extra_compile_args={"cxx": cxx_flags, "nvcc": []},
        extra_link_args=openmp)

level_names = [name.lower() for name, _ in CPU_LEVELS]
print(f"sgz_fast build: torch {torch.__version__}; CPU levels: {', '.join(level_names)}; "
      "CUDA kernels: " + (f"yes, {reason}, archs {archs}" if toolkit else f"no ({reason})"),
      flush=True)
write_build_config(cuda_requested=toolkit is not None, cuda_reason=reason, cuda_arch_list=archs,
                   cpu_levels=level_names, built_with_torch=torch.__version__)

setup(ext_modules=[extension], cmdclass={"build_ext": BuildExtension})
