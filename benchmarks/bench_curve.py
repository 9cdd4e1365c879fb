"""curve_iter: fused vs reference eager vs torch.compile(reference), side by side.

    python benchmarks/bench_curve.py [--device cpu|cuda] [--dtype float32|float16|bfloat16]

x is 1x3x1080x1920; r at full resolution and at 1/12 (the published test's scale factor).
"forward+backward" is a training step's use: r requires grad, x does not. torch.compile is
timed on the forward only: inductor did not finish compiling the 8-step backward in 5 minutes
on the 2-core development machine (torch 2.14.1).
"""
import torch

from harness import copy_bandwidth_gbs, parse_args, time_side_by_side, write_report
from sgz_fast import ops, reference

SIZE = (1, 3, 1080, 1920)
ITERATIONS = 8


def make_step(fn, x, r, backward):
    if not backward:
        return lambda: fn(x, r, ITERATIONS)
    r = r.detach().requires_grad_()
    grad = torch.rand_like(x)

    def step():
        r.grad = None
        fn(x, r, ITERATIONS).backward(grad)
    return step


def main():
    args, device, dtype = parse_args(__doc__)
    compiled = torch.compile(reference.curve_iter, fullgraph=True, dynamic=False)
    impls = {"eager": reference.curve_iter, "compile": compiled, "fused": ops.curve_iter}
    bandwidth = copy_bandwidth_gbs(device) if device.type == "cuda" else None

    rows, data = [], []
    for r_label, div in (("full", 1), ("1/12", 12)):
        x = torch.rand(SIZE, device=device, dtype=dtype)
        r = torch.rand(*SIZE[:2], SIZE[2] // div, SIZE[3] // div, device=device, dtype=dtype) * 2 - 1
        for mode, backward in (("forward", False), ("forward+backward", True)):
            steps = {name: make_step(fn, x, r, backward) for name, fn in impls.items()
                     if not (backward and name == "compile")}
            times = time_side_by_side(steps, device, args.min_run_time)
            fused = times["fused"].median_ms
            row = {"r": r_label, "mode": mode,
                   **{f"{k}_ms": round(v.median_ms, 4) for k, v in times.items()},
                   **{f"{k}_iqr_ms": round(v.iqr_ms, 4) for k, v in times.items()},
                   "fused_vs_eager": round(times["eager"].median_ms / fused, 2)}
            compile_ms = vs_compile = "n/a"
            if "compile" in times:
                row["fused_vs_compile"] = round(times["compile"].median_ms / fused, 2)
                compile_ms = f"{times['compile'].median_ms:.3f}"
                vs_compile = f"{row['fused_vs_compile']:.2f}x"
            line = (f"| r {r_label} | {mode} | {times['eager'].median_ms:.3f} | {compile_ms} | "
                    f"{fused:.3f} ± {times['fused'].iqr_ms:.3f} | "
                    f"{row['fused_vs_eager']:.1f}x | {vs_compile} |")
            if bandwidth is not None and not backward:
                moved = 2 * x.numel() * x.element_size() + r.numel() * r.element_size()
                row["fused_gbs"] = round(moved / (fused * 1e-3) / 1e9, 1)
                line += f" {row['fused_gbs']:.0f} GB/s ({row['fused_gbs'] / bandwidth:.0%}) |"
            elif bandwidth is not None:
                line += " |"
            rows.append(line)
            data.append(row)
            print(line, flush=True)

    header = ["| r | pass | eager ms | compile ms | fused ms (± IQR) | vs eager | vs compile |"
              + (" fused GB/s (of copy) |" if bandwidth else ""),
              "|---|---|---|---|---|---|---|" + ("---|" if bandwidth else "")]
    notes = [f"- op: curve_iter, x {'x'.join(map(str, SIZE))} {args.dtype}, {ITERATIONS} iterations; "
             "forward+backward: r requires grad (a training step), x does not",
             "- times: median of torch.utils.benchmark blocked_autorange after warm-up; ratios = "
             "other / fused"]
    if bandwidth:
        notes.append(f"- measured device copy bandwidth: {bandwidth:.0f} GB/s (read + write)")
    path = write_report(f"curve-{args.dtype}", device, notes, header + rows, data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
