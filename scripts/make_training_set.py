"""Builds an offline, SICE-like training set for sgz-train: public-domain photos under synthetic
under- and over-exposure, deterministic (same files for the same arguments).

    python scripts/make_training_set.py OUT_DIR [--size 256] [--crops 2]

Sources: the CC0 / public-domain photos inside scikit-image's wheel (skimage.data; greyscale ones
as RGB), plus Debian's opencv-doc sample photos when that package is installed. The scenes of the
bundled samples (sgz_fast/samples: astronaut, chelsea, coffee, rocket) are held out, so the
brightness check on them sees unseen scenes.

For each photo: `--crops` square crops resized (Lanczos) to size x size, each saved at every
exposure of EXPOSURES_EV. Exposure is applied in linear light (sRGB ~ gamma 2.2): scaled by
2^EV, under-exposed ones with Poisson-Gaussian sensor noise (as in Lv et al. 2021's synthesis),
then re-encoded and clipped, so over-exposure saturates highlights as a camera would.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image

SKIMAGE_PHOTOS = ["immunohistochemistry", "stereo_motorcycle", "hubble_deep_field", "retina",
                  "camera", "coins", "moon", "clock", "grass", "gravel", "brick"]
HELD_OUT = {"astronaut", "chelsea", "coffee", "rocket"}
OPENCV_SAMPLES = Path("/usr/share/doc/opencv-doc/examples/data")
EXPOSURES_EV = [-6.0, -5.0, -4.0, -3.0, -2.0, -1.0, 1.0, 2.0]  # SICE spans dark to bright
GAMMA = 2.2


def skimage_photos():
    import skimage.data
    for name in SKIMAGE_PHOTOS:
        image = getattr(skimage.data, name)()
        # stereo_motorcycle is (left, right, disparity): both views are photos.
        views = {"-left": image[0], "-right": image[1]} if isinstance(image, tuple) else {"": image}
        for suffix, array in views.items():
            if array.ndim == 2:
                array = np.repeat(array[:, :, None], 3, axis=2)
            yield name + suffix, array


def opencv_photos():
    if not OPENCV_SAMPLES.is_dir():
        return
    for path in sorted(OPENCV_SAMPLES.glob("*.jpg")) + sorted(OPENCV_SAMPLES.glob("*.png")):
        with Image.open(path) as img:
            if min(img.size) >= 128:
                yield f"opencv-{path.stem}", np.asarray(img.convert("RGB"))


def square_crops(array, count, size, rng):
    h, w = array.shape[:2]
    side = min(h, w)
    for _ in range(count):
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(array[top:top + side, left:left + side])
        yield np.asarray(crop.resize((size, size), Image.LANCZOS), dtype=np.float64) / 255.0


def expose(image, ev, rng):
    linear = image ** GAMMA * 2.0 ** ev
    if ev < 0:  # shot noise grows with signal, read noise does not
        linear = linear + rng.normal(size=linear.shape) * np.sqrt(0.0005 * linear + 1e-6)
    out = np.clip(linear, 0.0, 1.0) ** (1.0 / GAMMA)
    return (out * 255.0 + 0.5).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--crops", type=int, default=2, help="square crops per photo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    count = 0
    for name, array in [*skimage_photos(), *opencv_photos()]:
        assert name not in HELD_OUT
        for c, crop in enumerate(square_crops(array, args.crops, args.size, rng)):
            for ev in EXPOSURES_EV:
                Image.fromarray(expose(crop, ev, rng)).save(out / f"{name}-{c}-ev{ev:+.0f}.png")
                count += 1
    print(f"wrote {count} images to {out}")


if __name__ == "__main__":
    main()
