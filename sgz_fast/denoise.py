"""Noise-aware output: the enhanced image denoised in proportion to how much each part of it
was brightened.

Brightening a dark photo by 4-6x brightens its sensor noise as much. The gain the curve
applied is known everywhere (enhanced / dark), and the input's noise can be measured, so the
noise of the output is known per region: sigma_out = gain * sigma_in. Dark regions lifted
most are cleaned most; bright ones, barely brightened, are left alone.

- ``fast``: the colour guided filter (He, Sun & Tang, "Guided Image Filtering", ECCV 2010,
  eq. 14), guided by the enhanced image itself, with the regulariser eps = K^2 sigma_added^2
  per region, sigma_added^2 = sigma_in^2 (gain^2 - 1) the noise the brightening added there:
  structure well above that noise is kept, flat noisy regions are averaged, and a region left
  as bright as it was keeps its grain. Its 3 x 3 covariances keep, on an edge, only the noise
  along the edge's own colour, where a filter per channel keeps all of it (on the benchmark's
  photos: 40% less error than off, against 33% for the per-channel filter; NOTES, denoise).
  Its coefficients are computed at 1/s of the size (He & Sun, "Fast Guided Filter",
  arXiv:1505.00996, 2015) and applied at full size in one fused op,
  ``colour_guided_filter_uint8`` (the steps of ``guided_inputs_uint8``,
  ``colour_guided_coefficients`` and ``colour_affine_uint8`` in one pass over rows, the maps
  never stored). s = 2 (1 under 512 px); 4K video frames take a coarser grid (s = 4).
- ``best``: for photos: non-local means (Buades, Coll & Morel, "A non-local algorithm for image
  denoising", CVPR 2005; scikit-image's, with its patch-distance correction for the known
  noise) on the enhanced image divided by its local gain, where the noise is about the
  input's everywhere, so one filter strength fits every region; multiplied back after. Then
  the colour guided filter of the enhanced image guided by that result (a cleaner guide than
  the image itself, so its local regressions follow the structure, not the noise): 43% less
  error than off on the benchmark's photos, against 38% for non-local means alone.

    >>> from sgz_fast.denoise import denoise
    >>> clean = denoise(dark, enhanced, "fast")   # (H, W, 3) uint8 numpy arrays
"""
import cv2
import numpy as np
import torch
import torch.nn.functional as F
from skimage.restoration import denoise_nl_means

from . import ops
from .reference import COLOUR_GUIDED_MIN_EPS

MODES = ("off", "fast", "best")
# K, K_BEST, RADIUS, NOISE_FLOOR and NLM_H: chosen on the benchmark's five photos,
# checked on two others (benchmarks/NOTES.md, denoise).
K = 4.5               # eps = K^2 sigma_added^2: how far above the noise an edge must stand
K_BEST = 2.5          # best's guided filter: its guide is already clean
RADIUS = 1            # the guided filter's window at low resolution: 3 x 3
PHOTO_SCALE = 2       # fast from 512 px on the short side: coefficients at 1/2 size
VIDEO_GRID = 540      # fast on video frames: at most about this short side at low resolution
NLM_H = 1.3           # best: non-local means' strength, in units of the input's noise
QUIET = 1.5           # best: levels of output noise left alone (non_local_means)
MAX_GAIN = 16.0       # gains beyond it (near-black pixels) are taken as it
NOISE_FLOOR = 0.85    # levels of the dark input: see noise_sigma
NOISE_EVERY = 30      # VideoDenoiser: frames between two measurements of the noise
_TO_GREY = {"rgb": cv2.COLOR_RGB2GRAY, "bgr": cv2.COLOR_BGR2GRAY}
_LUMA = {"rgb": (0.299, 0.587, 0.114), "bgr": (0.114, 0.587, 0.299)}  # Rec. 601, as _TO_GREY


def _luma(image, channels):
    return cv2.cvtColor(image, _TO_GREY[channels]).astype(np.float32)


