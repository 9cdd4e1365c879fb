"""Makes the bundled dark sample images (sgz_fast/samples/) from public-domain photos that ship
inside scikit-image (astronaut, chelsea, coffee, rocket).

Synthetic low light after Lv et al., "Attention guided low-light image enhancement with a large
scale low-light simulation dataset" (IJCV 2021): I_low = beta * (alpha * I)^gamma with
alpha ~ U(0.9, 1), beta ~ U(0.5, 1), gamma ~ U(1.5, 5) drawn per image, then Poisson-Gaussian
noise (classical.metrics.synthetic_low_light):  python scripts/make_samples.py
"""
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from classical.metrics import synthetic_low_light

OUT = Path(__file__).resolve().parent.parent / "sgz_fast" / "samples"
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]


def main():
    rng = np.random.default_rng(2022)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        dark, params = synthetic_low_light(getattr(data, name)(), rng)
        Image.fromarray(dark).save(OUT / f"{name}.png", optimize=True)
        print(f"{name}: alpha {params[0]:.3f}, beta {params[1]:.3f}, gamma {params[2]:.2f}, "
              f"mean {dark.mean():.1f}/255")


if __name__ == "__main__":
    main()
