"""Noise-aware output: the enhanced image denoised in proportion to how much each part of it
was brightened.

Brightening a dark photo by 4-6x brightens its sensor noise as much. The gain the curve
applied is known everywhere (enhanced / dark), and the input's noise can be measured, so the
noise of the output is known per region: sigma_out = gain * sigma_in. Dark regions lifted
most are cleaned most; bright ones, barely brightened, are left alone.

- ``fast``: a guided filter (He, Sun & Tang, "Guided Image Filtering", ECCV 2010) per channel,
  guided by the enhanced image itself, with the regulariser eps = (K sigma_out)^2 per region:
  structure well above the noise is kept, flat noisy regions are averaged. Its coefficients
  are computed at 1/s of the size (He & Sun, "Fast Guided Filter", arXiv:1505.00996, 2015) and
  applied at full size by the fused op ``affine_uint8``, one pass over the bytes: for video.
- ``best``: for photos: the same filter rolled (Zhang et al., "Rolling Guidance Filter",
  ECCV 2014): three passes, each guided by the previous pass's output and filtering the
  enhanced image, with a lower K, so that edges the noise blurred in the first guide come back.

    >>> from sgz_fast.denoise import denoise
    >>> clean = denoise(dark, enhanced, "fast")   # (H, W, 3) uint8 numpy arrays
"""
import cv2
import numpy as np
import torch

from . import ops

MODES = ("off", "fast", "best")
K = 3.0               # eps = (K sigma_out)^2: how far above the noise an edge must stand
K_ROLLING, ROLLING_PASSES = 2.0, 3  # best: chosen on the synthetic pairs (README, Denoise)
RADIUS = 2            # the guided filter's window at low resolution: 5 x 5 (20 px at 1080p)
MAX_GAIN = 16.0       # gains beyond it (near-black pixels) are taken as it
NOISE_FLOOR = 0.5     # levels of the dark input: see noise_sigma


def noise_sigma(dark, enhanced, crop=256):
    """The input's noise (deviation, levels of the dark image), measured where the curve made
    it visible: on the enhanced image's luma, the diagonal Haar band of each 2 x 2 block
    divided by the block's gain, and Donoho & Johnstone's median estimate median(|HH|) / 0.6745
    ("Ideal spatial adaptation by wavelet shrinkage", Biometrika 81(3), 1994), which edges
    hardly move. In the dark input itself the noise is a level or two, about the integers'
    own step: amplified by the gain it stands well above it. Up to four crop x crop crops."""
    h, w = dark.shape[:2]
    size = min(crop, h, w) // 2 * 2
    values = []
    for y in sorted({h // 4 - size // 2, 3 * h // 4 - size // 2}):
        for x in sorted({w // 4 - size // 2, 3 * w // 4 - size // 2}):
            y0, x0 = min(max(0, y), h - size), min(max(0, x), w - size)
            e, d = (cv2.cvtColor(np.ascontiguousarray(im[y0:y0 + size, x0:x0 + size]),
                                 cv2.COLOR_RGB2GRAY).astype(np.float32) for im in (enhanced, dark))
            blocks = [(e[i::2, j::2], d[i::2, j::2]) for i in (0, 1) for j in (0, 1)]
            diagonal = (blocks[0][0] - blocks[1][0] - blocks[2][0] + blocks[3][0]) / 2
            gain = np.clip((sum(b[0] for b in blocks) + 4) / (sum(b[1] for b in blocks) + 4),
                           1.0, MAX_GAIN)
            values.append((np.abs(diagonal) / gain).ravel())
    sigma = float(np.median(np.concatenate(values)) / 0.6745)
    # Below half a level of the dark input (its 8-bit step's own noise is 0.29) what the
    # estimate sees is fine texture and aliasing more than noise: none is counted.
    return float(np.sqrt(max(sigma * sigma - NOISE_FLOOR ** 2, 0.0)))


def _scale_for(height, width):
    """The fast guided filter's subsampling: the low-resolution side about 256 pixels."""
    return max(1, min(height, width) // 256)


def _box(x, radius):
    return cv2.blur(x, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_coefficients(dark, guide, source, sigma_in, s, k):
    """(a, b), (3, h, w) float32 each: the guided filter's coefficient maps at 1/s size for
    `source` guided by `guide` (both (H, W, 3) uint8), eps per region from the brightening
    gain there (source / dark, in luma); out = a * guide / 255 + b in [0, 1] units. In levels
    and planar, with OpenCV's operations: at 1080p the two resizes are most of the cost."""
    h, w = source.shape[0] // s, source.shape[1] // s

    def low(image):
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)

    p8 = low(source)
    luma = [cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32) for x in (p8, low(dark))]
    gain = np.clip((luma[0] + 1) / (luma[1] + 1), 1.0, MAX_GAIN)
    # Noise of the output at low resolution: averaging s x s pixels divides its deviation by s.
    eps = (k * sigma_in / s) ** 2 * gain * gain + 1e-6
    sources = cv2.split(p8.astype(np.float32))
    guides = sources if guide is source else cv2.split(low(guide).astype(np.float32))
    a_planes, b_planes = [], []
    for I, p in zip(guides, sources):
        mean_i = _box(I, RADIUS)
        mean_p = mean_i if p is I else _box(p, RADIUS)
        var = cv2.max(_box(I * I, RADIUS) - mean_i * mean_i, 0)
        cov = var if p is I else _box(I * p, RADIUS) - mean_i * mean_p
        a = cov / (var + eps)
        a_planes.append(_box(a, RADIUS))
        b_planes.append(_box(mean_p - a * mean_i, RADIUS) * (1 / 255))
    return np.stack(a_planes), np.stack(b_planes)


def _apply(guide, a, b):
    """a * guide + b as bytes, by the fused op (an error that says so where it is not built)."""
    frames = torch.from_numpy(np.ascontiguousarray(guide))[None]
    return ops.affine_uint8(frames, torch.from_numpy(a)[None],
                            torch.from_numpy(b)[None])[0].numpy()


def denoise(dark, enhanced, mode="fast", channels="rgb"):
    """`enhanced` ((H, W, 3) uint8, made from `dark`, the same size, channels in `channels`
    order: "rgb" or "bgr") denoised by how much each region was brightened; "off" returns it
    as it is. See the module's docstring."""
    if channels == "bgr":
        return denoise(dark[..., ::-1], enhanced[..., ::-1], mode)[..., ::-1]
    if mode not in MODES:
        raise ValueError(f"denoise: mode must be one of {MODES}; got {mode!r}")
    if dark.shape != enhanced.shape or dark.dtype != np.uint8 or enhanced.dtype != np.uint8 \
            or dark.ndim != 3 or dark.shape[2] != 3:
        raise ValueError(f"denoise: dark and enhanced must be (H, W, 3) uint8 arrays of one "
                         f"size; got {dark.dtype} {dark.shape} and {enhanced.dtype} "
                         f"{enhanced.shape}")
    if mode == "off" or min(dark.shape[:2]) < 8:
        return enhanced
    sigma_in = noise_sigma(dark, enhanced)
    s = _scale_for(*dark.shape[:2])
    if mode == "fast":
        return _apply(enhanced, *guided_coefficients(dark, enhanced, enhanced, sigma_in, s, K))
    guide = enhanced
    for _ in range(ROLLING_PASSES):
        guide = _apply(guide, *guided_coefficients(dark, guide, enhanced, sigma_in, s,
                                                   K_ROLLING))
    return guide
