"""sgz_fast.denoise: what it does to SGZ's output on noisy dark photos, and how fast.

    python benchmarks/bench_denoise.py

Quality: five scikit-image photos (the filters' constants were chosen on these) and two held
out (retina at half size, hubble_deep_field), each darkened twice by
classical.metrics.synthetic_low_light (seed 3), with and without its Poisson-Gaussian noise
(the same draw otherwise). The target is SGZ's output (bundled weights, scale 12) on the
noise-free dark photo; the table gives the RMS difference (levels) and SSIM between the target
and SGZ's output on the noisy photo, as it is, denoised, and through fast's filter per channel
(its former filter, at its grid and eps), and how much denoising changes the output of the
noise-free photo. Then large photos (retina at full size, three photos upscaled): fast as it
is (s = 2), and at the grid it had before (a short side of 256 at low resolution), and what
fast changes on the noise-free photo. Speed: the modes on a 1920x1080 frame at the running CPU level: a photo (median of 20
calls, the noise measured each time) and, for fast, a video's frames (VideoDenoiser, the mean
of 90 frames, the noise measured every NOISE_EVERY frames), at 1080p and at 3840x2160.
"""
import time

import cv2
import numpy as np
import torch
from skimage import data
from skimage.metrics import structural_similarity

from classical.metrics import synthetic_low_light
from harness import write_report
from sgz_fast import ops
from sgz_fast.denoise import (K, MAX_GAIN, RADIUS, VideoDenoiser, _LUMA, _scale_for, denoise,
                              guided_filter, noise_sigma)
from sgz_fast.model import load_sgz

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
HELD_OUT = ("retina", "hubble_deep_field")
# (photo, upscaling)
LARGE = (("retina", 1), ("astronaut", 3), ("chelsea", 4), ("immunohistochemistry", 4))


def photo(name):
    image = getattr(data, name)()[:, :, :3]
    return image[::2, ::2].copy() if name == "retina" else image  # 1411 px: halved


def large_photo(name, upscaling):
    image = getattr(data, name)()[:, :, :3]
    return cv2.resize(image, None, fx=upscaling, fy=upscaling, interpolation=cv2.INTER_CUBIC)


def darkened(image):
    """(noise-free, noisy): the same draw of synthetic_low_light but for the noise."""
    return (synthetic_low_light(image, np.random.default_rng(3), noise=False)[0],
            synthetic_low_light(image, np.random.default_rng(3))[0])


def rms(a, b):
    return float(np.sqrt(((a.astype(np.float64) - b) ** 2).mean()))


def per_channel(dark, enhanced):
    """fast's filter per channel (guided_coefficients and affine_uint8, fast's former ops) at
    fast's grid and eps: what the colour filter is compared with."""
    sigma, s = noise_sigma(dark, enhanced), _scale_for(*dark.shape[:2], False)
    frames = [torch.from_numpy(x)[None] for x in (enhanced, dark)]
    guide, eps = ops.guided_inputs_uint8(*frames, s, K * sigma / s, MAX_GAIN, _LUMA["rgb"])
    return ops.affine_uint8(frames[0], *ops.guided_coefficients(guide, eps, RADIUS))[0].numpy()


def video_frame_ms(dark, enhanced, frames=90):
    """fast's mean time per frame of a video of `frames` copies of one frame."""
    clean = VideoDenoiser("fast")
    clean(dark, enhanced)
    start = time.perf_counter()
    for _ in range(frames):
        clean(dark, enhanced)
    return 1e3 * (time.perf_counter() - start) / frames


