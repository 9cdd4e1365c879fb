"""One SGZ training step: fused vs reference backend, side by side; then, with the semantic
term on, where the step's time goes.

    python benchmarks/bench_train.py [--device cpu|cuda] [--batch 2] [--size 256] [--rounds 5]
                                     [--cpu-time]

A step is sgz_fast.train.train_step: forward, the SGZ loss, backward, gradient-norm clip, Adam,
float32. "fused, per-layer network" is the fused backend with the seven per-layer dsconv ops
in place of the whole-network op and its backward (the CPU's path before 2026-11-30; CUDA's).
All start from the same weights and train on the same batch. The timings
are taken in rounds, alternating the order, and the medians over rounds are reported: on a
shared machine the load drifts, and timings taken back to back compare better. --cpu-time (CPU
only) times one thread by this process's CPU time, which other jobs on the machine barely
disturb. torch.compile is not timed: inductor did not finish compiling the curve's backward in
5 minutes on the 2-core development machine (bench_curve.py).
"""
import statistics
import time

import torch

from harness import parse_args, time_side_by_side, write_report
from sgz_fast import train
from sgz_fast.model import SGZ
from sgz_fast.semantic import build_semantic


def step_fn(model, semantic, images, args):
    optimizer = train.make_optimizer(model, args)
    return lambda: train.train_step(model, semantic, optimizer, images, args)


def semantic_steps(semantic, images):
    """The semantic network alone: forward, and forward + backward to the image."""
    enhanced = images.detach().clone().requires_grad_()

    def backward():
        enhanced.grad = None
        semantic(enhanced).sum().backward()
    return {"semantic forward": lambda: semantic(images), "semantic forward+backward": backward}


def add_semantic_share(rows, data, semantic, steps, fused, images, args, ours, device, timer):
    """Times the fused step with the semantic term on, and the semantic network alone; adds
    the rows and data."""
    on = {"fused step, semantic on": step_fn(fused, semantic, images, args),
          "fused step, semantic off": steps["fused"], **semantic_steps(semantic, images)}
    on, _ = in_rounds(on, ours.rounds, device, ours.min_run_time, timer)
    total = on["fused step, semantic on"]
    for name, ms in on.items():
        rows.append(f"| semantic {ours.semantic} | {name} | {ms:.1f} "
                    f"({100 * ms / total:.0f}% of the step) |")
    data["semantic_on_ms"] = {k: round(v, 3) for k, v in on.items()}
    print("\n".join(rows[-len(on):]), flush=True)


def in_rounds(steps, rounds, device, min_run_time, timer):
    """{name: median over rounds of the median ms}, and the per-round timings."""
    results = []
    for r in range(rounds):
        order = list(steps) if r % 2 == 0 else list(reversed(steps))
        results.append(time_side_by_side({k: steps[k] for k in order}, device, min_run_time,
                                         timer))
    return {k: statistics.median(t[k].median_ms for t in results) for k in steps}, results


def main():
    ours, device, dtype = parse_args(__doc__, [
        ("--batch", {"type": int, "default": 2}),
        ("--size", {"type": int, "default": 256}),
        ("--semantic", {"default": "efficientnet-lite0"}),
        ("--rounds", {"type": int, "default": 5}),
        ("--cpu-time", {"action": "store_true", "help": "1 thread, process CPU time"})])
    if dtype != torch.float32:
        raise SystemExit("bench_train: training runs in float32 (autocast is --amp of sgz-train)")
    timer = time.perf_counter
    if ours.cpu_time:
        torch.set_num_threads(1)
        timer = time.process_time
    clock = "CPU time of 1 thread" if ours.cpu_time else f"wall time, {torch.get_num_threads()} threads"
    args = train.build_parser().parse_args([])
    torch.manual_seed(0)
    images = torch.rand(ours.batch, 3, ours.size, ours.size, device=device) ** 2
    fused = SGZ(backend="fused").to(device)
    reference = SGZ(backend="reference").to(device)
    reference.load_state_dict(fused.state_dict())
    # The fused backend with the seven per-layer ops instead of the whole-network op and its
    # backward (the CPU's training path before 2026-11-30, CUDA's now).
    per_layer = SGZ(backend="fused").to(device)
    per_layer.load_state_dict(fused.state_dict())
    per_layer._whole_network_fused = lambda x_down: False

    steps = {"reference": step_fn(reference, None, images, args),
             "fused": step_fn(fused, None, images, args),
             "fused, per-layer network": step_fn(per_layer, None, images, args)}
    times, results = in_rounds(steps, ours.rounds, device, ours.min_run_time, timer)
    rows = [f"| semantic off | {k} step | {v:.1f} |" for k, v in times.items()]
    data = {"clock": clock, "semantic_off_ms": {k: round(v, 3) for k, v in times.items()}}
    for name, key in (("fused", "fused_speedup"),
                      ("fused, per-layer network", "per_layer_speedup")):
        ratios = sorted(t["reference"].median_ms / t[name].median_ms for t in results)
        ratio = statistics.median(ratios)
        rows.append(f"| semantic off | reference / {name} | **{ratio:.2f}x** (rounds: "
                    f"{', '.join(f'{x:.2f}' for x in ratios)}) |")
        data.update({key: round(ratio, 2), f"{key}_rounds": [round(x, 2) for x in ratios]})
    print("\n".join(rows), flush=True)

    semantic = build_semantic(ours.semantic, args.num_of_SegClass)
    if semantic is not None:  # --semantic none: the semantic term's share is not measured
        add_semantic_share(rows, data, semantic.to(device), steps, fused, images, args, ours,
                           device, timer)

    header = ["| configuration | timing | ms |", "|---|---|---|"]
    notes = [f"- SGZ training step (train.train_step): batch {ours.batch}, {ours.size}x{ours.size}, "
             "float32, forward + loss + backward + clip + Adam",
             f"- clock: {clock}; median of torch.utils.benchmark blocked_autorange after warm-up, "
             f"then the median over {ours.rounds} rounds (order alternating)"]
    name = f"train-b{ours.batch}-{ours.size}" + ("-cputime" if ours.cpu_time else "")
    path = write_report(name, device, notes, header + rows, data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
