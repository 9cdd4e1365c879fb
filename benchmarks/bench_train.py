"""One SGZ training step: fused vs reference backend, side by side; then, with the semantic
term on, where the step's time goes.

    python benchmarks/bench_train.py [--device cpu|cuda] [--batch 2] [--size 256]

A step is sgz_fast.train.train_step: forward, the SGZ loss, backward, gradient-norm clip, Adam,
float32. Both backends start from the same weights and train on the same batch. torch.compile
is not timed: inductor did not finish compiling the curve's backward in 5 minutes on the 2-core
development machine (bench_curve.py).
"""
import argparse
import sys

import torch

from harness import parse_args, time_side_by_side, write_report
from sgz_fast import train
from sgz_fast.model import SGZ
from sgz_fast.semantic import build_semantic


def step_fn(model, semantic, images, args):
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    return lambda: train.train_step(model, semantic, optimizer, images, args)


def semantic_split(semantic, images, device, min_run_time):
    """Times of the semantic network alone: forward, and forward + backward to the image."""
    enhanced = images.detach().clone().requires_grad_()

    def backward():
        enhanced.grad = None
        semantic(enhanced).sum().backward()
    return time_side_by_side({"semantic forward": lambda: semantic(images),
                              "semantic forward+backward": backward}, device, min_run_time)


def main():
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--batch", type=int, default=2)
    extra.add_argument("--size", type=int, default=256)
    extra.add_argument("--semantic", default="efficientnet-lite0")
    ours, rest = extra.parse_known_args()
    sys.argv = sys.argv[:1] + rest
    bench, device, dtype = parse_args(__doc__)
    if dtype != torch.float32:
        raise SystemExit("bench_train: training runs in float32 (autocast is --amp of sgz-train)")
    args = train.build_parser().parse_args([])
    torch.manual_seed(0)
    images = torch.rand(ours.batch, 3, ours.size, ours.size, device=device) ** 2
    fused = SGZ(backend="fused").to(device)
    reference = SGZ(backend="reference").to(device)
    reference.load_state_dict(fused.state_dict())

    steps = {"reference": step_fn(reference, None, images, args),
             "fused": step_fn(fused, None, images, args)}
    times = time_side_by_side(steps, device, bench.min_run_time)
    ratio = times["reference"].median_ms / times["fused"].median_ms
    rows = [f"| semantic off | {k} step | {v.median_ms:.1f} ± {v.iqr_ms:.1f} |"
            for k, v in times.items()]
    rows.append(f"| semantic off | reference / fused | {ratio:.2f}x |")
    data = {"semantic_off": {k: round(v.median_ms, 3) for k, v in times.items()},
            "fused_speedup": round(ratio, 2)}
    print("\n".join(rows), flush=True)

    semantic = build_semantic(ours.semantic, args.num_of_SegClass).to(device)
    on = time_side_by_side({"fused step": step_fn(fused, semantic, images, args)}, device,
                           bench.min_run_time)
    on.update(semantic_split(semantic, images, device, bench.min_run_time))
    total = on["fused step"].median_ms
    for name, timing in on.items():
        share = f" ({100 * timing.median_ms / total:.0f}% of the step)" if name != "fused step" else ""
        rows.append(f"| semantic {ours.semantic} | {name} | {timing.median_ms:.1f} ± "
                    f"{timing.iqr_ms:.1f}{share} |")
    sgz_part = total - on["semantic forward+backward"].median_ms
    rows.append(f"| semantic {ours.semantic} | rest of the step (SGZ net, losses, Adam) | "
                f"{sgz_part:.1f} ({100 * sgz_part / total:.0f}%) |")
    data["semantic_on"] = {k: round(v.median_ms, 3) for k, v in on.items()}
    print("\n".join(rows[-4:]), flush=True)

    header = ["| configuration | timing | ms (± IQR) |", "|---|---|---|"]
    notes = [f"- SGZ training step (train.train_step): batch {ours.batch}, {ours.size}x{ours.size}, "
             "float32, forward + loss + backward + clip + Adam",
             "- times: median of torch.utils.benchmark blocked_autorange after warm-up"]
    path = write_report(f"train-b{ours.batch}-{ours.size}", device, notes, header + rows, data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
