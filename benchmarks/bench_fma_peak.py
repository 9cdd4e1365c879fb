"""The CPU's peak float32 FMA rate per capability level: the ceiling the fused kernels'
GFLOP/s are measured against.

    python benchmarks/bench_fma_peak.py [--threads 2] [--levels default,avx2,avx512]

fma_peak/fma_peak.cpp (independent chains of vector FMAs on registers only) is compiled once
per level with that level's flags (those of setup.py) and run with 1 and `--threads` OpenMP
threads; the median of 5 runs is reported. Levels the CPU lacks are skipped.
"""
import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

import torch

import sgz_fast
from harness import write_report

SOURCE = Path(__file__).resolve().parent / "fma_peak" / "fma_peak.cpp"
FLAGS = {"default": [], "avx2": ["-mavx2", "-mfma"], "avx512": ["-mavx512f", "-mfma"]}


def peak_gflops(level, threads, runs=5):
    """Median GFLOP/s of the register-only FMA loop at `level` on `threads` threads."""
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "fma_peak"
        subprocess.run(["g++", "-O2", "-fopenmp", *FLAGS[level], str(SOURCE), "-o", str(binary)],
                       check=True)
        rates = [float(subprocess.run([str(binary)], env={"OMP_NUM_THREADS": str(threads)},
                                      capture_output=True, text=True, check=True).stdout.split()[0])
                 for _ in range(runs)]
    return statistics.median(rates), min(rates), max(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--levels", default=",".join(sgz_fast.cpu_capabilities()))
    args = parser.parse_args()
    rows, data = [], []
    for level in args.levels.split(","):
        for threads in sorted({1, args.threads}):
            median, low, high = peak_gflops(level, threads)
            rows.append(f"| {level} | {threads} | {median:.1f} | {low:.1f}-{high:.1f} |")
            data.append({"level": level, "threads": threads, "gflops": round(median, 1),
                         "min": round(low, 1), "max": round(high, 1)})
            print(rows[-1], flush=True)
    header = ["| level | threads | peak GFLOP/s (median of 5) | range |", "|---|---|---|---|"]
    notes = ["- register-only float32 FMA chains (benchmarks/fma_peak/fma_peak.cpp), one binary "
             "per level; baseline x86-64 has no FMA: a multiply and an add per lane"]
    path = write_report("fma-peak", torch.device("cpu"), notes, header + rows, data, tag="cpu")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
