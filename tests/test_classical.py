"""The classical methods: properties, agreement with OpenCV/scikit-image, LIME's bounds, and
clear errors on inputs they do not take."""
import pkgutil

import cv2
import numpy as np
import pytest
import skimage.exposure
from PIL import Image

import classical
from classical import METHODS, metrics, retinex
from classical.exposure_fusion import best_exposure_ratio
from classical.illumination import gradients, illumination, refine_illumination, structure_weights
from sgz_fast.demo import SAMPLES

NAMES = ["he", "clahe", "gamma", "ssr", "msr", "lime", "exposure", "agcwd"]


@pytest.fixture(scope="module")
def dark():
    """A real dark photo (a bundled sample, darkened after Lv et al.), cropped small."""
    return np.ascontiguousarray(np.asarray(Image.open(SAMPLES / "chelsea.png").convert("RGB"))[:160, :200])


def luma(image):
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


def test_registry_names_exactly():
    assert list(METHODS) == NAMES
    assert all(callable(METHODS[n]) and getattr(classical, n) is METHODS[n] for n in NAMES)


def test_no_method_shadows_a_module():
    """`from classical import lime` must give the function, and `classical.lime` must not
    change meaning when a submodule of that name is imported."""
    assert not {m.name for m in pkgutil.iter_modules(classical.__path__)} & set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_dark_image_gets_brighter_shape_dtype_kept(name, dark):
    out = METHODS[name](dark)
    assert out.shape == dark.shape and out.dtype == np.uint8
    assert out.mean() > dark.mean() + 10, (name, dark.mean(), out.mean())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_input_same_dtype_in_range_and_close_to_uint8(name, dtype, dark):
    out = METHODS[name](dark.astype(dtype) / 255)
    assert out.dtype == dtype and out.shape == dark.shape
    assert out.min() >= 0 and out.max() <= 1
    # The float path computes the same method: agrees with the uint8 path up to rounding.
    assert np.abs(out * 255 - METHODS[name](dark).astype(np.float64)).mean() < 3


@pytest.mark.parametrize("name", NAMES)
def test_grey_stays_neutral_grey(name, dark):
    """Every method here treats R, G, B alike, so a grey picture (R = G = B) stays grey; a
    uniform grey one stays uniform. The grey *level* is not checked: ssr and msr map a
    uniform image to mid-grey (no contrast to stretch), the others brighten it or keep it."""
    grey = np.repeat(luma(dark).astype(np.uint8)[..., None], 3, axis=2)
    out = METHODS[name](grey).astype(int)
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 1 and np.abs(out[..., 1] - out[..., 2]).max() <= 1
    uniform = METHODS[name](np.full((40, 50, 3), 60, np.uint8))
    assert len(np.unique(uniform)) == 1, name


def test_gamma_identity_and_skimage_agreement(dark):
    assert np.array_equal(classical.gamma(dark, 1.0), dark)
    f = dark / 255.0
    assert np.array_equal(classical.gamma(f, 1.0), f)
    for g in (0.3, 1 / 2.2, 2.0):
        assert np.array_equal(classical.gamma(dark, g), skimage.exposure.adjust_gamma(dark, g))
        np.testing.assert_allclose(classical.gamma(f, g), skimage.exposure.adjust_gamma(f, g), rtol=1e-12)


def test_he_luminance_matches_cv2_equalizehist(dark):
    out = classical.he(dark)
    expected = cv2.equalizeHist(cv2.cvtColor(dark, cv2.COLOR_RGB2GRAY)).astype(np.float64)
    # R, G, B are scaled by Y'/Y and rounded; where a channel saturates Y' cannot be reached.
    unsaturated = out.max(axis=2) < 255
    error = np.abs(luma(out) - expected)[unsaturated]
    assert unsaturated.mean() > 0.5 and np.median(error) <= 1 and np.mean(error <= 2) > 0.95


def test_clahe_luminance_matches_cv2_clahe(dark):
    out = classical.clahe(dark, clip_limit=3.0, tiles=(4, 4))
    expected = cv2.createCLAHE(3.0, (4, 4)).apply(cv2.cvtColor(dark, cv2.COLOR_RGB2GRAY))
    unsaturated = out.max(axis=2) < 255
    error = np.abs(luma(out) - expected)[unsaturated]
    assert unsaturated.mean() > 0.5 and np.median(error) <= 1 and np.mean(error <= 2) > 0.95


def test_agcwd_follows_the_paper_formula():
    """A two-level image by hand: pdf = (0.75 at 10, 0.25 at 200, 0 elsewhere)."""
    image = np.full((4, 4, 3), 10, np.uint8)
    image[:1] = 200
    pdf = np.zeros(256)
    pdf[10], pdf[200] = 0.75, 0.25
    w = 0.75 * (pdf / 0.75) ** 0.5
    cdf = np.cumsum(w) / w.sum()
    expect = 255 * (np.array([10, 200]) / 255) ** (1 - cdf[[10, 200]])
    out = classical.agcwd(image, alpha=0.5)
    assert abs(out[1, 0, 0] - expect[0]) <= 1 and abs(out[0, 0, 0] - expect[1]) <= 1


def test_surround_close_to_full_gaussian(dark):
    f = dark.astype(np.float32) / 255
    for sigma in (15.0, 80.0):
        exact = cv2.GaussianBlur(f, (0, 0), sigma)
        assert np.abs(retinex.surround(f, sigma) - exact).max() < 1 / 255


