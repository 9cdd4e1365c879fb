"""Single- and multi-scale Retinex (Jobson, Rahman & Woodell 1997), with optional colour
restoration (MSRCR)."""
import cv2
import numpy as np

from ._image import check_param, from_float, to_float

OFFSET = np.float32(1 / 255)  # log(I + 1/255): log(I_8bit + 1) up to a constant, finite at black


def surround(image, sigma):
    """Gaussian surround F * I. A surround of sigma 80 costs seconds at full resolution, so it
    is computed on a copy downsampled by f (a power of two with sigma / f >= 6, area
    averaging), blurred with sigma / f and upsampled bilinearly: the result differs from the
    full-resolution blur by < 1/255 on photos (checked in the tests)."""
    f = 1 << max(0, int(np.log2(sigma / 6)))
    if f == 1:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / f), (w, h),
                      interpolation=cv2.INTER_LINEAR)


def stretch(r, clip=0.01):
    """Maps Retinex output (log-ratios) to [0, 1] linearly between its `clip` and 1 - `clip`
    quantiles over all channels together (so grey stays grey); the quantiles are taken on a
    1-in-16 pixel grid. This replaces the papers' fixed gain/offset, which assume one camera's
    range. A uniform input (no contrast at all) maps to mid-grey."""
    lo, hi = np.quantile(r[::4, ::4], (clip, 1 - clip))
    if hi - lo < 1e-6:
        return np.full_like(r, 0.5)
    return (r - np.float32(lo)) * np.float32(1 / (hi - lo))


def log_ratio(log_image, image, sigma):
    return log_image - cv2.log(surround(image, sigma) + OFFSET)


def ssr(image, sigma=80.0, clip=0.01):
    """Single-scale Retinex (Jobson, Rahman & Woodell, "Properties and performance of a
    center/surround retinex", IEEE TIP 6(3), 1997): R_i = log I_i - log(F * I_i) per channel,
    F a Gaussian surround of standard deviation `sigma` pixels (80, the paper's recommended
    compromise between dynamic range compression and tonal rendition), then `stretch`.
    image: (H, W, 3) uint8 or float in [0, 1]; returns the same shape and dtype.
    """
    check_param("ssr", "sigma", sigma)
    check_param("ssr", "clip", clip, low_open=False, high=0.5)
    rgb = to_float(image)
    return from_float(stretch(log_ratio(cv2.log(rgb + OFFSET), rgb, sigma), clip), image.dtype)


def msr(image, sigmas=(15.0, 80.0, 250.0), color_restoration=False, alpha=125.0, beta=46.0,
        clip=0.01):
    """Multi-scale Retinex (Jobson, Rahman & Woodell, "A multiscale retinex for bridging the
    gap between color images and the human observation of scenes", IEEE TIP 6(7), 1997): the
    equally weighted mean of SSR at `sigmas` (15, 80, 250, the paper's scales), then
    `stretch`. With color_restoration (MSRCR), each channel is multiplied by
    C_i = beta * (log(alpha I_i) - log(I_R + I_G + I_B)) first (alpha 125, beta 46, the
    paper's constants for 8-bit values). image: (H, W, 3) uint8 or float in [0, 1].
    """
    if len(sigmas) == 0:
        raise ValueError("msr: sigmas must name at least one scale; got none")
    for sigma in sigmas:
        check_param("msr", "sigmas", sigma)
    for name, value in (("alpha", alpha), ("beta", beta)):
        check_param("msr", name, value)
    check_param("msr", "clip", clip, low_open=False, high=0.5)
    rgb = to_float(image)
    log_rgb = cv2.log(rgb + OFFSET)
    r = sum(log_ratio(log_rgb, rgb, s) for s in sigmas) * np.float32(1 / len(sigmas))
    if color_restoration:
        total = np.log(rgb.sum(axis=2, keepdims=True) + 3 * OFFSET)
        r *= np.float32(beta) * (log_rgb + np.float32(np.log(alpha)) - total)
    return from_float(stretch(r, clip), image.dtype)