def noise_sigma(dark, enhanced, crop=256, channels="rgb"):
    """The input's noise (deviation, levels of the dark image), measured where the curve made
    it visible: on the enhanced image's luma, the diagonal Haar band of each 2 x 2 block
    divided by the block's gain, and Donoho & Johnstone's median estimate median(|HH|) / 0.6745
    ("Ideal spatial adaptation by wavelet shrinkage", Biometrika 81(3), 1994), which edges
    hardly move. In the dark input itself the noise is a level or two, about the integers'
    own step: amplified by the gain it stands well above it. Up to four crop x crop crops."""
    h, w = dark.shape[:2]
    if min(h, w) < 8:
        return 0.0  # too small to tell noise from detail
    size = min(crop, h, w) // 2 * 2
    values = []
    for y in sorted({h // 4 - size // 2, 3 * h // 4 - size // 2}):
        for x in sorted({w // 4 - size // 2, 3 * w // 4 - size // 2}):
            y0, x0 = min(max(0, y), h - size), min(max(0, x), w - size)
            e, d = (_luma(np.ascontiguousarray(im[y0:y0 + size, x0:x0 + size]), channels)
                    for im in (enhanced, dark))
            blocks = [(e[i::2, j::2], d[i::2, j::2]) for i in (0, 1) for j in (0, 1)]
            diagonal = (blocks[0][0] - blocks[1][0] - blocks[2][0] + blocks[3][0]) / 2
            gain = np.clip((sum(b[0] for b in blocks) + 4) / (sum(b[1] for b in blocks) + 4),
                           1.0, MAX_GAIN)
            values.append((np.abs(diagonal) / gain).ravel())
    sigma = float(np.median(np.concatenate(values)) / 0.6745)
    # Below 0.85 levels of the dark input (its 8-bit step's own noise is 0.29) what the
    # estimate sees is fine texture and quantisation more than noise: none is counted. (A
    # finely textured noise-free microscopy photo reads 0.84; the noisy photos 1.2 to 1.9.)
    return float(np.sqrt(max(sigma * sigma - NOISE_FLOOR ** 2, 0.0)))


def _scale_for(height, width, video):
    """fast's subsampling s: its coefficients are computed at 1/s of the size, where the s x s
    area means also average the noise out of the variance estimate (at full size a noise-free,
    finely textured 512 px photo changed by 1.15 levels). s = 2 from 512 px on the short side:
    a grid fine enough for the detail of large photos (coarser ones cleaned a 1536 px photo a
    third less: NOTES, denoise). Video frames from 1620 px on (4K) take a coarser grid, a short
    side of about VIDEO_GRID: s = 4 at 2160p, 18-22 ms a frame on the 2-core VM against 28 ms
    at s = 2 (AVX-512; 1080p at s = 2: 6-7 ms)."""
    short = min(height, width)
    if short < 512:
        return 1
    return max(PHOTO_SCALE, short // VIDEO_GRID) if video else PHOTO_SCALE


def guided_filter(dark, enhanced, sigma_in, s, channels="rgb"):
    """fast: `enhanced` (made from `dark`, both (H, W, 3) uint8) through the colour guided
    filter, its coefficient maps made at 1/s size with eps per region from the brightening gain
    there (enhanced / dark, in luma), by one fused op (colour_guided_filter_uint8: the guide
    and eps from the bytes, the maps, their output at full size)."""
    frames = (torch.from_numpy(np.ascontiguousarray(x))[None] for x in (enhanced, dark))
    # Noise of the output at low resolution: averaging s x s pixels divides its deviation by s.
    return ops.colour_guided_filter_uint8(*frames, s, K * sigma_in / s, MAX_GAIN,
                                          _LUMA[channels], RADIUS)[0].numpy()


def non_local_means(dark, enhanced, sigma_in, channels="rgb"):
    """best: `enhanced` divided by its local gain (9 x 9 means of luma), where its noise is
    about sigma_in everywhere, denoised by non-local means (5 x 5 patches, 13 x 13 search)
    and multiplied back. Where the output's noise (gain x sigma_in) is within QUIET levels it
    is left as it is, fully cleaned from twice that: barely brightened regions keep their
    grain as the fast filter's eps keeps it."""
    def luma_mean(image):
        return cv2.blur(_luma(image, channels), (9, 9))

    gain = np.clip((luma_mean(enhanced) + 1) / (luma_mean(dark) + 1), 1.0, MAX_GAIN)[..., None]
    flat = denoise_nl_means(enhanced / gain, h=NLM_H * sigma_in, sigma=sigma_in,
                            patch_size=5, patch_distance=6, channel_axis=2, fast_mode=True)
    weight = np.clip(gain * (sigma_in / QUIET) - 1, 0, 1)
    return np.clip(enhanced + weight * (flat * gain - enhanced) + 0.5, 0, 255).astype(np.uint8)


def guided_by(dark, enhanced, cleaned, sigma_in, channels="rgb"):
    """best's second step: the colour guided filter (He, Sun & Tang, ECCV 2010, eq. 14) of
    `enhanced` with `cleaned` (its non-local means) as the guide I: per window,
    X = (S + eps U)^-1 C, S the covariance of I's channels, C their covariance with the
    enhanced image's, eps as fast's (K_BEST); out = I X + b with X and b the window means,
    at 1/s size as fast's and upsampled. In float64 with numpy's solve: photos only."""
    s = _scale_for(*dark.shape[:2], False)
    frames = [torch.from_numpy(np.ascontiguousarray(x))[None] for x in (enhanced, dark, cleaned)]
    source, eps = ops.guided_inputs_uint8(frames[0], frames[1], s, K_BEST * sigma_in / s,
                                          MAX_GAIN, _LUMA[channels])
    guide, _ = ops.guided_inputs_uint8(frames[2], frames[1], s, 0.0, MAX_GAIN, _LUMA[channels])
    g, p = (t[0].double().numpy() for t in (guide, source))  # (3, h, w) each

    def mean(x):  # window means of an (h, w) plane, mirrored as the fused ops mirror
        return cv2.blur(np.ascontiguousarray(x), (2 * RADIUS + 1,) * 2,
                        borderType=cv2.BORDER_REFLECT)

    mg = np.stack([mean(g[i]) for i in range(3)], -1)  # (h, w, 3)
    mp = np.stack([mean(p[j]) for j in range(3)], -1)
    cov_gg = np.stack([np.stack([mean(g[i] * g[j]) for j in range(3)], -1)
                       for i in range(3)], -2) - mg[..., :, None] * mg[..., None, :]
    cov_gp = np.stack([np.stack([mean(g[i] * p[j]) for j in range(3)], -1)
                       for i in range(3)], -2) - mg[..., :, None] * mp[..., None, :]
    eps = np.maximum(eps[0, 0].double().numpy(), COLOUR_GUIDED_MIN_EPS)  # as the fused ops
    system = cov_gg + eps[..., None, None] * np.eye(3)
    X = np.linalg.solve(system, cov_gp)  # (h, w, 3 guide, 3 output)
    offset = mp - np.einsum("yxij,yxi->yxj", X, mg)
    planes = np.concatenate([X.reshape(*X.shape[:2], 9), offset], -1).transpose(2, 0, 1)
    maps = torch.from_numpy(np.stack([mean(m) for m in planes]))  # X's 9 (i * 3 + j), b's 3
    maps = F.interpolate(maps[None], size=dark.shape[:2], mode="bilinear", align_corners=True)[0]
    x = torch.from_numpy(cleaned).double().permute(2, 0, 1) / 255.0
    out = torch.stack([(maps[j:9:3] * x).sum(0) + maps[9 + j] for j in range(3)], -1)
    return (out.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def denoise(dark, enhanced, mode="fast", channels="rgb", sigma_in=None, video=False):
    """`enhanced` ((H, W, 3) uint8, made from `dark`, the same size, channels in `channels`
    order: "rgb" or "bgr") denoised by how much each region was brightened; "off" returns it
    as it is. `sigma_in`: the input's noise where it is known (VideoDenoiser), else measured
    (noise_sigma). `video`: fast's coarser grid for 4K video frames. See the module's
    docstring."""
    if mode not in MODES:
        raise ValueError(f"denoise: mode must be one of {MODES}; got {mode!r}")
    if channels not in _TO_GREY:
        raise ValueError(f"denoise: channels must be 'rgb' or 'bgr'; got {channels!r}")
    if dark.shape != enhanced.shape or dark.dtype != np.uint8 or enhanced.dtype != np.uint8 \
            or dark.ndim != 3 or dark.shape[2] != 3:
        raise ValueError(f"denoise: dark and enhanced must be (H, W, 3) uint8 arrays of one "
                         f"size; got {dark.dtype} {dark.shape} and {enhanced.dtype} "
                         f"{enhanced.shape}")
    if mode == "off" or min(dark.shape[:2]) < 8:
        return enhanced
    if sigma_in is None:
        sigma_in = noise_sigma(dark, enhanced, channels=channels)
    if sigma_in == 0:
        return enhanced
    if mode == "best":
        cleaned = non_local_means(dark, enhanced, sigma_in, channels)
        return guided_by(dark, enhanced, cleaned, sigma_in, channels)
    return guided_filter(dark, enhanced, sigma_in, _scale_for(*dark.shape[:2], video), channels)


class VideoDenoiser:
    """denoise for the frames of one video, in order: the noise is measured on the first frame
    and again every NOISE_EVERY frames (a sensor's noise follows the light slowly, and the
    measure costs a sixth of `fast`'s time at 1080p); the rest is done per frame.

        >>> clean = VideoDenoiser("fast")
        >>> out = [clean(dark, enhanced) for dark, enhanced in frames]
    """

    def __init__(self, mode="fast"):
        self.mode, self.frames, self.sigma_in = mode, 0, None

    def __call__(self, dark, enhanced, channels="rgb"):
        if self.mode == "off":
            return enhanced
        if self.frames % NOISE_EVERY == 0:
            self.sigma_in = noise_sigma(dark, enhanced, channels=channels)
        self.frames += 1
        return denoise(dark, enhanced, self.mode, channels, self.sigma_in, video=True)
