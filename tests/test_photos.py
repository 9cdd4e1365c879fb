"""sgz-enhance on photos as people have them: what the output keeps of the input (EXIF, colour
profile, alpha, greyscale, 16-bit depth), who made it, and file permissions."""
import os
import stat

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from sgz_fast import enhance, imageio


@pytest.fixture
def dark():
    rng = np.random.default_rng(7)
    smooth = cv2.resize(rng.uniform(0, 60, (6, 8, 3)).astype(np.float32), (80, 48))
    return smooth.astype(np.uint8)  # (48, 80, 3), dark


def run(inputs, out, *options):
    assert enhance.main([*map(str, inputs), "-o", str(out), *options]) == 0


def profile_bytes():
    """An ICC profile Pillow can make offline (a real one: its bytes must come back as they
    were, whatever it describes)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_jpeg_keeps_exif_and_profile_and_says_who_made_it(tmp_path, dark):
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"   # Make
    exif[0x0132] = "2026:11:30 08:15:00"  # DateTime
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    icc = profile_bytes()
    Image.fromarray(dark).save(tmp_path / "phone.jpg", exif=exif, icc_profile=icc, quality=95)
    run([tmp_path / "phone.jpg"], tmp_path / "out")
    with Image.open(tmp_path / "out" / "phone.jpg") as out:
        assert out.size == (48, 80)  # upright, as a viewer shows the input
        kept = out.getexif()
        assert kept[0x010F] == "Camera Maker" and kept[0x0132] == "2026:11:30 08:15:00"
        assert kept.get(0x0112, 1) == 1  # the pixels are upright now
        assert kept[0x0131].startswith("sgz_fast ") and "sgz_default.pth" in kept[0x0131]
        assert out.info["icc_profile"] == icc
        assert np.asarray(out).mean() > dark.mean() + 10


def test_png_alpha_kept_and_strength_zero_is_the_identity(tmp_path, dark):
    alpha = np.tile(np.linspace(0, 255, 80).astype(np.uint8), (48, 1))
    icc = profile_bytes()
    Image.fromarray(np.dstack([dark, alpha]), "RGBA").save(tmp_path / "logo.png", icc_profile=icc)
    run([tmp_path / "logo.png"], tmp_path / "same", "--strength", "0")
    run([tmp_path / "logo.png"], tmp_path / "brighter")
    with Image.open(tmp_path / "same" / "logo.png") as same:
        assert same.mode == "RGBA" and same.info["icc_profile"] == icc
        assert same.info["Software"].startswith("sgz_fast ")
        assert np.array_equal(np.asarray(same), np.dstack([dark, alpha]))
    with Image.open(tmp_path / "brighter" / "logo.png") as brighter:
        pixels = np.asarray(brighter)
        assert np.array_equal(pixels[:, :, 3], alpha)
        assert pixels[:, :, :3].mean() > dark.mean() + 10


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_greyscale_in_greyscale_out(tmp_path, dark, mode):
    grey = Image.fromarray(dark).convert(mode)
    grey.save(tmp_path / "scan.png")
    run([tmp_path / "scan.png"], tmp_path / "out")
    with Image.open(tmp_path / "out" / "scan.png") as out:
        assert out.mode == mode
        assert np.asarray(out)[..., 0].mean() > np.asarray(grey)[..., 0].mean() + 10
        if mode == "LA":
            assert np.array_equal(np.asarray(out)[..., 1], np.asarray(grey)[..., 1])


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("alpha", [False, True])
def test_16_bit_colour_stays_16_bit(tmp_path, dark, suffix, alpha):
    rng = np.random.default_rng(3)
    deep = (dark.astype(np.uint16) * 257 + rng.integers(0, 257, dark.shape)).astype(np.uint16)
    stored = deep[:, :, ::-1]
    if alpha:
        stored = np.dstack([stored, np.full(dark.shape[:2], 40000, np.uint16)])
    assert cv2.imwrite(str(tmp_path / f"raw{suffix}"), stored)
    run([tmp_path / f"raw{suffix}"], tmp_path / "same", "--strength", "0")
    run([tmp_path / f"raw{suffix}"], tmp_path / "brighter")
    same = cv2.imread(str(tmp_path / "same" / f"raw{suffix}"), cv2.IMREAD_UNCHANGED)
    assert same.dtype == np.uint16 and same.shape == stored.shape
    # the float path all the way: within one 16-bit level, not rounded to 8 bits
    assert np.abs(same.astype(int) - stored).max() <= 1
    brighter = cv2.imread(str(tmp_path / "brighter" / f"raw{suffix}"), cv2.IMREAD_UNCHANGED)
    assert brighter[:, :, :3].mean() > stored[:, :, :3].mean() + 2000
    assert len(np.unique(brighter[:, :, :3] % 257)) > 100  # not 8-bit values scaled up
    if alpha:
        assert np.array_equal(brighter[:, :, 3], stored[:, :, 3])


def test_16_bit_png_keeps_its_profile_and_says_who_made_it(tmp_path, dark):
    assert cv2.imwrite(str(tmp_path / "raw.png"), dark.astype(np.uint16) * 257)
    icc = profile_bytes()
    photo = imageio.read_photo(tmp_path / "raw.png")
    photo.icc = icc
    imageio.save_photo(photo, photo.rgb, tmp_path / "tagged.png", software="sgz_fast test")
    run([tmp_path / "tagged.png"], tmp_path / "out")
    with Image.open(tmp_path / "out" / "tagged.png") as out:
        assert out.info["icc_profile"] == icc
        assert out.info["Software"].startswith("sgz_fast ")
        assert out.getexif()[0x0131].startswith("sgz_fast ")
    assert cv2.imread(str(tmp_path / "out" / "tagged.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_16_bit_greyscale(tmp_path, dark):
    grey = (dark.mean(axis=2) * 257).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "scan.png")
    run([tmp_path / "scan.png"], tmp_path / "out", "--strength", "0")
    with Image.open(tmp_path / "out" / "scan.png") as out:
        assert out.mode.startswith("I")
        assert np.abs(np.asarray(out).astype(int) - grey).max() <= 1


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_follow_the_umask(tmp_path, dark, umask):
    Image.fromarray(dark).save(tmp_path / "a.png")
    before = os.umask(umask)
    try:
        run([tmp_path / "a.png"], tmp_path / "out")
    finally:
        os.umask(before)
    assert stat.S_IMODE(os.stat(tmp_path / "out" / "a.png").st_mode) == 0o666 & ~umask
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]  # no temporary left
