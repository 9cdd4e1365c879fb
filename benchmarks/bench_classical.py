"""The classical methods at 1920x1080 uint8 RGB, each beside its OpenCV / scikit-image
equivalent where one exists, against the issue's time goals.

    python benchmarks/bench_classical.py [--min-run-time SECONDS]

The input is a bundled dark sample upscaled to 1920x1080. The equivalents work on one
channel (luminance) or per channel; ours add the colour handling (R, G, B scaled by the
luminance gain), so a ratio above 1 is that cost. The machine may be shared: the report gives
the load average, and a longer --min-run-time steadies the medians.
"""
import os

import cv2
import numpy as np
import skimage.exposure
from PIL import Image

from harness import parse_args, time_side_by_side, write_report
from classical import METHODS
from sgz_fast.demo import SAMPLES

GOALS_MS = {"he": 30, "clahe": 30, "gamma": 30, "agcwd": 30, "ssr": 150, "msr": 400,
            "lime": 1500, "exposure": 1000}


def equivalents(image):
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    clahe = cv2.createCLAHE(2.0, (8, 8))
    return {
        "he": ("cv2.equalizeHist(Y)", lambda: cv2.equalizeHist(grey)),
        "clahe": ("cv2.createCLAHE(Y)", lambda: clahe.apply(grey)),
        "gamma": ("skimage adjust_gamma", lambda: skimage.exposure.adjust_gamma(image, 1 / 2.2)),
    }


def main():
    args, device, _ = parse_args(__doc__)
    load_before = os.getloadavg()[0]
    dark = np.asarray(Image.open(SAMPLES / "astronaut.png").convert("RGB"))
    image = np.ascontiguousarray(cv2.resize(dark, (1920, 1080), interpolation=cv2.INTER_CUBIC))
    others = equivalents(image)
    lines = ["| method | ours | goal | equivalent | its time | ours / equivalent |",
             "|---|---|---|---|---|---|"]
    data = []
    for name, fn in METHODS.items():
        steps = {"ours": lambda fn=fn: fn(image)}
        if name in others:
            steps["other"] = others[name][1]
        times = time_side_by_side(steps, device, args.min_run_time)
        ours = times["ours"].median_ms
        row = {"method": name, "ours_ms": round(ours, 2), "ours_iqr_ms": round(times["ours"].iqr_ms, 2),
               "goal_ms": GOALS_MS[name]}
        other = ["–", "–", "–"]
        if "other" in times:
            theirs = times["other"].median_ms
            row.update(equivalent=others[name][0], equivalent_ms=round(theirs, 2),
                       ratio=round(ours / theirs, 2))
            other = [others[name][0], f"{theirs:.1f} ms", f"{ours / theirs:.2f}x"]
        met = "met" if ours <= GOALS_MS[name] else "**missed**"
        lines.append(f"| {name} | {ours:.1f} ± {times['ours'].iqr_ms:.1f} ms | "
                     f"≤ {GOALS_MS[name]} ms ({met}) | " + " | ".join(other) + " |")
        data.append(row)
        print(lines[-1], flush=True)
    extra = skimage_clahe(image, device, args.min_run_time)
    lines.append(extra[0])
    data.append(extra[1])
    path = write_report("classical", device, [
        "- input: 1920x1080 uint8 RGB (bundled dark sample astronaut.png, upscaled)",
        f"- OpenCV {cv2.__version__}, scikit-image {skimage.__version__}, numpy {np.__version__}",
        "- median ± interquartile range; equivalents run on the same image in the same process",
        f"- {args.min_run_time:g} s of timed calls per row; 1-minute load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores "
        "shared with other work"],
        lines, data)
    print(f"wrote {path}")


def skimage_clahe(image, device, min_run_time):
    """scikit-image's CLAHE (float, all channels via its own colour handling) is much slower;
    timed once beside ours for the record."""
    ours = time_side_by_side({"ours": lambda: METHODS["clahe"](image)}, device, min_run_time)["ours"]
    theirs = time_side_by_side({"sk": lambda: skimage.exposure.equalize_adapthist(image)},
                               device, min_run_time)["sk"]
    line = (f"| clahe | {ours.median_ms:.1f} ms | | skimage equalize_adapthist | "
            f"{theirs.median_ms:.1f} ms | {ours.median_ms / theirs.median_ms:.2f}x |")
    return line, {"method": "clahe", "equivalent": "skimage equalize_adapthist",
                  "ours_ms": round(ours.median_ms, 2), "equivalent_ms": round(theirs.median_ms, 2)}


if __name__ == "__main__":
    main()
