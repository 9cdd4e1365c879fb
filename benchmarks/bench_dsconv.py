"""dsconv: fused vs reference eager vs torch.compile(reference), side by side.

    python benchmarks/bench_dsconv.py [--device cpu|cuda] [--dtype float32|float16|bfloat16]

Batch 1, ReLU, the SGZ layer shapes 32->32 and two 32-channel inputs -> 32, at 256x256 and
1920x1080 (1920x1080 only on CUDA). "forward+backward" gives gradients to the weights and the
inputs, as in training. On CUDA, "eager" is cuDNN, and the fused op's achieved GB/s and GFLOP/s
are shown against the measured copy bandwidth and float32 FMA rate; on the CPU its GFLOP/s
against the running level's FMA peak (bench_fma_peak.py, same threads). --cpu-capability picks
the CPU level.
"""
import torch

import sgz_fast
from bench_fma_peak import peak_gflops
from harness import (copy_bandwidth_gbs, fp32_fma_gflops, parse_args, time_side_by_side,
                     write_report)
from sgz_fast import ops, reference

SIZES = [(256, 256), (1080, 1920)]
LAYERS = [("32->32", (32,)), ("2x32->32", (32, 32))]


def fused_work(cin, cout, pixels, itemsize, backward):
    """(bytes, flops) the fused op must move and compute at least: each tensor read or written
    once; the forward's depthwise and pointwise products, and in the backward the recomputed
    depthwise, g_d, the pointwise weight gradient, the input and depthwise weight gradients."""
    moved = (cin + cout) * pixels * itemsize
    flops = 2 * pixels * (9 * cin + cin * cout)
    if backward:
        moved += (2 * cout + 2 * cin) * pixels * itemsize  # grad, output, inputs; input grads
        flops += 2 * pixels * (27 * cin + 2 * cin * cout)
    return moved, flops


def make_step(fn, inputs, weights, backward):
    if not backward:
        return lambda: fn(inputs, *weights, "relu")
    inputs = [t.detach().requires_grad_() for t in inputs]
    weights = [w.detach().requires_grad_() for w in weights]
    n, _, h, w = inputs[0].shape
    grad = torch.rand(n, weights[2].shape[0], h, w, dtype=inputs[0].dtype,
                      device=inputs[0].device)

    def step():
        for t in inputs + weights:
            t.grad = None
        fn(inputs, *weights, "relu").backward(grad)
    return step


def main():
    args, device, dtype = parse_args(__doc__)
    compiled = torch.compile(reference.dsconv, dynamic=False)
    impls = {"eager": reference.dsconv, "compile": compiled, "fused": ops.dsconv}

    ceilings = None
    if device.type == "cuda":
        ceilings = copy_bandwidth_gbs(device), fp32_fma_gflops(device)
    else:
        level = sgz_fast.cpu_capability()
        ceilings = None, peak_gflops(level, torch.get_num_threads())[0]
    rows, data = [], []
    for h, w in (SIZES[1:] if device.type == "cuda" else SIZES):
        for label, channels in LAYERS:
            cin = sum(channels)
            inputs = [torch.rand(1, c, h, w, device=device, dtype=dtype) for c in channels]
            weights = [torch.randn(cin, 1, 3, 3, device=device, dtype=dtype) / 3,
                       torch.randn(cin, device=device, dtype=dtype),
                       torch.randn(32, cin, 1, 1, device=device, dtype=dtype) / cin**0.5,
                       torch.randn(32, device=device, dtype=dtype)]
            for mode, backward in (("forward", False), ("forward+backward", True)):
                steps = {name: make_step(fn, inputs, weights, backward)
                         for name, fn in impls.items()}
                times = time_side_by_side(steps, device, args.min_run_time)
                fused = times["fused"].median_ms
                row = {"size": f"{w}x{h}", "layer": label, "mode": mode,
                       **{f"{k}_ms": round(v.median_ms, 3) for k, v in times.items()},
                       **{f"{k}_iqr_ms": round(v.iqr_ms, 3) for k, v in times.items()},
                       "fused_vs_eager": round(times["eager"].median_ms / fused, 2),
                       "fused_vs_compile": round(times["compile"].median_ms / fused, 2)}
                line = (f"| {w}x{h} | {label} | {mode} | {times['eager'].median_ms:.2f} | "
                        f"{times['compile'].median_ms:.2f} | {fused:.2f} ± {times['fused'].iqr_ms:.2f}"
                        f" | {row['fused_vs_eager']:.1f}x | {row['fused_vs_compile']:.2f}x |")
                if ceilings is not None:
                    moved, flops = fused_work(cin, 32, h * w, inputs[0].element_size(), backward)
                    row["fused_gbs"] = round(moved / (fused * 1e-3) / 1e9, 1)
                    row["fused_gflops"] = round(flops / (fused * 1e-3) / 1e9, 1)
                    gbs, gflops = row["fused_gbs"], row["fused_gflops"]
                    if ceilings[0] is not None:
                        line += f" {gbs:.0f} ({gbs / ceilings[0]:.0%}) |"
                    line += f" {gflops:.0f} ({gflops / ceilings[1]:.0%}) |"
                rows.append(line)
                data.append(row)
                print(line, flush=True)

    gpu = device.type == "cuda"
    header = ["| size | layer | pass | eager ms | compile ms | fused ms (± IQR) | vs eager | "
              "vs compile |" + (" fused GB/s (of copy) |" if gpu else "")
              + " fused GFLOP/s (of FMA peak) |",
              "|---|---|---|---|---|---|---|---|" + ("---|" if gpu else "") + "---|"]
    notes = [f"- op: dsconv, batch 1, {args.dtype}, ReLU, biases; forward+backward: gradients "
             "for inputs and all weights",
             "- times: median of torch.utils.benchmark blocked_autorange after warm-up; ratios = "
             "other / fused"]
    if gpu:
        notes.append(f"- measured ceilings: copy {ceilings[0]:.0f} GB/s (read + write), float32 "
                     f"FMA {ceilings[1]:.0f} GFLOP/s (matmul without TF32); fused GB/s and GFLOP/s "
                     "count the least bytes and operations of the op (bench_dsconv.fused_work)")
    else:
        notes.append(f"- FMA peak of level {sgz_fast.cpu_capability()} on "
                     f"{torch.get_num_threads()} threads: {ceilings[1]:.0f} GFLOP/s "
                     "(bench_fma_peak.py); GFLOP/s count the op's least operations "
                     "(bench_dsconv.fused_work)")
    path = write_report(f"dsconv-{args.dtype}", device, notes, header + rows, data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
