"""Peak memory of SGZ inference on the CPU: how much the process's peak RSS grows during one
call, against the size of the input as float32.

    python benchmarks/bench_memory.py [--cpu-capability avx2]

Each case runs in a fresh subprocess: the model, the input and a small warm-up call first,
then the peak RSS reset to the current RSS (/proc/self/clear_refs), then one call under
inference_mode, then the peak RSS (VmHWM). "fused" is what SGZ runs for
inference (the whole factor network as one op on the CPU); "per-layer" runs the seven dsconv
ops instead, each writing a full-size 32-channel tensor.
"""
import json
import subprocess
import sys

import torch

import sgz_fast
from harness import parse_args, write_report

CASES = [  # (call, scale, height, width, path)
    ("forward", 1, 1080, 1920, "fused"),
    ("forward", 1, 1080, 1920, "per-layer"),
    ("enhance_uint8", 1, 2160, 3840, "fused"),
    ("enhance_uint8", 12, 2160, 3840, "fused"),
]

CHILD = r"""
import json, sys
import torch
import sgz_fast
from sgz_fast.model import SGZ

call, scale, h, w, path, level = sys.argv[1:]
scale, h, w = int(scale), int(h), int(w)
sgz_fast.set_cpu_capability(level)
model = SGZ(scale).eval()
if path == "per-layer":  # the whole-network op off: the seven per-layer ops
    model._whole_network_fused = lambda x_down: False


def make(height, width):
    if call == "forward":
        return torch.rand(1, 3, height, width)
    return torch.randint(0, 256, (height, width, 3), dtype=torch.uint8)


def run(data):
    with torch.inference_mode():
        return model(data) if call == "forward" else model.enhance_uint8(data)


run(make(64, 64))  # warm-up: code paths, thread pools, allocator
data = make(h, w)
# The peak RSS (VmHWM) reset to the current RSS (Linux 4.0 and later): the peak so far is
# start-up's. Not ru_maxrss: it also keeps the peak of the forked copy of the parent before
# exec, the parent's size.
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")


def status_kb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


before = status_kb("VmRSS")
out = run(data)
after = status_kb("VmHWM")
print(json.dumps({"growth_mb": (after - before) / 1024, "float_mb": 3 * h * w * 4 / 2**20,
                  "backend": model.backend}))
"""


def main():
    args, _, _ = parse_args(__doc__)
    level = sgz_fast.cpu_capability()
    rows, data = [], []
    for call, scale, h, w, path in CASES:
        result = subprocess.run([sys.executable, "-c", CHILD, call, str(scale), str(h), str(w),
                                 path, level], check=True, capture_output=True, text=True)
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        ratio = measured["growth_mb"] / measured["float_mb"]
        line = (f"| {call} | {scale} | {w}x{h} | {path} | {measured['growth_mb']:.1f} | "
                f"{measured['float_mb']:.1f} | {ratio:.2f}x |")
        rows.append(line)
        data.append({"call": call, "scale_factor": scale, "size": f"{w}x{h}", "path": path,
                     "growth_mb": round(measured["growth_mb"], 1),
                     "input_float_mb": round(measured["float_mb"], 1), "ratio": round(ratio, 3)})
        print(line, flush=True)
    header = ["| call | scale | size | path | peak RSS growth MB | input as float32 MB | "
              "growth / input |", "|---|---|---|---|---|---|---|"]
    notes = ["- growth of the peak RSS (VmHWM) during one call in a fresh process, from the RSS "
             "after the model, the input and a 64x64 warm-up call",
             "- forward returns (enhanced, x_r): two images of the input's size; enhance_uint8 "
             "takes and returns an 8-bit frame (its float size is the column shown)",
             f"- {torch.get_num_threads()} threads, CPU level {level}"]
    path = write_report("memory", torch.device("cpu"), notes, header + rows, data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
