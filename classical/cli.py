"""Enhances images with the classical methods: sgz-classical --method NAME|all INPUT... -o OUT/

Inputs are files, folders (searched recursively) and globs, as for sgz-enhance: each output
keeps the input's name and its path under the folder it was found in; with --method all, each
method writes into its own subfolder OUT/<method>/. Inputs are never overwritten, existing
outputs only with --overwrite; unreadable files are reported and skipped, and make the exit
status 1. Videos found in folders are skipped (sgz-enhance handles them).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from sgz_fast import __version__
from sgz_fast.jobs import Job, check_targets, find_jobs
from sgz_fast.imageio import READ_ERRORS, read_photo, save_photo

from . import METHODS
from ._image import from_float


def plan(inputs, out_dir, methods):
    """{image: [(method, output path)]}, the videos found, and the input specs that matched
    nothing. One method writes into `out_dir`, several into `out_dir`/<method>/."""
    jobs, missing = find_jobs(inputs, out_dir)
    images = [job for job in jobs if not job.is_video]
    targets = {}
    for job in images:
        relative = job.target.relative_to(out_dir)
        targets[job.source] = [(name, out_dir / name / relative if len(methods) > 1 else job.target)
                               for name in methods]
    return targets, [job.source for job in jobs if job.is_video], missing


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sgz-classical", description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="images, folders or globs")
    parser.add_argument("-m", "--method", required=True, choices=[*METHODS, "all"])
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)

    if Path(args.output).exists() and not Path(args.output).is_dir():
        parser.error(f"-o {args.output} is a file; give a folder to write into")
    methods = list(METHODS) if args.method == "all" else [args.method]
    targets, videos, missing = plan(args.inputs, Path(args.output), methods)
    for spec in missing:
        print(f"sgz-classical: {spec}: no such file, folder or match", file=sys.stderr)
    if videos:
        print(f"sgz-classical: skipping {len(videos)} video(s), e.g. {videos[0]}: the classical "
              "methods take images (sgz-enhance takes videos)", file=sys.stderr)
    if not targets:
        parser.error("found no images to enhance")
    problem = check_targets([Job(source, target) for source, outputs in targets.items()
                             for _, target in outputs], args.overwrite)
    if problem:
        parser.error(problem)

    failures, times = 0, {name: [] for name in methods}
    for source, outputs in targets.items():
        try:  # as sgz-enhance reads it: alpha, greyscale, 16 bits, EXIF and profile kept
            photo = read_photo(source)
        except READ_ERRORS as error:
            failures += 1
            print(f"skipped {source}: cannot read it as an image ({error})", file=sys.stderr)
            continue
        h, w = photo.rgb.shape[:2]
        for name, target in outputs:
            start = time.perf_counter()
            result = METHODS[name](photo.rgb)  # uint8, or float in [0, 1] for 16-bit files
            elapsed = time.perf_counter() - start
            if photo.bits == 8 and result.dtype != np.uint8:
                result = from_float(result, np.uint8)
            save_photo(photo, result, target, software=f"sgz_fast {__version__} classical {name}")
            times[name].append(elapsed)
            print(f"{source} -> {target}  ({name}, {w}x{h}, {elapsed * 1e3:.1f} ms)")
    for name, spent in times.items():
        if spent:
            print(f"{name}: {len(spent)} file(s), {sum(spent):.2f} s, "
                  f"{1e3 * sum(spent) / len(spent):.1f} ms per file")
    if failures:
        print(f"{failures} file(s) could not be read", file=sys.stderr)
    return 1 if failures or missing else 0


if __name__ == "__main__":
    sys.exit(main())