def test_msr_color_restoration_changes_colours_not_grey(dark):
    plain, restored = classical.msr(dark), classical.msr(dark, color_restoration=True)
    assert np.abs(plain.astype(int) - restored).mean() > 2


def test_lime_refined_illumination_within_bounds_and_edge_aware():
    """Refinement minimizes ||T - T0||^2 + alpha ||W o grad T||_1, whose minimizer lies in
    [min T0, max T0] (classical.illumination.refine_illumination); it must smooth texture, keep a strong edge
    (a plain blur would not) and lower the objective below T0's own."""
    rng = np.random.default_rng(0)
    t0 = np.where(np.arange(64)[None, :] < 32, 0.2, 0.8) + rng.uniform(-0.05, 0.05, (48, 64))
    t0 = t0.astype(np.float32)
    t = refine_illumination(t0)
    assert t0.min() - 1e-2 <= t.min() and t.max() <= t0.max() + 1e-2
    assert t[:, 3:29].std() < 0.5 * t0[:, 3:29].std()        # texture smoothed
    assert (t[:, 33] - t[:, 30]).mean() > 0.5                  # edge kept sharp
    wh, wv = structure_weights(t0, 2.0, 1e-3)

    def objective(x):
        gh, gv = gradients(x)
        return ((x - t0) ** 2).sum() + 0.15 * ((wh * np.abs(gh)).sum() + (wv * np.abs(gv)).sum())
    assert objective(t) < 0.5 * objective(t0)
    assert objective(t) < objective(cv2.GaussianBlur(t0, (0, 0), 2.0))


def test_lime_illumination_on_photo_within_bounds(dark):
    rgb = dark.astype(np.float32) / 255
    t0 = rgb.max(axis=2)
    for scale in (1, 0.5):
        t = illumination(rgb, scale)
        assert t0.min() - 1e-2 <= t.min() and t.max() <= t0.max() + 1e-2


def test_exposure_ratio_brightens_dark_and_leaves_bright_alone(dark):
    rgb = dark.astype(np.float32) / 255
    assert best_exposure_ratio(rgb, rgb.max(axis=2)) > 1.5
    bright = np.full((20, 20, 3), 0.9, np.float32)
    assert best_exposure_ratio(bright, bright.max(axis=2)) == 1.0


BAD_INPUTS = [
    (np.zeros((8, 8), np.uint8), ValueError, "greyscale"),
    (np.zeros((8, 8, 1), np.uint8), ValueError, "greyscale"),
    (np.zeros((8, 8, 4), np.uint8), ValueError, "RGBA"),
    (np.zeros((8, 8, 3), np.uint16), TypeError, "16-bit"),
    (np.zeros((0, 8, 3), np.uint8), ValueError, "empty"),
    (np.zeros((8, 8, 3), np.int32), TypeError, "dtype"),
    (np.full((8, 8, 3), 2.0), ValueError, r"\[0, 1\]"),
    (np.full((8, 8, 3), np.nan), ValueError, r"\[0, 1\]"),
    ([[1, 2, 3]], TypeError, "numpy array"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("image,error,message", BAD_INPUTS)
def test_bad_inputs_refused_clearly(name, image, error, message):
    with pytest.raises(error, match=message):
        METHODS[name](image)


@pytest.mark.parametrize("name", NAMES)
def test_tiny_images(name):
    out = METHODS[name](np.full((1, 1, 3), 30, np.uint8))
    assert out.shape == (1, 1, 3)
    out = METHODS[name](np.random.default_rng(1).integers(0, 60, (3, 2, 3), dtype=np.uint8))
    assert out.shape == (3, 2, 3)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("name, params, message", [
    ("clahe", {"tiles": (0, 0)}, "tiles must be two integers >= 1"),  # OpenCV: SIGFPE
    ("clahe", {"clip_limit": -1}, "clip_limit"),
    ("gamma", {"gamma": NAN}, "gamma"), ("gamma", {"gamma": INF}, "gamma"),
    ("agcwd", {"alpha": -1}, "alpha"), ("agcwd", {"alpha": NAN}, "alpha"),
    ("lime", {"alpha": -1}, "alpha"), ("lime", {"gamma": NAN}, "gamma"),
    ("lime", {"sigma": 0}, "sigma"), ("exposure", {"mu": -1}, "mu"),
    ("exposure", {"mu": NAN}, "mu"), ("ssr", {"clip": 0.6}, "clip"), ("ssr", {"sigma": 0}, "sigma"),
    ("msr", {"sigmas": ()}, "sigmas"),
])
def test_parameters_out_of_range_are_refused_by_name(name, params, message, dark):
    # They gave black, grey or NaN images, OpenCV assertions, or killed the interpreter.
    with pytest.raises(ValueError, match=f"{name}: {message}"):
        METHODS[name](dark, **params)


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 90, 3), (64, 80, 3)])
def test_loe_counts_the_pairs_that_flip(shape):
    rng = np.random.default_rng(4)
    original = rng.integers(0, 256, shape, dtype=np.uint8)
    enhanced = np.clip(original * 2 - rng.integers(0, 40, shape), 0, 255).astype(np.uint8)
    scale = 50 / min(shape[:2])
    dims = (max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale)))
    a, b = (cv2.resize(x, dims, interpolation=cv2.INTER_AREA).max(axis=2).ravel()
            for x in (original, enhanced))
    pairs = (a[:, None] >= a[None, :]) != (b[:, None] >= b[None, :])  # the definition, pair by pair
    assert metrics.loe(original, enhanced) == pairs.sum() / a.size
