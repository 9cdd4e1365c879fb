"""sgz-enhance on a 1080p video end to end (decode, enhance, encode to H.264, audio copied),
beside its parts in the same run: decoding alone, encoding alone, the pipeline with the model
replaced by a copy, and the model alone; also end to end with --denoise fast; then the
flicker of the output with --temporal off and on.

    python benchmarks/bench_video.py [--frames 120] [--device cpu|cuda]

The clip is generated with PyAV: H.264 (veryfast) with an AAC tone, a dark moving gradient
with noise. The model is the bundled weights at scale 12, as sgz-enhance runs by default.
"""
import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from classical.metrics import flicker, wobbling_clip
from harness import write_report
from sgz_fast import enhance, video
from sgz_fast.model import load_sgz
from sgz_fast.temporal import DEFAULT_SMOOTHING, FrameStream
from sgz_fast.threads import torch_threads

WIDTH, HEIGHT, FPS = 1920, 1080, 30


def make_clip(path, frames):
    rng = np.random.default_rng(0)
    ramp = np.linspace(5, 60, WIDTH, dtype=np.float32)[None, :, None]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "18"}
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "stereo"
        for i in range(frames):
            noise = rng.normal(0, 3, (HEIGHT // 8, WIDTH // 8, 3)).astype(np.float32)
            noise = noise.repeat(8, axis=0).repeat(8, axis=1)
            rgb = np.clip(np.roll(ramp, 8 * i, axis=1) + noise, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        samples = 48000 * frames // FPS
        tone = (0.1 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = np.stack([tone[start:start + 1024]] * 2)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, start
            for packet in sound.encode(frame):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)


def seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def decode_all(path):
    """The frames as the pipeline decodes them: RGB arrays, FFmpeg's threads on."""
    with av.open(str(path)) as clip:
        stream = clip.streams.video[0]
        stream.thread_type = "AUTO"
        return [video._rgb(f) for f in clip.decode(stream)]


def encode_all(path, frames):
    """The frames to H.264 as the pipeline encodes them (yuv420p, CRF 18, veryfast)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "18"}
        stream.thread_type = "AUTO"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def dark_scenes():
    """Two dark, smooth random 1080p scenes (float levels) for the flicker clips."""
    rng = np.random.default_rng(1)
    return [torch.nn.functional.interpolate(
        torch.from_numpy(rng.uniform(5, 70, (1, 3, 9, 16)).astype(np.float32)), (HEIGHT, WIDTH),
        mode="bicubic")[0].permute(1, 2, 0).clamp(1, 255).numpy() for _ in range(2)]


def flicker_rows(model, frames=60, k=30):
    """Flicker off (--temporal 0) and on (the default) for clips (a) and (b), and on (b) how
    far frame k + 1 (the first of the new scene) is from the per-frame output."""
    rows, data = [], {}
    scenes = dark_scenes()
    for name, clip in (("a: static, noise + 4% exposure wobble", wobbling_clip(scenes, frames)),
                       ("b: as a, cut after frame k = 30", wobbling_clip(scenes, frames, k))):
        outputs = {}
        for smoothing in (0.0, DEFAULT_SMOOTHING):
            stream = FrameStream(model, smoothing)
            outputs[smoothing] = [stream(frame) for frame in clip]
        off, on = flicker(outputs[0.0]), flicker(outputs[DEFAULT_SMOOTHING])
        first_after = ""
        if name.startswith("b"):
            diff = np.abs(outputs[DEFAULT_SMOOTHING][k + 1].astype(int) - outputs[0.0][k + 1])
            first_after = f"max {diff.max()}, mean {diff.mean():.2f}"
        rows.append(f"| {name} | {off[0]:.2f} / {off[1]:.2f} | {on[0]:.2f} / {on[1]:.2f} | "
                    f"{first_after or '-'} |")
        data[name[0]] = {"off": [round(v, 3) for v in off], "on": [round(v, 3) for v in on]}
    return rows, data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    work = Path(tempfile.mkdtemp())
    clip = work / "clip.mp4"
    make_clip(clip, args.frames)

    frames = []
    decode_s = seconds(lambda: frames.extend(decode_all(clip)))
    encode_s = seconds(lambda: encode_all(work / "encoded.mp4", frames))
    copy_s = seconds(lambda: video.transform_video(clip, work / "copy.mp4",
                                                   lambda frame, channels: frame.copy()))
    model = load_sgz(scale_factor=12, device=device)
    batch = torch.from_numpy(frames[0]).to(device)
    model.enhance_uint8(batch)  # first-call costs

    def model_alone():
        with torch_threads(1 if device.type == "cpu" else torch.get_num_threads()):
            for rgb in frames:
                model.enhance_uint8(torch.from_numpy(rgb).to(device)).cpu()
    model_s = seconds(model_alone)
    run = ["--device", args.device, "--temporal", "0"]
    enhance.main([str(clip), "-o", str(work / "warm"), *run])
    total_s = seconds(lambda: enhance.main([str(clip), "-o", str(work / "out"), *run]))
    fast_s = seconds(lambda: enhance.main([str(clip), "-o", str(work / "fast"), *run,
                                           "--preset", "ultrafast"]))
    denoise_s = seconds(lambda: enhance.main([str(clip), "-o", str(work / "denoised"), *run,
                                              "--denoise", "fast"]))
    n = len(frames)
    fps = {"decode_fps": n / decode_s, "encode_fps": n / encode_s,
           "copy_pipeline_fps": n / copy_s, "model_fps": n / model_s,
           "end_to_end_fps": n / total_s, "end_to_end_ultrafast_fps": n / fast_s,
           "end_to_end_denoise_fast_fps": n / denoise_s}
    results = {"frames": n, **{k: round(v, 1) for k, v in fps.items()}}
    line = (f"| {WIDTH}x{HEIGHT} | {n} | {results['decode_fps']} | {results['encode_fps']} | "
            f"{results['copy_pipeline_fps']} | {results['model_fps']} | "
            f"{results['end_to_end_fps']} | {results['end_to_end_ultrafast_fps']} | "
            f"{results['end_to_end_denoise_fast_fps']} |")
    print(line)
    header = ["| size | frames | decode alone fps | encode alone fps | pipeline with a copy "
              "for the model fps | model alone fps | sgz-enhance end to end fps | the same "
              "with --preset ultrafast fps | end to end with --denoise fast fps |",
              "|---|---|---|---|---|---|---|---|---|"]
    notes = [f"- PyAV {av.__version__}; the clip: H.264 1080p30 with an AAC stereo track, copied "
             "to the output packet for packet",
             "- sgz-enhance: bundled weights, scale 12, float32, uint8 frame path, H.264 CRF 18 "
             "veryfast, --temporal 0; decode, model and encode overlap in three threads, "
             "FFmpeg's codec threads on",
             "- one timed run of each after a warm-up run of sgz-enhance; wall clock"]
    flicker_lines, results["flicker"] = flicker_rows(model)
    print("\n".join(flicker_lines))
    flicker_table = ["", f"Flicker of 1080p clips of 60 frames, mean brightness / 16 x 9 block "
                     f"means, levels per frame; on = --temporal {DEFAULT_SMOOTHING}:", "",
                     "| clip | off | on | frame k + 1, on vs off (levels) |",
                     "|---|---|---|---|", *flicker_lines]
    path = write_report("video", device, notes, header + [line] + flicker_table, results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
