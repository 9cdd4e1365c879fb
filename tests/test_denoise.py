"""Noise-aware output (sgz_fast.denoise): noise cleaned where the brightening brought it out,
bright noise-free images left alone, and the quality on synthetic dark photos measured against
SGZ's output on the same photo darkened without noise."""
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from skimage.metrics import structural_similarity

from classical.metrics import synthetic_low_light
from sgz_fast import enhance
from sgz_fast.denoise import denoise, noise_sigma
from sgz_fast.model import load_sgz


def rms(a, b):
    return float(np.sqrt(((a.astype(np.float64) - b) ** 2).mean()))


@pytest.fixture(scope="module")
def sgz():
    model = load_sgz()

    def run(dark):
        with torch.no_grad():
            return model.enhance_uint8(torch.from_numpy(dark)).numpy()
    return run


@pytest.mark.parametrize("mode", ["fast", "best"])
def test_a_bright_noise_free_image_is_left_alone(mode):
    image = data.astronaut()
    assert rms(denoise(image, image, mode), image) <= 1.0  # gain 1, no noise


@pytest.mark.parametrize("mode", ["fast", "best"])
def test_a_brightened_flat_noisy_patch_is_cleaned(mode):
    rng = np.random.default_rng(0)
    dark = np.clip(20 + rng.normal(0, 2.0, (256, 256, 3)) + 0.5, 0, 255).astype(np.uint8)
    enhanced = np.clip(dark.astype(np.float64) * 5, 0, 255).astype(np.uint8)  # gain 5
    out = denoise(dark, enhanced, mode)
    assert out.std() < enhanced.std() / 3  # the noise, 5 x 2 levels: at most a third left
    assert abs(out.mean() - enhanced.mean()) < 1.0  # not darkened or brightened


def test_quality_on_synthetic_dark_photos(sgz):
    """Each photo darkened twice by synthetic_low_light, with and without its noise (the
    same draw otherwise); the target is SGZ's output on the noise-free one. README, Denoise,
    gives the five-photo table; here two photos, with margins below what it shows."""
    for name in ("astronaut", "chelsea"):
        image = getattr(data, name)()
        clean, _ = synthetic_low_light(image, np.random.default_rng(3), noise=False)
        noisy, _ = synthetic_low_light(image, np.random.default_rng(3))
        target, enhanced = sgz(clean), sgz(noisy)
        off = rms(enhanced, target)
        fast, best = denoise(noisy, enhanced, "fast"), denoise(noisy, enhanced, "best")
        assert rms(fast, target) < 0.8 * off
        assert rms(best, target) < rms(fast, target)
        ssim = [structural_similarity(target, x, channel_axis=2) for x in (enhanced, fast, best)]
        assert ssim[0] < ssim[1] < ssim[2]
        assert rms(denoise(clean, target, "fast"), target) <= 1.0  # noise-free: left alone


def test_noise_estimate_grows_with_the_noise_and_is_zero_without():
    rng = np.random.default_rng(1)
    flat = np.full((256, 256, 3), 20.0)
    estimates = []
    for sigma in (0.0, 1.0, 2.0, 4.0):
        dark = np.clip(flat + rng.normal(0, sigma, flat.shape) + 0.5, 0, 255).astype(np.uint8)
        estimates.append(noise_sigma(dark, np.clip(dark * 4.0, 0, 255).astype(np.uint8)))
    assert estimates[0] == 0 and estimates == sorted(estimates) and estimates[-1] > 2.5


def test_bad_input_and_off():
    image = np.zeros((16, 16, 3), np.uint8)
    assert denoise(image, image, "off") is image
    with pytest.raises(ValueError, match="mode must be one of"):
        denoise(image, image, "strong")
    with pytest.raises(ValueError, match="uint8 arrays of one size"):
        denoise(image, image[:8], "fast")


def test_sgz_enhance_denoise_flag(tmp_path):
    dark, _ = synthetic_low_light(data.chelsea(), np.random.default_rng(3))
    Image.fromarray(dark).save(tmp_path / "cat.png")
    for mode in ("off", "fast"):
        assert enhance.main([str(tmp_path / "cat.png"), "-o", str(tmp_path / mode),
                             "--denoise", mode]) == 0
    plain, cleaned = (np.asarray(Image.open(tmp_path / m / "cat.png")) for m in ("off", "fast"))
    # the denoised output is smoother where it was brightened
    assert np.abs(np.diff(cleaned.astype(int), axis=1)).mean() < \
        0.8 * np.abs(np.diff(plain.astype(int), axis=1)).mean()
