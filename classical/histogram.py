"""Histogram equalization (global and contrast-limited adaptive) on luminance."""
import cv2
import numpy as np

from ._image import LEVELS_01, apply_gain, brightness, check, check_param, histogram, luminance_gain


def equalization_lut(levels):
    """The classic equalization map of a uint8 image's histogram (Gonzalez & Woods), with
    OpenCV's normalization: the darkest occupied level goes to 0, the CDF is stretched to 255."""
    cdf = np.cumsum(histogram(levels))
    first = cdf[cdf > 0][0]
    if cdf[-1] == first:  # one level only: nothing to spread
        return np.arange(256, dtype=np.uint8)
    return np.rint((cdf - first) * 255.0 / (cdf[-1] - first)).clip(0, 255).astype(np.uint8)


def he(image):
    """Histogram equalization of the luminance (Gonzalez & Woods, Digital Image Processing).

    The BT.601 luma Y is equalized on 256 levels (the same map as cv2.equalizeHist on Y) and
    each pixel's R, G, B are scaled by Y'/Y, so hue and saturation are kept and grey stays
    grey. image: (H, W, 3) uint8 or float in [0, 1]; returns the same shape and dtype.
    """
    check(image)
    levels, y = brightness(image, "luma")
    new = cv2.LUT(levels, LEVELS_01[equalization_lut(levels)])
    return apply_gain(image, luminance_gain(y, new, out=y))


def clahe(image, clip_limit=2.0, tiles=(8, 8)):
    """Contrast-limited adaptive histogram equalization of the luminance (Zuiderveld,
    "Contrast Limited Adaptive Histogram Equalization", Graphics Gems IV, 1994), by OpenCV's
    implementation (cv2.createCLAHE): 8 x 8 tiles, each tile's histogram clipped at
    `clip_limit` times its mean bin count with the excess redistributed, tile maps blended
    bilinearly. Y is processed on 256 levels and R, G, B scaled by Y'/Y as in `he`.

    clip_limit: 2.0 (a common choice; 1.0 means no contrast gain); tiles: (rows, columns).
    image: (H, W, 3) uint8 or float in [0, 1]; returns the same shape and dtype.
    """
    check_param("clahe", "clip_limit", clip_limit)
    tiles = tuple(tiles)
    if len(tiles) != 2 or not all(isinstance(t, (int, np.integer)) and t >= 1 for t in tiles):
        raise ValueError(f"clahe: tiles must be two integers >= 1 (rows, columns); got {tiles!r}")
    check(image)
    levels, y = brightness(image, "luma")
    new = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=tiles).apply(levels)
    return apply_gain(image, luminance_gain(y, cv2.LUT(new, LEVELS_01), out=y))
