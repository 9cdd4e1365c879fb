"""SGZ forward: fused vs reference eager vs torch.compile(reference) vs ONNX Runtime, side by side.

    python benchmarks/bench_model.py [--device cpu|cuda] [--dtype float32|float16|bfloat16]

Batch 1, random weights (time does not depend on them). "fused" is SGZ.enhance on a float
image; "fused uint8" is SGZ.enhance_uint8 on the 8-bit frame (what sgz-enhance runs); the
others run the reference backend's forward. ONNX Runtime (CPU provider, on the CPU only)
runs the graph of sgz_fast.export. On CUDA the cases are the GPU goals' sizes.
"""
import tempfile
from pathlib import Path

import torch

from harness import parse_args, time_side_by_side, write_report
from sgz_fast.export import export_model
from sgz_fast.model import SGZ

CPU_CASES = [(12, 1080, 1920), (1, 512, 512)]
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
    rows, data = [], []
    for s, h, w in CUDA_CASES if device.type == "cuda" else CPU_CASES:
        fused = SGZ(s, backend="fused").to(device, dtype).eval()
        reference = SGZ(s, backend="reference").to(device, dtype).eval()
        reference.load_state_dict(fused.state_dict())
        x = torch.rand(1, 3, h, w, device=device, dtype=dtype)
        frame = (x[0].permute(1, 2, 0) * 255).to(torch.uint8).contiguous()
        with torch.inference_mode():
            steps = {"fused": lambda: fused.enhance(x),
                     "fused uint8": lambda: fused.enhance_uint8(frame),
                     "eager": lambda: reference(x)}
            if not args.no_compile:
                compiled = torch.compile(reference, dynamic=False)
                steps["compile"] = lambda: compiled(x)
            if device.type == "cpu" and dtype == torch.float32:
                onnx = onnx_step(reference, x)
                if onnx is not None:
                    steps["onnxruntime"] = onnx
            times = time_side_by_side(steps, device, args.min_run_time)
        best = times["fused"].median_ms
        row = {"scale_factor": s, "size": f"{w}x{h}",
               **{f"{k}_ms": round(v.median_ms, 3) for k, v in times.items()},
               **{f"{k}_iqr_ms": round(v.iqr_ms, 3) for k, v in times.items()},
               **{f"fused_vs_{k}": round(v.median_ms / best, 2) for k, v in times.items()
                  if not k.startswith("fused")}}
        others = " | ".join(f"{times[k].median_ms:.1f} ({times[k].median_ms / best:.1f}x)"
                            if k in times else "-" for k in ("eager", "compile", "onnxruntime"))
        line = (f"| {s} | {w}x{h} | {best:.2f} ± {times['fused'].iqr_ms:.2f} | "
                f"{times['fused uint8'].median_ms:.2f} | {others} |")
        rows.append(line)
        data.append(row)
        print(line, flush=True)
    header = ["| scale | size | fused ms (± IQR) | fused uint8 ms | eager ms (vs fused) | "
              "compile ms (vs fused) | ONNX Runtime ms (vs fused) |",
              "|---|---|---|---|---|---|---|"]
    notes = [f"- SGZ forward, batch 1, {args.dtype}; fused = SGZ.enhance (the enhanced image, as "
             "sgz-enhance uses it); the others compute (enhanced, x_r)",
             "- times: median of torch.utils.benchmark blocked_autorange after warm-up; "
             "(Nx) = that time / fused"]
    path = write_report(f"model-{args.dtype}", device, notes, header + rows, data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
