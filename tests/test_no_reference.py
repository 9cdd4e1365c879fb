"""NIQE, BRISQUE and PIQE (classical.no_reference). No published score can be checked offline
(the MATLAB releases' test images and values are not here), so the tests check the pieces
against their definitions and the scores for a sanity ordering: a pristine photo scores better
than its blurred, noisy and JPEG-q5 versions, on photos the NIQE model was not fitted on."""
import cv2
import numpy as np
import pytest
from scipy import special
from skimage import data

from classical import metrics, no_reference as nr

HELD_OUT = ("camera", "immunohistochemistry")  # not among the NIQE model's photos


def rgb(name):
    image = getattr(data, name)()
    return np.dstack([image] * 3) if image.ndim == 2 else image[:, :, :3]


def distorted(image):
    rng = np.random.default_rng(0)
    blurred = cv2.GaussianBlur(image, (0, 0), 2.0)
    noisy = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 5])
    return {"blurred": blurred, "noisy": noisy, "JPEG q5": cv2.imdecode(encoded, 1)[:, :, ::-1]}


@pytest.mark.parametrize("score", [metrics.niqe, metrics.brisque, metrics.piqe],
                         ids=["niqe", "brisque", "piqe"])
@pytest.mark.parametrize("name", HELD_OUT)
def test_pristine_scores_better_than_each_distortion(score, name):
    pristine = rgb(name)
    base = score(pristine)
    for kind, image in distorted(pristine).items():
        assert score(image) > base + 5, kind
    assert isinstance(base, float)


@pytest.mark.parametrize("shape", [0.6, 1.0, 2.0, 3.5])
def test_ggd_fit_recovers_the_shape(shape):
    rng = np.random.default_rng(1)
    # A generalised Gaussian sample: |x|^shape ~ Gamma(1/shape), random signs.
    magnitude = rng.gamma(1 / shape, 1.0, 200_000) ** (1 / shape)
    values = magnitude * rng.choice([-1.0, 1.0], magnitude.size)
    fitted, variance = nr.ggd_fit(values)
    assert abs(fitted - shape) < 0.05 * shape
    assert variance == pytest.approx(special.gamma(3 / shape) / special.gamma(1 / shape), rel=0.02)


def test_aggd_fit_of_an_asymmetric_laplacian():
    rng = np.random.default_rng(2)
    values = np.concatenate([-rng.exponential(1.0, 100_000), rng.exponential(2.0, 100_000)])
    shape, mean, left, right = nr.aggd_fit(values)
    assert abs(shape - 1.0) < 0.1
    assert left == pytest.approx(2.0, rel=0.05) and right == pytest.approx(8.0, rel=0.05)
    assert mean > 0  # the heavier right side


def test_halving_is_matlab_imresize():
    """imresize(x, 0.5): a linear ramp stays a ramp (bicubic with antialiasing is exact on
    linear data inside the image), a constant stays constant, odd sizes round up."""
    ramp = np.add.outer(np.arange(40.0), 2 * np.arange(31.0))
    half = nr.halve(ramp)
    assert half.shape == (20, 16)
    inner = half[3:-3, 3:-3]
    expected = np.add.outer(2 * np.arange(20.0) + 0.5, 4 * np.arange(16.0) + 1.0)[3:-3, 3:-3]
    np.testing.assert_allclose(inner, expected, atol=1e-9)
    np.testing.assert_allclose(nr.halve(np.full((9, 7), 5.0)), 5.0)


def test_mscn_of_a_flat_image_is_zero_and_grey_is_matlabs():
    assert np.all(nr.mscn(np.full((20, 20), 90.0))[0] == 0)
    assert nr.grey(np.array([[[255, 0, 0], [10, 20, 30]]], np.uint8)).tolist() == [[76.0, 18.0]]


def test_small_images_and_flat_images():
    with pytest.raises(ValueError, match="192 x 192"):
        metrics.niqe(np.zeros((100, 300, 3), np.uint8))
    assert metrics.piqe(np.full((64, 64, 3), 128, np.uint8)) == 100.0  # no active block


def test_brisque_refuses_images_too_small_for_its_features():
    with pytest.raises(ValueError, match="at least 32 x 32"):
        nr.brisque(np.zeros((8, 8, 3), np.uint8))
