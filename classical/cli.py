"""Enhances images with the classical methods: sgz-classical --method NAME|all INPUT... -o OUT/

Folders are searched recursively and their tree is mirrored under OUT, file names kept; with
--method all, each method writes into its own subfolder OUT/<method>/. Inputs are never
overwritten, existing outputs only with --overwrite; unreadable files are reported and
skipped, and make the exit status 1.
"""
import argparse
import sys
import time
from pathlib import Path

from . import METHODS
from .io import find_images, read_rgb, write_rgb


def output_path(out_dir, relative, method, several):
    return out_dir / method / relative if several else out_dir / relative


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sgz-classical", description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="images or folders")
    parser.add_argument("-m", "--method", required=True, choices=[*METHODS, "all"])
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)

    images = find_images(args.inputs)
    if not images:
        parser.error(f"no images found in {args.inputs}")
    methods = list(METHODS) if args.method == "all" else [args.method]
    out_dir, several = Path(args.output), len(methods) > 1
    targets = [output_path(out_dir, relative, name, several).resolve()
               for _, relative in images for name in methods]
    if len(set(targets)) < len(targets):
        parser.error("two inputs would write the same output file; give them separate -o folders")
    inputs = {path.resolve() for path, _ in images}
    if inputs & set(targets):
        parser.error(f"an output would replace an input ({next(iter(inputs & set(targets)))}); "
                     "choose another -o folder")
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.overwrite:
        parser.error(f"{len(existing)} output(s) exist already, e.g. {existing[0]}; "
                     "pass --overwrite to replace them or choose another -o folder")

    failures, times = 0, {name: [] for name in methods}
    for path, relative in images:
        try:
            image = read_rgb(path)
        except OSError as error:
            failures += 1
            print(f"skipped {path}: cannot read it as an image ({error})", file=sys.stderr)
            continue
        h, w = image.shape[:2]
        for name in methods:
            target = output_path(out_dir, relative, name, several)
            start = time.perf_counter()
            result = METHODS[name](image)
            elapsed = time.perf_counter() - start
            write_rgb(target, result)
            times[name].append(elapsed)
            print(f"{path} -> {target}  ({name}, {w}x{h}, {elapsed * 1e3:.1f} ms)")
    for name, spent in times.items():
        if spent:
            print(f"{name}: {len(spent)} file(s), {sum(spent):.2f} s, "
                  f"{1e3 * sum(spent) / len(spent):.1f} ms per file")
    if failures:
        print(f"{failures} file(s) could not be read", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
