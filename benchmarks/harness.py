"""Timing harness for the benchmarks: warm-up, many runs, median and spread, CUDA-synchronized
on the GPU (torch.utils.benchmark synchronizes around CUDA work), and a dated report."""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.utils.benchmark as tb

import sgz_fast

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Timing:
    label: str
    median_ms: float
    iqr_ms: float
    runs: int


def time_fn(label, fn, min_run_time=1.0, warmup=3, timer=time.perf_counter):
    """Median and interquartile range of fn() in milliseconds, after `warmup` calls.
    `timer` time.process_time measures this process's CPU time instead of wall time."""
    for _ in range(warmup):
        fn()
    measurement = tb.Timer(stmt="fn()", globals={"fn": fn}, timer=timer,
                           num_threads=torch.get_num_threads()
                           ).blocked_autorange(min_run_time=min_run_time)
    return Timing(label, measurement.median * 1e3, measurement.iqr * 1e3, len(measurement.times))


# The settings that make PyTorch's own CPU kernels run at a sgz_fast level, read once when
# the process starts: ATen's (ATEN_CPU_CAPABILITY; inductor's generated code follows it too),
# oneDNN's (convolutions) and MKL's. A level's report times every contender as a machine with
# only that level would run it. Only levels below the machine's best are capped: at its best
# level PyTorch runs as it always does here. ONNX Runtime has no such setting (its kernels
# pick the CPU's best level); the reports say so.
TORCH_LEVEL_ENV = {
    "default": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}


def run_torch_at_level(level):
    """Restarts this benchmark with PyTorch's kernels capped at `level` (TORCH_LEVEL_ENV),
    unless this process already runs so or `level` is the machine's best."""
    best = sgz_fast.cpu_capabilities()[-1]
    settings = TORCH_LEVEL_ENV.get(level, {}) if level != best else {}
    if all(os.environ.get(k) == v for k, v in settings.items()):
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **settings})


# inductor's vector width for code it generates at a level, set rather than left to its
# default: on an AVX-512 AMD EPYC (family 26, Zen 5) PyTorch 2.14.1's default steps its loops
# 8 floats at a time but stores 16, past the end of its buffers (heap corruption at 1920x1080).
INDUCTOR_SIMDLEN = {"avx2": 256, "avx512": 512}


def set_inductor_width(level):
    import torch._inductor.config as inductor_config
    inductor_config.cpp.simdlen = INDUCTOR_SIMDLEN.get(level)


def torch_level_description():
    """PyTorch's CPU levels in this process, for the reports."""
    import torch._inductor.config as inductor_config
    simdlen = inductor_config.cpp.simdlen
    return (f"PyTorch's CPU level: ATen {torch.backends.cpu.get_cpu_capability()}, oneDNN "
            f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'its best')}, MKL "
            f"{os.environ.get('MKL_ENABLE_INSTRUCTIONS', 'its best')}, inductor "
            f"{f'{simdlen}-bit vectors' if simdlen else 'its default'}")


def parse_args(doc, extra=()):
    """The benchmarks' shared flags, plus `extra` (flag, add_argument options) pairs; returns
    (args, device, dtype)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for flag, options in extra:
        parser.add_argument(flag, **options)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds per timing")
    parser.add_argument("--cpu-capability", choices=["default", "avx2", "avx512"],
                        help="the CPU level the fused kernels run at (default: the best the CPU "
                             "runs), and PyTorch's own kernels too where it is below the "
                             "machine's best (TORCH_LEVEL_ENV); it is part of the report's name")
    args = parser.parse_args()
    if args.cpu_capability:
        sgz_fast.set_cpu_capability(args.cpu_capability)
        run_torch_at_level(sgz_fast.cpu_capability())
    if args.device == "cpu":
        set_inductor_width(sgz_fast.cpu_capability())
    return args, torch.device(args.device), getattr(torch, args.dtype)


# The CPU flags that decide which sgz_fast level can run, as /proc/cpuinfo names them.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
             "avx512dq", "asimd", "sve")


def cpu_flags():
    """The ISA flags of ISA_FLAGS this CPU reports (Linux), in that order."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((l for l in info.splitlines() if l.startswith(("flags", "Features"))), "")
    present = set(line.split(":", 1)[-1].split())
    return [flag for flag in ISA_FLAGS if flag in present]


