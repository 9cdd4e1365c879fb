"""Makes the bundled dark sample images (sgz_fast/samples/) from public-domain photos that ship
inside scikit-image (astronaut, chelsea, coffee, rocket).

Synthetic low light after Lv et al., "Attention guided low-light image enhancement with a large
scale low-light simulation dataset" (IJCV 2021): I_low = beta * (alpha * I)^gamma with
alpha ~ U(0.9, 1), beta ~ U(0.5, 1), gamma ~ U(1.5, 5) drawn per image, then Poisson-Gaussian
noise. Needs scikit-image (not a dependency of sgz_fast):  python scripts/make_samples.py
"""
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

OUT = Path(__file__).resolve().parent.parent / "sgz_fast" / "samples"
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]
PHOTON_PEAK = 400.0  # photons at full scale: the Poisson part of the noise
READ_NOISE = 0.004   # the Gaussian part, in [0, 1] units


def darken(image, rng):
    alpha, beta, gamma = rng.uniform(0.9, 1.0), rng.uniform(0.5, 1.0), rng.uniform(1.5, 5.0)
    low = beta * (alpha * image.astype(np.float64) / 255.0) ** gamma
    low = rng.poisson(low * PHOTON_PEAK) / PHOTON_PEAK + rng.normal(0.0, READ_NOISE, low.shape)
    return np.clip(low * 255.0 + 0.5, 0, 255).astype(np.uint8), (alpha, beta, gamma)


def main():
    rng = np.random.default_rng(2022)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        dark, params = darken(getattr(data, name)(), rng)
        Image.fromarray(dark).save(OUT / f"{name}.png", optimize=True)
        print(f"{name}: alpha {params[0]:.3f}, beta {params[1]:.3f}, gamma {params[2]:.2f}, "
              f"mean {dark.mean():.1f}/255")


if __name__ == "__main__":
    main()
