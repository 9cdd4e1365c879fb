"""sgz-enhance on real files: folder trees, globs, videos, the published flags, bad inputs,
and never an overwritten file."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from sgz_fast import enhance
from sgz_fast.model import SGZ

cv2 = pytest.importorskip("cv2", reason="video tests need opencv-python-headless")

FACTOR = math.tanh(-1.0)  # every factor of the weights below


@pytest.fixture
def weights(tmp_path):
    """Weights whose factors are tanh(-1) everywhere (all weights zero, the last bias -1),
    so every output pixel is known exactly."""
    state = {k: torch.zeros_like(v) for k, v in SGZ().state_dict().items()}
    state["e_conv7.point_conv.bias"] = torch.full((3,), -1.0)
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    return path


def expected_pixels(rgb):
    x = torch.from_numpy(rgb).float() / 255
    r = torch.tensor(FACTOR, dtype=torch.float32)
    for _ in range(8):
        x = x + r * (x * x - x)
    return x.clamp(0, 1).mul(255).add(0.5).to(torch.uint8).numpy()


def dark_image(path, size=(40, 30), seed=0):
    rgb = np.random.default_rng(seed).integers(0, 80, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return rgb


def run(*args):
    return enhance.main([str(a) for a in args])


def test_folder_tree_files_and_globs_are_mirrored(tmp_path, weights):
    inputs = tmp_path / "in"
    a = dark_image(inputs / "a.png")
    b = dark_image(inputs / "deep" / "er" / "b.png", seed=1)
    c = dark_image(tmp_path / "loose" / "c.png", seed=2)
    dark_image(tmp_path / "globbed" / "d1.png", seed=3)
    dark_image(tmp_path / "globbed" / "d2.png", seed=4)
    (tmp_path / "globbed" / "notes.txt").write_text("a glob's other files are skipped")
    out = tmp_path / "out"
    assert run(inputs, tmp_path / "loose" / "c.png", tmp_path / "globbed" / "*",
               "-o", out, "--weights", weights) == 0
    for name, rgb in (("a.png", a), ("deep/er/b.png", b), ("c.png", c)):
        got = np.asarray(Image.open(out / name))
        assert np.array_equal(got, expected_pixels(rgb)), name
    assert (out / "d1.png").is_file() and (out / "d2.png").is_file()


def test_the_published_test_command_works(tmp_path, weights):
    rgb = dark_image(tmp_path / "data" / "DICM" / "01.png")
    out = tmp_path / "result"
    assert run("--input_dir", tmp_path / "data", "--weight_dir", weights, "--test_dir", out) == 0
    assert np.array_equal(np.asarray(Image.open(out / "DICM" / "01.png")), expected_pixels(rgb))


def test_batches_give_the_same_images(tmp_path, weights):
    for i in range(3):
        dark_image(tmp_path / "in" / f"{i}.png", seed=i)
    dark_image(tmp_path / "in" / "other_size.png", size=(24, 36))
    assert run(tmp_path / "in", "-o", tmp_path / "one", "--weights", weights) == 0
    assert run(tmp_path / "in", "-o", tmp_path / "three", "--weights", weights, "--batch", 3) == 0
    for path in (tmp_path / "one").iterdir():
        assert np.array_equal(np.asarray(Image.open(path)),
                              np.asarray(Image.open(tmp_path / "three" / path.name)))


def make_video(path, frames, fps=12.0, fourcc="MJPG"):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames, fps


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_video_keeps_size_rate_and_frames_and_is_enhanced(tmp_path, weights, suffix):
    rng = np.random.default_rng(0)
    gradient = np.linspace(10, 70, 64, dtype=np.float32)[None, :, None]
    frames = [np.clip(gradient + rng.normal(0, 2, (48, 64, 3)), 0, 255).astype(np.uint8)
              for _ in range(6)]
    source = tmp_path / f"clip{suffix}"
    make_video(source, frames, fourcc="MJPG" if suffix == ".avi" else "mp4v")
    decoded, _ = read_video(source)
    assert run(source, "-o", tmp_path / "out", "--weights", weights) == 0
    result, fps = read_video(tmp_path / "out" / source.name)
    assert len(result) == len(frames) and fps == pytest.approx(12.0)
    assert result[0].shape == frames[0].shape
    # Lossy codecs both ways: compare with the exact enhancement of the decoded input loosely.
    for got, src in zip(result, decoded):
        assert np.abs(got.astype(int) - expected_pixels(src).astype(int)).mean() < 4


def test_bad_files_are_reported_and_skipped(tmp_path, weights, capsys):
    inputs = tmp_path / "in"
    dark_image(inputs / "good.png")
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (inputs / "broken.mp4").write_bytes(b"no video here")
    assert run(inputs, "-o", tmp_path / "out", "--weights", weights) == 1
    err = capsys.readouterr().err
    assert "broken.jpg: cannot read it as an image" in err
    assert "broken.mp4: cannot decode" in err
    assert (tmp_path / "out" / "good.png").is_file()
    assert not (tmp_path / "out" / "broken.mp4").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.png"]  # no temporary files


def test_existing_outputs_are_kept_unless_overwrite(tmp_path, weights, capsys):
    rgb = dark_image(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"mine")
    with pytest.raises(SystemExit):
        run(tmp_path / "in", "-o", out, "--weights", weights)
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "a.png").read_bytes() == b"mine"
    assert run(tmp_path / "in", "-o", out, "--weights", weights, "--overwrite") == 0
    assert np.array_equal(np.asarray(Image.open(out / "a.png")), expected_pixels(rgb))


def test_inputs_are_never_overwritten(tmp_path, weights, capsys):
    dark_image(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    with pytest.raises(SystemExit):
        run(tmp_path / "a.png", "-o", tmp_path, "--weights", weights, "--overwrite")
    assert "would overwrite an input" in capsys.readouterr().err
    assert (tmp_path / "a.png").read_bytes() == before


def test_two_inputs_for_one_output_are_refused(tmp_path, weights, capsys):
    dark_image(tmp_path / "x" / "a.png")
    dark_image(tmp_path / "y" / "a.png")
    with pytest.raises(SystemExit):
        run(tmp_path / "x" / "a.png", tmp_path / "y" / "a.png", "-o", tmp_path / "out",
            "--weights", weights)
    assert "would both be written" in capsys.readouterr().err


def test_missing_or_malformed_weights_are_named(tmp_path, capsys):
    dark_image(tmp_path / "in" / "a.png")
    assert run(tmp_path / "in", "-o", tmp_path / "out", "--weights", tmp_path / "nope.pth") == 2
    assert "no file" in capsys.readouterr().err
    (tmp_path / "bad.pth").write_text("hello")
    assert run(tmp_path / "in", "-o", tmp_path / "out", "--weights", tmp_path / "bad.pth") == 2
    assert "bad.pth as a PyTorch state_dict" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_inputs_and_cpu_half_precision_are_refused(tmp_path, weights, capsys):
    with pytest.raises(SystemExit):
        run(tmp_path / "nothing_here", "-o", tmp_path / "out", "--weights", weights)
    assert "no such file" in capsys.readouterr().err
    dark_image(tmp_path / "a.png")
    with pytest.raises(SystemExit):
        run(tmp_path / "a.png", "-o", tmp_path / "out", "--device", "cpu", "--dtype", "float16")
    assert "runs on CUDA only" in capsys.readouterr().err
