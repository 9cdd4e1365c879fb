"""sgz-enhance on a 1080p video end to end (decode, enhance, encode), with decode and encode
alone for scale.

    python benchmarks/bench_video.py [--frames 120] [--device cpu|cuda]

The clip is generated (a moving dark gradient with noise, MPEG-4 Part 2 in .mp4, the codec
OpenCV's wheels write); the weights are random (time does not depend on them).
"""
import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from harness import write_report
from sgz_fast import enhance
from sgz_fast.model import SGZ

WIDTH, HEIGHT, FPS = 1920, 1080, 30.0


def make_clip(path, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    rng = np.random.default_rng(0)
    ramp = np.linspace(5, 60, WIDTH, dtype=np.float32)[None, :, None]
    for i in range(frames):
        noise = rng.normal(0, 3, (HEIGHT // 4, WIDTH // 4, 3)).astype(np.float32)
        frame = np.roll(ramp, 8 * i, axis=1) + cv2.resize(noise, (WIDTH, HEIGHT))
        writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    writer.release()


def seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def decode_all(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    return frames


def encode_all(path, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(frame)
    writer.release()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    work = Path(tempfile.mkdtemp())
    clip, weights = work / "clip.mp4", work / "weights.pth"
    make_clip(clip, args.frames)
    torch.save(SGZ().state_dict(), weights)

    frames = []
    decode_s = seconds(lambda: frames.extend(decode_all(clip)))
    encode_s = seconds(lambda: encode_all(work / "copy.mp4", frames))
    run = ["--weights", str(weights), "--device", args.device, "--scale-factor", "12"]
    enhance.main([str(clip), "-o", str(work / "warm"), *run])  # first-call costs
    total_s = seconds(lambda: enhance.main([str(clip), "-o", str(work / "out"), *run]))
    n = len(frames)
    results = {"frames": n, "decode_fps": round(n / decode_s, 1),
               "encode_fps": round(n / encode_s, 1), "end_to_end_fps": round(n / total_s, 1)}
    line = (f"| {WIDTH}x{HEIGHT} | {n} | {results['decode_fps']} | {results['encode_fps']} | "
            f"{results['end_to_end_fps']} |")
    print(line)
    header = ["| size | frames | decode alone fps | encode alone fps | sgz-enhance end to end "
              "fps |", "|---|---|---|---|---|"]
    notes = ["- sgz-enhance on an MPEG-4 (mp4v) clip, scale 12, float32 model, uint8 frame path; "
             "decode, enhance and encode overlap in three threads",
             "- one timed run after a warm-up run; wall-clock time including process-internal "
             "start-up of the pipeline"]
    path = write_report("video", device, notes, header + [line], results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
