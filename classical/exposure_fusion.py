"""Exposure correction by the exposure fusion framework of Ying, Li, Ren, Wang & Wang, "A New
Image Contrast Enhancement Algorithm Using Exposure Fusion Framework" (CAIP 2017)."""
import cv2
import numpy as np

from ._image import check_param, from_float, to_float
from .illumination import illumination

# The paper's camera response model (fitted to the DoRF database): brightness transform
# g(P, k) = beta P ** gamma with gamma = k ** A, beta = exp(B (1 - k ** A)).
A, B = -0.3293, 1.1258
K_GRID = np.linspace(1.0, 7.0, 121)  # exposure ratios searched, step 0.05


def brightness_transform(p, k):
    """The camera's response to exposing `k` times longer: g(P, k) = beta P ** gamma."""
    gamma = k ** A
    return np.float32(np.exp(B * (1 - gamma))) * cv2.pow(p, float(gamma))


def entropy(values):
    """Shannon entropy in bits of values in [0, 1] over 256 bins."""
    hist = np.bincount(np.clip(np.rint(values * 255), 0, 255).astype(np.intp), minlength=256)
    p = hist[hist > 0] / values.size
    return float(-(p * np.log2(p)).sum())


def best_exposure_ratio(rgb, t):
    """The paper's k: the ratio that maximizes the entropy of the brightness (geometric mean of
    R, G, B) of the under-exposed pixels (T < 0.5), on a 50 x 50 copy as in the paper. Searched
    on a grid over [1, 7] (the entropy is piecewise constant in k, so a grid is robust where a
    scalar optimizer can stall). No under-exposed pixel: k = 1 (no change)."""
    small = cv2.resize(rgb, (50, 50), interpolation=cv2.INTER_AREA)
    dark = cv2.resize(t, (50, 50), interpolation=cv2.INTER_AREA) < 0.5
    if not dark.any():
        return 1.0
    b = np.cbrt(np.prod(np.maximum(small[dark], 0), axis=1)).astype(np.float32)
    scores = [entropy(np.clip(brightness_transform(b, k), 0, 1)) for k in K_GRID]
    return float(K_GRID[int(np.argmax(scores))])


def exposure(image, mu=0.5, scale=0.25):
    """Exposure fusion framework (Ying et al., CAIP 2017): the image is fused with a synthetic
    exposure of itself, R = W P + (1 - W) g(P, k), with weights W = T ** mu (mu 0.5, the
    paper's value) from the illumination map T, the exposure ratio k chosen by
    `best_exposure_ratio` and g the camera response model above. T is max(R, G, B) refined by
    a structure-aware smoothing, as in the paper; here by LIME's solver at `scale` of the
    resolution (0.25: the weights W need only a smooth map, and the 1 s budget at 1080p
    does not fit 0.5; classical.illumination.illumination). image: (H, W, 3) uint8 or float in [0, 1].
    """
    check_param("exposure", "mu", mu)
    check_param("exposure", "scale", scale, high=1.0, high_open=False)
    rgb = to_float(image)
    t = np.clip(illumination(rgb, scale), 0, 1)
    w = cv2.pow(t, mu)[..., None]
    k = best_exposure_ratio(rgb, t)
    return from_float(w * rgb + (1 - w) * brightness_transform(rgb, k), image.dtype)
