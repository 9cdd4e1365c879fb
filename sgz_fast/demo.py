"""Brightens dark images with the fused curve op: ``python -m sgz_fast.demo``.

With no inputs it enhances the bundled dark samples (sgz_fast/samples/) into demo_output/,
with a side-by-side comparison.png. Until the learned SGZ network is in the package, the
enhancement factors come from an exposure target instead of the network: for each
SCALE x SCALE cell, the factor r in [-1, 0] that takes the cell's brightness (the max over
R, G, B, as LIME estimates illumination) to --target after 8 curve steps, found by
bisection. The fused op then upsamples these factors (bilinear, align_corners=True) and
applies the curve at full resolution, as SGZ does with its network's output at scale 12.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from . import _extension, ops, reference
from .imageio import IMAGE_SUFFIXES, read_rgb

SAMPLES = Path(__file__).resolve().parent / "samples"
ITERATIONS = 8


def exposure_factors(image, scale, target, steps=30):
    """Per-cell factors r in [-1, 0] (N, 3, H // scale, W // scale) for a (N, 3, H, W) image:
    the curve applied ITERATIONS times maps each cell's brightness to `target`, or as close
    as r allows. The curve brightens monotonically as r decreases, so bisection finds r."""
    brightness = F.avg_pool2d(image.amax(dim=1, keepdim=True), scale)
    lo = torch.full_like(brightness, -1.0)  # brightest choice
    hi = torch.zeros_like(brightness)       # identity
    for _ in range(steps):
        mid = (lo + hi) / 2
        too_bright = reference.curve_iter(brightness, mid, ITERATIONS) > target
        lo = torch.where(too_bright, mid, lo)
        hi = torch.where(too_bright, hi, mid)
    return ((lo + hi) / 2).expand(-1, 3, -1, -1).contiguous()


def read_image(path):
    """(1, 3, H, W) float32 in [0, 1], upright, 16-bit greyscale at full range (sgz_fast.imageio)."""
    rgb = read_rgb(path)
    rgb = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb
    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_uint8(image):
    # As torchvision's save_image rounds: clamp, scale, +0.5, truncate.
    return image[0].clamp(0, 1).mul(255).add_(0.5).to(torch.uint8).permute(1, 2, 0).numpy()


def side_by_side(pairs, height=256):
    """One image: a row per input, dark input left, enhanced right."""
    rows = []
    for before, after in pairs:
        width = round(before.shape[1] * height / before.shape[0])
        row = [np.asarray(Image.fromarray(a).resize((width, height), Image.LANCZOS))
               for a in (before, after)]
        rows.append(np.concatenate(row, axis=1))
    widest = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, widest - r.shape[1]), (0, 0))) for r in rows]
    return np.concatenate(rows, axis=0)


def collect_inputs(paths):
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(path)
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="*", help="images or folders (default: bundled samples)")
    parser.add_argument("-o", "--output", default="demo_output", help="output folder")
    parser.add_argument("--target", type=float, default=0.5, help="brightness to reach, in (0, 1)")
    parser.add_argument("--scale", type=int, default=12, help="factor cell size in pixels")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)

    files = collect_inputs(args.inputs or [SAMPLES])
    if not files:
        parser.error(f"no images found in {args.inputs}")
    out_dir = Path(args.output)
    planned = [out_dir / f"{f.stem}.png" for f in files] + [out_dir / "comparison.png"]
    if len({p.name for p in planned}) < len(planned):
        parser.error("two inputs share a file name; enhance them into separate --output folders")
    existing = [str(p) for p in planned if p.exists()]
    if existing and not args.overwrite:
        parser.error(f"{len(existing)} output(s) exist already, e.g. {existing[0]}; "
                     "pass --overwrite to replace them or choose another --output")
    device = torch.device(args.device)
    fused = _extension.missing_kernels_message("curve_iter", device) is None
    curve = ops.curve_iter if fused else reference.curve_iter
    print(f"curve op: {'fused kernels' if fused else 'reference PyTorch (extension not built)'}"
          f" on {device}")

    out_dir.mkdir(parents=True, exist_ok=True)
    pairs, failures = [], 0
    for path, target in zip(files, planned):
        try:
            image = read_image(path).to(device)
        except (OSError, UnidentifiedImageError) as error:
            print(f"skipped {path}: cannot read it as an image ({error})", file=sys.stderr)
            failures += 1
            continue
        if min(image.shape[-2:]) < args.scale:
            print(f"skipped {path}: smaller than one {args.scale}x{args.scale} cell", file=sys.stderr)
            failures += 1
            continue
        start = time.perf_counter()
        factors = exposure_factors(image, args.scale, args.target)
        enhanced = curve(image, factors, ITERATIONS)
        elapsed = time.perf_counter() - start
        before, after = to_uint8(image.cpu()), to_uint8(enhanced.cpu())
        Image.fromarray(after).save(target)
        pairs.append((before, after))
        print(f"{path} -> {target}  ({image.shape[-1]}x{image.shape[-2]}, {elapsed * 1e3:.1f} ms, "
              f"mean {before.mean():.0f} -> {after.mean():.0f} of 255)")
    if pairs:
        Image.fromarray(side_by_side(pairs)).save(planned[-1])
        print(f"side by side: {planned[-1]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