def main():
    model = load_sgz()

    def sgz(dark):
        with torch.no_grad():
            return model.enhance_uint8(torch.from_numpy(dark)).numpy()

    rows, results = [], {}
    for name in PHOTOS + HELD_OUT:
        clean, noisy = darkened(photo(name))
        target, enhanced = sgz(clean), sgz(noisy)
        outs = {mode: denoise(noisy, enhanced, mode) for mode in ("off", "fast", "best")}
        outs["per-channel"] = per_channel(noisy, enhanced)
        r = {mode: rms(out, target) for mode, out in outs.items()}
        s = {mode: structural_similarity(target, out, channel_axis=2) for mode, out in outs.items()}
        kept = {mode: rms(denoise(clean, target, mode), target) for mode in ("fast", "best")}
        results[name] = {"rms": r, "ssim": s, "noise_free_change": kept}
        label = f"{name} (held out)" if name in HELD_OUT else name
        rows.append(f"| {label} | {r['off']:.2f} / {s['off']:.3f} | {r['fast']:.2f} / "
                    f"{s['fast']:.3f} | {r['best']:.2f} / {s['best']:.3f} | "
                    f"{r['per-channel']:.2f} / {s['per-channel']:.3f} | "
                    f"{kept['fast']:.2f} / {kept['best']:.2f} |")
    modes = ("off", "fast", "best", "per-channel")
    for label, names in (("mean RMS, the five", PHOTOS), ("mean RMS, held out", HELD_OUT)):
        mean = {m: np.mean([results[n]["rms"][m] for n in names]) for m in modes}
        rows.append(f"| {label} | {mean['off']:.2f} | " + " | ".join(
            f"{mean[m]:.2f} ({100 * (1 - mean[m] / mean['off']):.1f}% less)"
            for m in modes[1:]) + " | |")

    large_rows = []
    for name, upscaling in LARGE:
        clean, noisy = darkened(large_photo(name, upscaling))
        target, enhanced = sgz(clean), sgz(noisy)
        off = rms(enhanced, target)
        coarse = max(1, min(noisy.shape[:2]) // 256)
        r = {"off": off, "fast": rms(denoise(noisy, enhanced, "fast"), target),
             "256 px grid": rms(guided_filter(noisy, enhanced, noise_sigma(noisy, enhanced),
                                              coarse), target)}
        kept = rms(denoise(clean, target, "fast"), target)
        results[f"{name} x{upscaling}"] = {"rms": r, "noise_free_change": kept}
        height, width = clean.shape[:2]
        upscaled = f" (upscaled {upscaling}x)" if upscaling != 1 else ""
        large_rows.append(
            f"| {name} {width}x{height}{upscaled} | {off:.2f} | {r['fast']:.2f} "
            f"({100 * (1 - r['fast'] / off):.0f}% less) | {r['256 px grid']:.2f} "
            f"({100 * (1 - r['256 px grid'] / off):.0f}% less, s = {coarse}) | {kept:.2f} |")

    rng = np.random.default_rng(0)
    dark = rng.integers(0, 40, (1080, 1920, 3), dtype=np.uint8)
    enhanced = np.clip(dark.astype(np.float32) * 4, 0, 255).astype(np.uint8)
    timing = {}
    for mode in ("fast", "best"):
        denoise(dark, enhanced, mode)
        times = []
        for _ in range(20 if mode == "fast" else 5):
            start = time.perf_counter()
            denoise(dark, enhanced, mode)
            times.append(time.perf_counter() - start)
        timing[mode] = 1e3 * float(np.median(times))
    timing["fast_video_frame"] = video_frame_ms(dark, enhanced)
    dark_4k = rng.integers(0, 40, (2160, 3840, 3), dtype=np.uint8)
    timing["fast_video_frame_4k"] = video_frame_ms(
        dark_4k, np.clip(dark_4k.astype(np.float32) * 4, 0, 255).astype(np.uint8))
    results["ms_1080p"] = timing
    table = ["| photo | off: RMS / SSIM | fast | best | fast's filter per channel | on the "
             "noise-free photo: change (RMS), fast / best |", "|---|---|---|---|---|---|", *rows,
             "",
             "| large photo | off: RMS | fast | fast at a 256 px grid | on the noise-free "
             "photo: change (RMS), fast |", "|---|---|---|---|---|", *large_rows, "",
             f"1920x1080 photo: fast {timing['fast']:.1f} ms, best {timing['best']:.0f} ms "
             f"(median); video frames: fast {timing['fast_video_frame']:.1f} ms at 1080p, "
             f"{timing['fast_video_frame_4k']:.1f} ms at 4K (mean)"]
    print("\n".join(table))
    notes = ["- target: SGZ (bundled weights, scale 12) on the photo darkened without noise; "
             "RMS in levels (lower is better), SSIM (higher is better)"]
    path = write_report("denoise", torch.device("cpu"), notes, table, results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
