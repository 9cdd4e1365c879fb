"""Fits NIQE's pristine model (classical/data/niqe_pristine.npz) as Mittal et al. (IEEE SPL 2013)
fit theirs: the 36 patch features (96 x 96 and, halved, 48 x 48) of pristine photos, the patches
whose mean local deviation is above 0.75 of the image's sharpest, and a multivariate Gaussian
(mean, covariance) over them.

The photos are scikit-image's public-domain ones (astronaut, chelsea, coffee, rocket: the
same the samples are made from), with patches every 16 pixels (the release took 125 photos
without overlap; four need the overlap to give more patches than features). So NIQE scores
with this model are on our scale, not the MATLAB release's.

    python scripts/fit_niqe_model.py
"""
from pathlib import Path

import numpy as np
from skimage import data

from classical.no_reference import NIQE_MODEL, grey, niqe_patch_features

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
SHARPNESS = 0.75
STRIDE = 16


def main():
    kept = []
    for name in PHOTOS:
        features, sharpness = niqe_patch_features(grey(getattr(data, name)()), stride=STRIDE)
        keep = (sharpness > SHARPNESS * sharpness.max()) & ~np.isnan(features).any(axis=1)
        kept.append(features[keep])
        print(f"{name}: {keep.sum()} of {len(keep)} patches")
    features = np.vstack(kept)
    Path(NIQE_MODEL).parent.mkdir(exist_ok=True)
    np.savez(NIQE_MODEL, mean=features.mean(axis=0), cov=np.cov(features, rowvar=False),
             photos=np.array(PHOTOS), patches=len(features))
    print(f"{len(features)} patches -> {NIQE_MODEL}")


if __name__ == "__main__":
    main()
