"""Compares the classical methods (and SGZ with --with-sgz): python -m classical.compare

Writes <out>/<date>-classical-comparison.md, a table of time per megapixel, peak memory,
PSNR/SSIM on synthetic low-light pairs (CC0 photos from skimage.data darkened by
classical.metrics.synthetic_low_light with a fixed seed) and no-reference measures (LOE,
entropy, colourfulness, NIQE, BRISQUE, PIQE) on real dark inputs (default: the bundled samples), and
<out>/<date>-classical-grid.jpg, inputs as rows and methods as columns (JPEG at quality 90:
a PNG of these photo tiles is several times larger).
"""
import argparse
import datetime
import platform
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from skimage import data

from sgz_fast.jobs import Enhancer, find_jobs
from sgz_fast.imageio import READ_ERRORS, read_rgb
from sgz_fast.model import load_sgz

from . import METHODS, metrics
from ._image import from_float

ROOT = Path(__file__).resolve().parent.parent
PAIR_PHOTOS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee,
               "rocket": data.rocket, "motorcycle": lambda: data.stereo_motorcycle()[0]}
SEED = 0
BUNDLED = object()  # --with-sgz given without a path


def sgz_method(weights=None):
    """SGZ (sgz_fast.model) as one more method, at scale factor 12 as published, with the
    weights at `weights` (None: the bundled default), run as sgz-enhance runs it (uint8 images
    through SGZ.enhance_uint8, float ones rounded as torchvision's save_image rounds; (H, W, 3)
    uint8 out). A missing or unreadable weights file raises FileNotFoundError / ValueError
    with the path in the message."""
    enhancer = Enhancer(load_sgz(weights, scale_factor=12), torch.device("cpu"), torch.float32)
    return lambda image: enhancer([image])[0]


def measure(fn, image):
    """(output, seconds, peak bytes allocated through Python/numpy during the call).
    tracemalloc sees numpy's buffers but not OpenCV's internal ones: a lower bound."""
    tracemalloc.start()
    start = time.perf_counter()
    out = fn(image)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak


def evaluate(methods, dark_inputs):
    """Per method: mean ms/MP, peak MB/MP, PSNR, SSIM (pairs), LOE, entropy, colourfulness
    (dark inputs); plus the outputs on the dark inputs for the grid."""
    rng = np.random.default_rng(SEED)
    pairs = [(load(), metrics.synthetic_low_light(load(), rng)[0]) for load in PAIR_PHOTOS.values()]
    rows, outputs = {}, {}
    for name, fn in methods.items():
        fn(pairs[0][1])  # warm-up: first-call costs (imports, FFT plans) are not the method's
        ms_mp, mb_mp, psnr, ssim = [], [], [], []
        for clean, dark in pairs:
            out, seconds, peak = measure(fn, dark)
            mp = dark.shape[0] * dark.shape[1] / 1e6
            ms_mp.append(seconds * 1e3 / mp)
            mb_mp.append(peak / 2**20 / mp)
            psnr.append(metrics.psnr(clean, out))
            ssim.append(metrics.ssim(clean, out))
        outs = [fn(image) for image in dark_inputs]
        outputs[name] = outs
        rows[name] = {
            "ms/MP": np.median(ms_mp), "peak MB/MP": np.median(mb_mp),
            "PSNR": np.mean(psnr), "SSIM": np.mean(ssim),
            "LOE": np.mean([metrics.loe(a, b) for a, b in zip(dark_inputs, outs)]),
            "entropy": np.mean([metrics.entropy(o) for o in outs]),
            "colourfulness": np.mean([metrics.colourfulness(o) for o in outs]),
            **no_reference_scores(outs),
        }
    dark_row = {"PSNR": np.mean([metrics.psnr(c, d) for c, d in pairs]),
                "SSIM": np.mean([metrics.ssim(c, d) for c, d in pairs]),
                "LOE": 0.0, "entropy": np.mean([metrics.entropy(d) for d in dark_inputs]),
                "colourfulness": np.mean([metrics.colourfulness(d) for d in dark_inputs]),
                **no_reference_scores(dark_inputs)}
    return rows, dark_row, outputs


def no_reference_scores(images):
    """Mean NIQE, BRISQUE and PIQE of `images` (each left out where it cannot be computed:
    BRISQUE without the brisque package's model or below 32 x 32 pixels, NIQE below 192 x 192)."""
    scores = {}
    for name, fn in (("NIQE", metrics.niqe), ("BRISQUE", metrics.brisque), ("PIQE", metrics.piqe)):
        try:
            scores[name] = np.mean([fn(image) for image in images])
        except (RuntimeError, ValueError) as error:
            print(f"classical.compare: {name} left out: {error}", file=sys.stderr)
    return scores