def device_tag(device):
    """The report name's device part: 'cuda', or 'cpu-<level>' with the running level."""
    return f"cpu-{sgz_fast.cpu_capability()}" if device.type == "cpu" else device.type


def time_side_by_side(steps, device, min_run_time, timer=time.perf_counter):
    """Times each named step, synchronizing after it on CUDA; returns {name: Timing}."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = {}
    for name, step in steps.items():
        def timed(step=step):
            step()
            sync()
        times[name] = time_fn(name, timed, min_run_time, timer=timer)
    return times


def cpu_model():
    """lscpu's model name, family, model and cache sizes: VMs often name only the vendor, and
    the family tells apart CPUs whose kernels run at different rates (Zen 4 and 5, say)."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    fields = {key.strip(): value.strip()
              for key, value in (line.split(":", 1) for line in lines if ":" in line)}
    caches = ", ".join(f"{name} {fields[f'{name} cache'].split(' (')[0]}"
                       for name in ("L1d", "L2", "L3") if f"{name} cache" in fields)
    return (f"{fields.get('Model name', platform.processor() or 'unknown CPU')} (family "
            f"{fields.get('CPU family', '?')} model {fields.get('Model', '?')}; {caches} in all)")


def machine_description(device):
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.multi_processor_count} SMs), CUDA {torch.version.cuda}"
    return (f"{cpu_model()} ({' '.join(cpu_flags())}), {torch.get_num_threads()} threads; sgz_fast "
            f"CPU level: {sgz_fast.cpu_capability()}; {torch_level_description()}")


def git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def copy_bandwidth_gbs(device, megabytes=512):
    """Measured device copy rate (bytes read + bytes written per second), the memory ceiling."""
    n = megabytes * 2**20 // 4
    src = torch.rand(n, device=device)
    dst = torch.empty_like(src)
    timing = time_fn("copy", lambda: dst.copy_(src), min_run_time=0.5)
    return 2 * src.numel() * 4 / (timing.median_ms * 1e-3) / 1e9


def fp32_fma_gflops(device, n=8192):
    """Measured float32 matrix-product rate without TF32 (the CUDA cores' FMA pipes, which the
    fused kernels use for every dtype), the arithmetic ceiling."""
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        timing = time_fn("mm", lambda: torch.mm(a, b), min_run_time=0.5)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    return 2 * n**3 / (timing.median_ms * 1e-3) / 1e9


def write_report(name, device, header_lines, table_lines, data, tag=None):
    """Writes results/<date>-<name>-<tag>[-<label>].md and .json (tag: device_tag's by default;
    label: $SGZ_BENCH_LABEL, which keeps two machines' runs of one day apart); returns the .md
    path."""
    RESULTS.mkdir(exist_ok=True)
    today = datetime.date.today().isoformat()
    label = os.environ.get("SGZ_BENCH_LABEL")
    stem = RESULTS / f"{today}-{name}-{tag or device_tag(device)}{f'-{label}' if label else ''}"
    meta = {
        "date": today,
        "machine": machine_description(device),
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "python": platform.python_version(),
        "commit": git_commit(),
    }
    lines = [f"# {name} benchmark, {today}", ""]
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    lines += header_lines + [""] + table_lines + [""]
    stem.with_suffix(".md").write_text("\n".join(lines))
    stem.with_suffix(".json").write_text(json.dumps({**meta, "results": data}, indent=2) + "\n")
    return stem.with_suffix(".md")
