"""The quick-start demo on real files: outputs written, brighter, nothing overwritten."""
import numpy as np
import pytest
from PIL import Image

from sgz_fast import demo


def test_demo_brightens_bundled_samples(tmp_path):
    assert demo.main(["-o", str(tmp_path)]) == 0
    samples = sorted(demo.SAMPLES.glob("*.png"))
    assert samples
    for sample in samples:
        before = np.asarray(Image.open(sample).convert("RGB"), dtype=np.float64)
        after = np.asarray(Image.open(tmp_path / sample.name), dtype=np.float64)
        assert after.shape == before.shape
        assert after.mean() > before.mean() + 20
    assert (tmp_path / "comparison.png").is_file()


def test_demo_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "astronaut.png"
    existing.write_bytes(b"mine")
    with pytest.raises(SystemExit):
        demo.main([str(demo.SAMPLES / "astronaut.png"), "-o", str(out)])
    assert "--overwrite" in capsys.readouterr().err
    assert existing.read_bytes() == b"mine"


def test_demo_reports_unreadable_files_and_fails(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "broken.png").write_bytes(b"not a png")
    Image.open(demo.SAMPLES / "chelsea.png").save(inputs / "good.png")
    assert demo.main([str(inputs), "-o", str(tmp_path / "out")]) == 1
    assert "broken.png: cannot read it as an image" in capsys.readouterr().err
    assert (tmp_path / "out" / "good.png").is_file()


def test_demo_reads_photos_as_people_have_them(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    dark = np.asarray(Image.open(demo.SAMPLES / "chelsea.png").convert("RGB"))  # 451 x 300
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90 degrees clockwise to display
    Image.fromarray(dark).save(inputs / "phone.jpg", exif=exif, quality=95)
    grey16 = (dark.mean(axis=2) * 257).astype(np.uint16)  # 16-bit greyscale
    Image.fromarray(grey16).save(inputs / "scan16.png")
    out = tmp_path / "out"
    assert demo.main([str(inputs), "-o", str(out)]) == 0
    phone = np.asarray(Image.open(out / "phone.jpg"))
    assert phone.shape == (451, 300, 3)  # shown upright, as a photo viewer shows it
    with Image.open(out / "scan16.png") as scan:  # 16-bit greyscale in, 16-bit greyscale out
        assert scan.mode.startswith("I")
        scan = np.asarray(scan, dtype=np.float64) / 257
    assert scan.shape == (300, 451)
    assert dark.mean() + 20 < scan.mean() < 200  # brightened, not clipped to white


def test_comparison_of_strips_and_panoramas_stays_small():
    # A 1 x 2000 strip made 256 tall was 512,000 wide (4 GB to build); a 2000 x 1 one crashed.
    strip, column, photo = (np.zeros(shape, np.uint8) for shape in
                            [(1, 2000, 3), (2000, 1, 3), (480, 640, 3)])
    image = demo.side_by_side([(strip, strip), (column, column), (photo, photo)])
    assert image.shape == (1 + 256 + 256, 2 * 1024, 3)
