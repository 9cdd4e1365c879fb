"""sgz-enhance on photos as people have them: what the output keeps of the input (EXIF, colour
profile, alpha, greyscale, 16-bit depth), who made it, and file permissions."""
import os
import stat
import struct

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, JpegImagePlugin

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


@pytest.mark.parametrize("mode, compression", [("RGB", "tiff_lzw"), ("P", None), ("CMYK", None),
                                               ("YCbCr", None), ("RGB", "tiff_adobe_deflate")])
def test_tiff_keeps_its_metadata_not_its_old_layout(tmp_path, dark, mode, compression):
    # For a TIFF, Pillow's EXIF is the whole first IFD: its size, colour type and strip tags
    # written back would describe the new pixels wrongly (found by trying such files).
    exif = Image.Exif()
    exif[0x010F] = "Scanner Maker"  # Make
    exif[0x0112] = 6
    source = Image.fromarray(dark).convert(mode)
    options = {"compression": compression} if compression else {}
    source.save(tmp_path / "scan.tif", exif=exif, **options)
    upright = np.rot90(np.asarray(source.convert("RGB")), 3)  # orientation 6
    run([tmp_path / "scan.tif"], tmp_path / "out", "--strength", "0")
    with Image.open(tmp_path / "out" / "scan.tif") as out:
        assert np.array_equal(np.asarray(out.convert("RGB")), upright)
        kept = out.getexif()
        assert kept[0x010F] == "Scanner Maker" and kept.get(0x0112, 1) == 1
        assert out.info.get("compression", "raw") == (compression or "raw")


def tiff_16_bit(rgb, orientation):
    """A minimal little-endian 16-bit RGB TIFF with an Orientation tag, as bytes."""
    h, w, _ = rgb.shape
    pixels = rgb.astype("<u2").tobytes()
    entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, "bits"), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, "pixels"), (274, 3, 1, orientation), (277, 3, 1, 3), (278, 3, 1, h),
               (279, 4, 1, len(pixels)), (284, 3, 1, 1)]
    bits_at = 8 + 2 + 12 * len(entries) + 4
    data = bytearray(b"II*\0" + struct.pack("<IH", 8, len(entries)))
    for tag, kind, count, value in entries:
        value = {"bits": bits_at, "pixels": bits_at + 6}.get(value, value)
        data += struct.pack("<HHIHH" if kind == 3 else "<HHII", tag, kind, count, value,
                            *((0,) if kind == 3 else ()))
    return bytes(data + struct.pack("<I3H", 0, 16, 16, 16) + pixels)


def test_16_bit_tiff_with_an_orientation_is_read_upright(tmp_path, dark):
    # OpenCV 5.0's imread fails on a TIFF whose orientation is not 1 (an internal assertion).
    deep = dark.astype(np.uint16) * 257
    (tmp_path / "scan.tif").write_bytes(tiff_16_bit(deep, 6))
    photo = imageio.read_photo(tmp_path / "scan.tif")
    assert photo.bits == 16
    assert np.array_equal(photo.rgb, np.rot90(deep, 3).astype(np.float32) / 65535.0)


def test_webp_lossless_stays_lossless(tmp_path, dark):
    Image.fromarray(dark).save(tmp_path / "art.webp", lossless=True)
    Image.fromarray(dark).save(tmp_path / "photo.webp", quality=90)
    run([tmp_path / "art.webp", tmp_path / "photo.webp"], tmp_path / "out", "--strength", "0")
    with Image.open(tmp_path / "out" / "art.webp") as out:
        assert np.array_equal(np.asarray(out), dark)
    assert imageio._webp_is_lossless(tmp_path / "out" / "art.webp")
    assert not imageio._webp_is_lossless(tmp_path / "out" / "photo.webp")  # at quality 95


def test_jpeg_keeps_its_chroma_sampling_xmp_and_dpi(tmp_path, dark):
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    Image.fromarray(dark).save(tmp_path / "full.jpg", subsampling=0, quality=95, xmp=xmp,
                               dpi=(300, 300), progressive=True)
    run([tmp_path / "full.jpg"], tmp_path / "out")
    with Image.open(tmp_path / "out" / "full.jpg") as out:
        assert JpegImagePlugin.get_sampling(out) == 0  # 4:4:4, not Pillow's default 4:2:0
        assert out.info["xmp"] == xmp and out.info.get("progressive")
        assert tuple(round(d) for d in out.info["dpi"]) == (300, 300)
