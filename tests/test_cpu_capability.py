"""The CPU capability levels: which one runs, the SGZ_FAST_CPU_CAPABILITY override, the
run-time setter, the machine code of each level, and the built-with-torch check. (The op
tests themselves run at every level through conftest's cpu-<level> devices.)"""
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sgz_fast
from sgz_fast import _extension, ops

ROOT = Path(__file__).resolve().parents[1]
X86 = platform.machine().lower() in ("x86_64", "amd64")


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=ROOT)


def test_build_info_names_the_running_level():
    info = sgz_fast.build_info()
    assert info["cpu_levels"] == (["default", "avx2", "avx512"] if X86 else ["default"])
    assert info["cpu_capabilities"][0] == "default"
    assert set(info["cpu_capabilities"]) <= set(info["cpu_levels"])
    assert info["cpu_capability"] in info["cpu_capabilities"]
    assert info["cpu_capability_error"] is None


def test_the_best_level_is_picked_by_default():
    result = run_python("import sgz_fast; print(sgz_fast.cpu_capability(), "
                        "sgz_fast.cpu_capabilities()[-1])", SGZ_FAST_CPU_CAPABILITY="")
    assert result.returncode == 0, result.stderr
    running, best = result.stdout.split()
    assert running == best


def test_the_variable_picks_a_level():
    result = run_python("import sgz_fast; print(sgz_fast.cpu_capability())",
                        SGZ_FAST_CPU_CAPABILITY="default")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "default"
    # Before any kernel ran, the setter's "previous" level is still the variable's.
    result = run_python("import sgz_fast; print(sgz_fast.set_cpu_capability('default'))",
                        SGZ_FAST_CPU_CAPABILITY=sgz_fast.cpu_capabilities()[-1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == sgz_fast.cpu_capabilities()[-1]


def test_a_bad_variable_is_a_clear_error_not_a_crash():
    code = ("import torch, sgz_fast\n"
            "print(sgz_fast.build_info()['cpu_capability_error'])\n"
            "try:\n"
            "    sgz_fast.ops.curve_iter(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2))\n"
            "except ValueError as error:\n"
            "    print('raised', error)\n")
    result = run_python(code, SGZ_FAST_CPU_CAPABILITY="avx1024")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "SGZ_FAST_CPU_CAPABILITY must be one of default, avx2, avx512; got 'avx1024'" in lines[0]
    assert lines[1].startswith("raised SGZ_FAST_CPU_CAPABILITY")


@pytest.mark.skipif("avx512" in sgz_fast.cpu_capabilities(), reason="this CPU runs every level")
def test_a_level_the_cpu_lacks_is_a_clear_error():
    with pytest.raises(ValueError, match="avx512 kernels, which this CPU or build cannot run"):
        sgz_fast.set_cpu_capability("avx512")


def test_the_setter_switches_levels_and_returns_the_previous_one():
    levels = sgz_fast.cpu_capabilities()
    x = torch.rand(2, 3, 21, 37)
    r = torch.rand(2, 3, 4, 5) * 2 - 1
    previous = sgz_fast.set_cpu_capability(levels[0])
    try:
        results = {}
        for level in levels:
            sgz_fast.set_cpu_capability(level)
            assert sgz_fast.cpu_capability() == level
            results[level] = ops.curve_iter(x, r)
        for level in levels[1:]:  # the same math at every width, up to FMA rounding
            torch.testing.assert_close(results[level], results[levels[0]])
        with pytest.raises(ValueError, match="must be one of default, avx2, avx512; got 'sse9'"):
            sgz_fast.set_cpu_capability("sse9")
    finally:
        sgz_fast.set_cpu_capability(previous)


@pytest.mark.skipif(not X86 or shutil.which("objdump") is None,
                    reason="the check reads x86-64 code with objdump")
def test_each_level_stays_within_its_instructions_and_keeps_accumulators_in_registers():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_cpu_isa.py"),
                             sgz_fast._C.__file__], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no spilled FMAs" in result.stdout


def test_a_torch_other_than_the_build_s_is_named(monkeypatch):
    class Config:
        built_with_torch = "1.0.0"

    monkeypatch.setattr(_extension, "BUILD_CONFIG", Config)
    message = _extension._torch_mismatch()
    assert f"built with torch 1.0.0 but torch {torch.__version__} is running" in message
    assert "pip install --no-build-isolation -e ." in message
    monkeypatch.setattr(Config, "built_with_torch", torch.__version__)
    assert _extension._torch_mismatch() is None


@pytest.mark.parametrize("level", ["default", "avx2"])
def test_a_benchmark_at_a_lower_level_runs_pytorch_at_it_too(level, tmp_path):
    """benchmarks/harness.py restarts a benchmark given --cpu-capability below the machine's
    best with PyTorch's kernels capped at that level, as a machine with only it would run."""
    if level not in sgz_fast.cpu_capabilities() or level == sgz_fast.cpu_capabilities()[-1]:
        pytest.skip(f"{level} is not below this machine's best level")
    probe = tmp_path / "probe.py"
    probe.write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
                     "import os, harness, sgz_fast, torch\nharness.parse_args('probe')\n"
                     "import torch._inductor.config as inductor\n"
                     "print(sgz_fast.cpu_capability(), torch.backends.cpu.get_cpu_capability(), "
                     "os.environ['ONEDNN_MAX_CPU_ISA'], inductor.cpp.simdlen)\n")
    result = subprocess.run([sys.executable, str(probe), "--cpu-capability", level],
                            capture_output=True, text=True, cwd=ROOT,
                            env={k: v for k, v in os.environ.items()
                                 if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")})
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import harness
    finally:
        sys.path.pop(0)
    expected = harness.TORCH_LEVEL_ENV[level]
    assert result.stdout.split() == [level, expected["ATEN_CPU_CAPABILITY"].upper(),
                                     expected["ONEDNN_MAX_CPU_ISA"],
                                     str(harness.INDUCTOR_SIMDLEN.get(level))]