def table(rows, dark_row):
    cols = ["ms/MP", "peak MB/MP", "PSNR", "SSIM", "LOE", "entropy", "colourfulness", "NIQE",
            "BRISQUE", "PIQE"]
    fmt = {"ms/MP": "{:.1f}", "peak MB/MP": "{:.0f}", "PSNR": "{:.2f}", "SSIM": "{:.3f}",
           "LOE": "{:.0f}", "entropy": "{:.2f}", "colourfulness": "{:.1f}", "NIQE": "{:.2f}",
           "BRISQUE": "{:.1f}", "PIQE": "{:.1f}"}
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in [("(dark input)", dark_row), *rows.items()]:
        cells = [fmt[c].format(row[c]) if c in row else "–" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def grid(dark_inputs, outputs, height=96):
    """Inputs as rows, methods as columns (the input first), each column labelled."""
    columns = {"input": dark_inputs, **outputs}
    tiles = []
    for i, image in enumerate(dark_inputs):
        width = round(image.shape[1] * height / image.shape[0])
        tiles.append([np.asarray(Image.fromarray(col[i]).resize((width, height), Image.LANCZOS))
                      for col in columns.values()])
    width = max(t.shape[1] for row in tiles for t in row)
    label_h, pad = 16, 2
    canvas = Image.new("RGB", (len(columns) * (width + pad), label_h + len(tiles) * (height + pad)),
                       "white")
    draw = ImageDraw.Draw(canvas)
    for j, name in enumerate(columns):
        draw.text((j * (width + pad) + 4, 2), name, fill="black")
        for i, row in enumerate(tiles):
            canvas.paste(Image.fromarray(row[j]), (j * (width + pad), label_h + i * (height + pad)))
    return canvas


def machine():
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def shown(source):
    """A path for the report: relative to the repository when inside it."""
    path = Path(source).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(source)


def read_inputs(sources):
    """(the images named by `sources` (files, folders, globs) as uint8 RGB, how many specs
    matched nothing or files could not be read: those are reported and left out)."""
    jobs, missing = find_jobs(sources, Path())
    for spec in missing:
        print(f"{spec}: no such file, folder or match", file=sys.stderr)
    images, problems = [], len(missing)
    for job in (job for job in jobs if not job.is_video):
        try:
            image = read_rgb(job.source)
        except READ_ERRORS as error:
            print(f"skipped {job.source}: cannot read it as an image ({error})", file=sys.stderr)
            problems += 1
            continue
        images.append(image if image.dtype == np.uint8 else from_float(image, np.uint8))
    return images, problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="*", help="dark images or folders (default: bundled samples)")
    parser.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    parser.add_argument("--with-sgz", metavar="WEIGHTS", nargs="?", const=BUNDLED,
                        help="add SGZ, with the weights at WEIGHTS or, given no path, the bundled "
                        "default ones (put the option after the inputs, or write --with-sgz=PATH)")
    parser.add_argument("--overwrite", action="store_true", help="replace that date's report")
    args = parser.parse_args(argv)

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        parser.error(f"-o {out} is a file; give a folder")
    if not args.date or Path(args.date).name != args.date:
        parser.error(f"--date {args.date!r} must be a plain name (it starts the files' names)")
    md, grid_path = (out / f"{args.date}-classical-{kind}" for kind in ("comparison.md",
                                                                         "grid.jpg"))
    if not args.overwrite and (md.exists() or grid_path.exists()):
        parser.error(f"{md} exists already; pass --overwrite to replace it, or another --date")
    sources = args.inputs or [str(ROOT / "sgz_fast" / "samples")]
    dark_inputs, problems = read_inputs(sources)
    if not dark_inputs:
        parser.error(f"no readable images in {sources}")
    methods = dict(METHODS)
    if args.with_sgz is not None:
        try:
            methods["sgz"] = sgz_method(None if args.with_sgz is BUNDLED else args.with_sgz)
        except (FileNotFoundError, ValueError) as error:
            parser.exit(2, f"classical.compare: --with-sgz: {error}\n")
    rows, dark_row, outputs = evaluate(methods, dark_inputs)

    out.mkdir(parents=True, exist_ok=True)
    grid(dark_inputs, outputs).save(grid_path, quality=90, optimize=True)
    lines = [f"# Classical methods compared, {args.date}", "",
             f"- machine: {machine()}, no GPU; numpy {np.__version__}",
             f"- time and peak memory: per megapixel, median over {len(PAIR_PHOTOS)} photos "
             f"({', '.join(PAIR_PHOTOS)} from skimage.data, 0.2-0.5 MP), one call each after a "
             "warm-up; peak memory is what tracemalloc sees (numpy buffers, not OpenCV's own)",
             f"- PSNR (dB) / SSIM: enhanced synthetic low light (Lv et al. 2021, seed {SEED}) "
             "against the original photo; higher is better",
             f"- LOE (lower is better), entropy (bits), colourfulness, NIQE, BRISQUE, PIQE (lower "
             f"is better): on {len(dark_inputs)} dark inputs ({', '.join(map(shown, sources))}); "
             "NIQE on sgz_fast's own pristine model (scripts/fit_niqe_model.py), so not on the "
             "MATLAB release's scale; BRISQUE with the brisque package's regressor (see "
             "classical/no_reference.py)",
             "", *table(rows, dark_row), "", f"![grid]({grid_path.name})", ""]
    md.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {md} and {grid_path}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
