"""SGZ forward: fused vs reference eager vs torch.compile(reference) vs ONNX Runtime, side by side.

    python benchmarks/bench_model.py [--device cpu|cuda] [--dtype float32|float16|bfloat16]

Batch 1, random weights (time does not depend on them). "fused" is SGZ.enhance on a float
image (on the CPU the whole factor network is one op, ops.factor_net); "per-layer" the same
with the seven per-layer dsconv ops (what it ran before, and what training runs on CUDA);
"curve" the curve op alone on the same image and factors; "fused uint8" is
SGZ.enhance_uint8 on the 8-bit frame (what sgz-enhance runs); the others run the reference
backend's forward. ONNX Runtime (CPU provider, on the CPU only) runs the graph of
sgz_fast.export. On the CPU the fused network's GFLOP/s are shown against the running
level's FMA peak (bench_fma_peak.py, same threads). On CUDA the cases are the GPU goals'
sizes.
"""
import tempfile
from pathlib import Path

import torch

import sgz_fast
from bench_fma_peak import peak_gflops
from harness import parse_args, time_side_by_side, write_report
from sgz_fast import ops
from sgz_fast.export import export_model
from sgz_fast.model import SGZ

CPU_CASES = [(12, 1080, 1920), (1, 512, 512), (1, 1080, 1920)]


def network_flops(model, x):
    """2 x the factor network's multiply-adds on x's downsampled size: each weight (9 per
    depthwise channel, Cin per pointwise output) multiplies once per pixel; biases are free."""
    h, w = model._network_size(*x.shape[-2:])
    macs = sum(p.numel() for name, p in model.named_parameters() if name.endswith("weight"))
    return 2 * macs * h * w
CUDA_CASES = [(12, 2160, 3840), (12, 1080, 1920), (1, 1080, 1920)]


def onnx_step(model, x):
    """A step running the model's ONNX export under ONNX Runtime, or None without it."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    path = export_model(model, Path(tempfile.mkdtemp()) / "sgz.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"image": x.numpy()}
    return lambda: session.run(None, feed)


def main():
    args, device, dtype = parse_args(__doc__, extra=[
        ("--no-compile", {"action": "store_true",
                          "help": "skip torch.compile (inductor takes minutes on this model)"})])
    peak = None
    if device.type == "cpu":
        peak = peak_gflops(sgz_fast.cpu_capability(), torch.get_num_threads())[0]
    rows, data, network_rows = [], [], []
    for s, h, w in CUDA_CASES if device.type == "cuda" else CPU_CASES:
        fused = SGZ(s, backend="fused").to(device, dtype).eval()
        reference = SGZ(s, backend="reference").to(device, dtype).eval()
        reference.load_state_dict(fused.state_dict())
        x = torch.rand(1, 3, h, w, device=device, dtype=dtype)
        frame = (x[0].permute(1, 2, 0) * 255).to(torch.uint8).contiguous()
        with torch.inference_mode():
            factors = fused.factors(x)
            steps = {"fused": lambda: fused.enhance(x),
                     "per-layer": lambda: fused._curve(
                         x, fused._layer_by_layer(fused.downsample(x), True), True),
                     "curve": lambda: ops.curve_iter(x, factors),
                     "fused uint8": lambda: fused.enhance_uint8(frame),
                     "eager": lambda: reference(x)}
            if device.type == "cuda":  # the network alone, one op against seven
                down, params = fused.downsample(x), list(fused.parameters())
                steps["network, one op"] = lambda: ops.factor_net(down, params)
                steps["network, seven ops"] = lambda: fused._layer_by_layer(down, True)
            if not args.no_compile:
                compiled = torch.compile(reference, dynamic=False)
                steps["compile"] = lambda: compiled(x)
            if device.type == "cpu" and dtype == torch.float32:
                onnx = onnx_step(reference, x)
                if onnx is not None:
                    steps["onnxruntime"] = onnx
            times = time_side_by_side(steps, device, args.min_run_time)
        best = times["fused"].median_ms
        gflops = network_flops(fused, x) / best / 1e6
        row = {"scale_factor": s, "size": f"{w}x{h}",
               **{f"{k}_ms": round(v.median_ms, 3) for k, v in times.items()},
               **{f"{k}_iqr_ms": round(v.iqr_ms, 3) for k, v in times.items()},
               **{f"fused_vs_{k}": round(v.median_ms / best, 2) for k, v in times.items()
                  if not k.startswith("fused")},
               "network_gflops": round(gflops, 1)}
        share = f"{gflops:.0f}"
        if peak:
            row["peak_gflops"] = round(peak, 1)
            row["share_of_peak"] = round(gflops / peak, 3)
            share += f" ({gflops / peak:.0%})"
        others = " | ".join(f"{times[k].median_ms:.1f} ({times[k].median_ms / best:.1f}x)"
                            if k in times else "-"
                            for k in ("per-layer", "eager", "compile", "onnxruntime"))
        line = (f"| {s} | {w}x{h} | {best:.2f} ± {times['fused'].iqr_ms:.2f} | {share} | "
                f"{times['curve'].median_ms:.2f} ({best / times['curve'].median_ms:.2f}x) | "
                f"{times['fused uint8'].median_ms:.2f} | {others} |")
        rows.append(line)
        data.append(row)
        print(line, flush=True)
        if "network, one op" in times:
            one, seven = (times[k].median_ms for k in ("network, one op", "network, seven ops"))
            network_rows.append(f"| {s} | {w}x{h} | {one:.3f} | {seven:.3f} ({seven / one:.2f}x) |")
            print(network_rows[-1], flush=True)
    header = ["| scale | size | fused ms (± IQR) | network GFLOP/s (of FMA peak) | curve alone ms "
              "(fused / curve) | fused uint8 ms | per-layer ms (vs fused) | eager ms (vs fused) "
              "| compile ms (vs fused) | ONNX Runtime ms (vs fused) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    notes = [f"- SGZ forward, batch 1, {args.dtype}; fused = SGZ.enhance (the enhanced image, as "
             "sgz-enhance uses it); the others compute (enhanced, x_r)",
             "- times: median of torch.utils.benchmark blocked_autorange after warm-up; "
             "(Nx) = that time / fused",
             "- network GFLOP/s: 2 x the factor network's multiply-adds (10,075 per pixel of its "
             "input) / the whole fused time, curve and downsampling included"]
    if device.type == "cpu":
        notes.append("- ONNX Runtime picks its kernels by the CPU's own flags: no setting caps "
                     "them at a lower level, as the harness caps PyTorch's")
    if peak:
        notes.append(f"- FMA peak of level {sgz_fast.cpu_capability()} on "
                     f"{torch.get_num_threads()} threads: {peak:.0f} GFLOP/s (bench_fma_peak.py)")
    table = header + rows
    if network_rows:  # CUDA: what the model's CUDA_WHOLE_NETWORK_PIXELS chooses between
        table += ["", "| scale | size | network as one op ms | as seven ops ms (vs one op) |",
                  "|---|---|---|---|", *network_rows]
    path = write_report(f"model-{args.dtype}", device, notes, table, data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
