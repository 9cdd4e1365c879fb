"""The quick-start demo: ``python -m sgz_fast.demo`` enhances the bundled dark samples
(sgz_fast/samples/) with SGZ and its bundled weights into demo_output/, and writes
comparison.png, each dark input beside its enhanced version. Give images or folders to
enhance your own; everything else works as in sgz-enhance."""
import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from . import enhance, imageio
from .jobs import find_jobs

SAMPLES = Path(__file__).resolve().parent / "samples"
COMPARISON = "comparison.png"


def side_by_side(pairs, height=256, max_width=1024):
    """One image: a row per input, dark input left, enhanced right, each `height` tall, or less
    where it would be wider than `max_width` (a panorama; a 1-pixel strip is not made 1,000
    times as wide as tall)."""
    rows = []
    for before, after in pairs:
        h, w = before.shape[:2]
        scale = min(height / h, max_width / w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        row = [np.asarray(Image.fromarray(a).resize(size, Image.LANCZOS)) for a in (before, after)]
        rows.append(np.concatenate(row, axis=1))
    widest = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, widest - r.shape[1]), (0, 0))) for r in rows]
    return np.concatenate(rows, axis=0)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sgz_fast.demo",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="*", help="images or folders (default: the samples)")
    parser.add_argument("-o", "--output", default="demo_output", help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args, passed_on = parser.parse_known_args(argv)
    inputs = args.inputs or [str(SAMPLES)]
    comparison = Path(args.output) / COMPARISON
    if comparison.exists() and not args.overwrite:
        parser.error(f"{comparison} exists already; pass --overwrite to replace it or choose "
                     "another --output")
    jobs, _ = find_jobs(inputs, Path(args.output))
    if any(job.target.resolve() == comparison.resolve() for job in jobs):
        parser.error(f"an input would be written to {comparison}, the comparison image; "
                     "rename it or choose another --output")
    status = enhance.main([*inputs, "-o", args.output, *passed_on]
                          + (["--overwrite"] if args.overwrite else []))
    pairs = []
    for job in jobs:
        if job.is_video or not job.target.exists():
            continue
        before, after = (imageio.to_uint8(imageio.to_tensor(imageio.read_rgb(path)))
                         for path in (job.source, job.target))  # 16-bit files shown at 8
        pairs.append((before, after))
        print(f"{job.source}: mean {pairs[-1][0].mean():.0f} -> {pairs[-1][1].mean():.0f} of 255")
    if pairs:
        imageio.save_rgb(side_by_side(pairs), comparison)
        print(f"side by side: {comparison}")
    return status


if __name__ == "__main__":
    sys.exit(main())
