"""Image quality measures for the comparison (with the no-reference NIQE, BRISQUE and PIQE of
classical.no_reference), the synthetic low light the paired measures are computed on, and the
flicker of video. Images are (H, W, 3) uint8 RGB."""
import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .no_reference import brisque, niqe, piqe

__all__ = ["brisque", "colourfulness", "entropy", "flicker", "loe", "niqe", "piqe", "psnr", "ssim",
           "synthetic_low_light", "wobbling_clip"]

PHOTON_PEAK = 400.0  # photons at full scale: the Poisson part of the noise
READ_NOISE = 0.004   # the Gaussian part, in [0, 1] units


def synthetic_low_light(image, rng, noise=True):
    """Lv et al., "Attention guided low-light image enhancement with a large scale low-light
    simulation dataset" (IJCV 2021): I_low = beta * (alpha * I)^gamma with alpha ~ U(0.9, 1),
    beta ~ U(0.5, 1), gamma ~ U(1.5, 5) drawn per image, then Poisson-Gaussian noise (left out
    with noise=False: the same alpha, beta, gamma for a generator in the same state).
    Returns (uint8 dark image, (alpha, beta, gamma))."""
    alpha, beta, gamma = rng.uniform(0.9, 1.0), rng.uniform(0.5, 1.0), rng.uniform(1.5, 5.0)
    low = beta * (alpha * image.astype(np.float64) / 255.0) ** gamma
    if noise:
        low = rng.poisson(low * PHOTON_PEAK) / PHOTON_PEAK + rng.normal(0.0, READ_NOISE, low.shape)
    return np.clip(low * 255.0 + 0.5, 0, 255).astype(np.uint8), (alpha, beta, gamma)


def psnr(reference, image):
    return peak_signal_noise_ratio(reference, image, data_range=255)


def ssim(reference, image):
    return structural_similarity(reference, image, channel_axis=2, data_range=255)


def loe(original, enhanced, size=50):
    """Lightness order error (Wang, Zheng, Hu & Li, "Naturalness preserved enhancement
    algorithm for non-uniform illumination images", IEEE TIP 22(9), 2013): lightness
    L = max(R, G, B); for every pair of pixels, whether L(x) >= L(y) flips between the
    original and the enhanced image; the mean over x of the number of flips. As in the paper,
    both are first downsampled so the shorter side is `size` (50) pixels, making the count
    comparable across sizes (at most size^2 * aspect). Lower is better.

    The pairs are counted from the joint histogram of (L, L') (uint8 images: 256 x 256 bins),
    not pair by pair: a pixel x at (i, j) flips with the y that have L(y) <= i and L'(y) > j,
    or L(y) > i and L'(y) <= j, read off the histogram's 2-D cumulative sum. The same count
    in O(pixels + 256^2), where the N x N pairs of a 500 x 8000 panorama took 4.6 GB."""
    h, w = original.shape[:2]
    f = size / min(h, w)
    dims = (max(1, round(w * f)), max(1, round(h * f)))
    a, b = (cv2.resize(x, dims, interpolation=cv2.INTER_AREA).max(axis=2).ravel().astype(np.int64)
            for x in (original, enhanced))
    counts = np.bincount(a * 256 + b, minlength=256 * 256).reshape(256, 256)
    below = counts.cumsum(axis=0).cumsum(axis=1)  # below[i, j]: L <= i and L' <= j
    flips = counts * (below[:, -1:] + below[-1:, :] - 2 * below)
    return float(flips.sum() / a.size)


def entropy(image):
    """Shannon entropy (bits) of the BT.601 luma histogram, 256 bins. Higher: more levels used."""
    hist = np.bincount(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).ravel(), minlength=256)
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum())


def colourfulness(image):
    """Hasler & Suesstrunk, "Measuring colourfulness in natural images" (SPIE 5007, 2003):
    with rg = R - G and yb = (R + G) / 2 - B on 0..255,
    M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)."""
    r, g, b = (image[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, (r + g) / 2 - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def flicker(frames, blocks=(9, 16)):
    """Flicker of a video: (the mean frame-to-frame change of the mean brightness, the same of
    its `blocks` block means), in levels. frames: (H, W, 3) uint8 arrays in playing order."""
    means = np.array([f.mean() for f in frames])
    grid = np.array([cv2.resize(f.astype(np.float32), blocks[::-1], interpolation=cv2.INTER_AREA)
                     for f in frames])
    return float(np.abs(np.diff(means)).mean()), float(np.abs(np.diff(grid, axis=0)).mean())


def wobbling_clip(scenes, frames, last_of_first_scene=None, wobble=0.04, noise=4.0, seed=1):
    """A synthetic clip for flicker: scenes[0] ((H, W, 3) float levels) in every frame, or
    scenes[1] after `last_of_first_scene` (a hard cut), each frame with its own exposure gain in
    1 +- wobble and Gaussian sensor noise of `noise` levels. Returns uint8 frames."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(frames):
        base = scenes[int(last_of_first_scene is not None and t > last_of_first_scene)]
        frame = base * (1 + wobble * rng.uniform(-1, 1)) + rng.normal(0, noise, base.shape)
        out.append(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
    return out
