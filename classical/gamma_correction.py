"""Gamma correction and adaptive gamma correction with weighting distribution (AGCWD)."""
import cv2
import numpy as np

from ._image import (LEVELS_01, apply_gain, brightness, check, check_param, histogram,
                     luminance_gain, max_rgb)


def gamma(image, gamma=1 / 2.2):
    """Gamma correction: out = in ** gamma per channel, so gamma < 1 brightens and gamma = 1 is
    the identity (the same convention as skimage.exposure.adjust_gamma). Default 1/2.2, the
    display encoding exponent (Poynton, "Digital Video and HDTV", 2003).

    uint8 images go through a 256-entry table, rounded to nearest; float images are raised to
    the power directly. image: (H, W, 3) uint8 or float in [0, 1]; same shape and dtype back.
    """
    check_param("gamma", "gamma", gamma)
    check(image)
    if image.dtype == np.uint8:
        lut = np.rint(255 * np.linspace(0, 1, 256) ** gamma).astype(np.uint8)
        return cv2.LUT(image, lut)
    return np.power(image, image.dtype.type(gamma))


def agcwd(image, alpha=0.5):
    """Adaptive gamma correction with weighting distribution (Huang, Cheng & Chiu, "Efficient
    contrast enhancement using adaptive gamma correction with weighting distribution", IEEE
    TIP 22(3), 2013), on the HSV value V = max(R, G, B) as in the paper.

    With pdf the histogram of V on 256 levels: pdf_w(l) = pdf_max ((pdf(l) - pdf_min) /
    (pdf_max - pdf_min)) ** alpha, cdf_w its normalized cumulative sum, and
    T(l) = 255 (l / 255) ** (1 - cdf_w(l)). T(l) >= l, so nothing gets darker. H and S are
    kept by scaling R, G, B by T(V) / V. alpha: the weighting exponent (0.5 here; the paper
    treats it as a parameter in (0, 1]). image: (H, W, 3) uint8 or float in [0, 1].
    """
    check_param("agcwd", "alpha", alpha, high=1.0, high_open=False)
    check(image)
    levels, v = (max_rgb(image), None) if image.dtype == np.uint8 else brightness(image, "max")
    pdf = histogram(levels) / levels.size
    spread = pdf.max() - pdf.min()
    weighted = pdf.max() * ((pdf - pdf.min()) / spread) ** alpha if spread > 0 else pdf
    cdf = np.cumsum(weighted) / weighted.sum()
    lut = (255 * (np.arange(256) / 255) ** (1 - cdf) / 255).astype(np.float32)
    if v is None:  # uint8: V is its level / 255, so the gain T(V) / V is a table too
        return apply_gain(image, cv2.LUT(levels, luminance_gain(LEVELS_01, lut)))
    return apply_gain(image, luminance_gain(v, cv2.LUT(levels, lut), out=v))
