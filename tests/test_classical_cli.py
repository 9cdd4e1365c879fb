"""sgz-classical on a folder tree and globs: outputs mirrored, inputs and outputs never
overwritten, unreadable files reported and skipped with exit status 1; the comparison's SGZ
hook."""
import numpy as np
import pytest
import torch
from PIL import Image

import sgz_fast.model
from classical import METHODS, cli, compare
from sgz_fast.demo import SAMPLES
from sgz_fast.model import SGZ, load_sgz


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    dark = Image.open(SAMPLES / "chelsea.png").convert("RGB").crop((0, 0, 64, 48))
    dark.save(root / "a.png")
    dark.save(root / "sub" / "deeper" / "b.jpg", quality=95)
    return root


def test_mirrors_the_tree_and_brightens(tree, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["--method", "gamma", str(tree), "-o", str(out)]) == 0
    for rel in ("a.png", "sub/deeper/b.jpg"):
        before = np.asarray(Image.open(tree / rel), dtype=float)
        after = np.asarray(Image.open(out / rel), dtype=float)
        assert after.shape == before.shape and after.mean() > before.mean() + 10


def test_all_writes_one_subfolder_per_method(tree, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["--method", "all", str(tree / "a.png"), "-o", str(out)]) == 0
    assert sorted(p.parent.name for p in out.rglob("*.png")) == sorted(METHODS)
    assert "ms per file" in capsys.readouterr().out


def test_refuses_existing_outputs_unless_overwrite(tree, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"mine")
    with pytest.raises(SystemExit):
        cli.main(["-m", "he", str(tree / "a.png"), "-o", str(out)])
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "a.png").read_bytes() == b"mine"
    assert cli.main(["-m", "he", str(tree / "a.png"), "-o", str(out), "--overwrite"]) == 0
    assert Image.open(out / "a.png").size == (64, 48)


def test_never_overwrites_an_input(tree, capsys):
    original = (tree / "a.png").read_bytes()
    with pytest.raises(SystemExit):
        cli.main(["-m", "he", str(tree), "-o", str(tree), "--overwrite"])
    assert "would overwrite an input" in capsys.readouterr().err
    assert (tree / "a.png").read_bytes() == original


def test_globs_keep_names_and_missing_inputs_are_reported(tree, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["-m", "he", str(tree / "**" / "*.jpg"), "-o", str(out)]) == 0
    assert [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()] == ["b.jpg"]
    assert cli.main(["-m", "he", str(tree / "*.png"), str(tree / "nothing*.png"),
                     "-o", str(tmp_path / "out2")]) == 1
    assert "nothing*.png: no such file, folder or match" in capsys.readouterr().err
    assert (tmp_path / "out2" / "a.png").is_file()


def test_all_refuses_two_inputs_with_one_name(tree, tmp_path, capsys):
    (tree / "sub" / "a.png").write_bytes((tree / "a.png").read_bytes())
    with pytest.raises(SystemExit):
        cli.main(["-m", "all", str(tree / "a.png"), str(tree / "sub" / "a.png"),
                  "-o", str(tmp_path / "out")])
    assert "would both be written to" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_file_reported_skipped_nonzero_exit(tree, tmp_path, capsys):
    (tree / "sub" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert cli.main(["-m", "clahe", str(tree), "-o", str(out)]) == 1
    assert "broken.png: cannot read it as an image" in capsys.readouterr().err
    assert (out / "a.png").is_file() and (out / "sub" / "deeper" / "b.jpg").is_file()
    assert not (out / "sub" / "broken.png").exists()


def test_16bit_grey_and_rgba_files_keep_their_depth_grey_and_alpha(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    ramp = (np.linspace(0, 0.2, 64 * 48).reshape(48, 64) * 65535).astype(np.uint16)
    Image.fromarray(ramp).save(inputs / "scan16.png")
    rgba = np.dstack([np.full((48, 64, 3), 30, np.uint8), np.full((48, 64), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(inputs / "alpha.png")
    out = tmp_path / "out"
    assert cli.main(["-m", "agcwd", str(inputs), "-o", str(out)]) == 0
    with Image.open(out / "scan16.png") as scan:  # as sgz-enhance writes them
        assert scan.mode.startswith("I") and np.asarray(scan).mean() > ramp.mean() + 2000
    with Image.open(out / "alpha.png") as alpha:
        assert alpha.mode == "RGBA" and np.array_equal(np.asarray(alpha)[..., 3], rgba[..., 3])
        assert alpha.info["Software"].endswith("classical agcwd")


@pytest.fixture
def sgz_weights(tmp_path):
    path = tmp_path / "sgz.pth"
    torch.manual_seed(0)
    torch.save(SGZ().state_dict(), path)
    return path


def test_comparison_sgz_method_runs_the_model(sgz_weights):
    """The comparison's --with-sgz method: SGZ at scale 12 with the given weights, uint8 in and
    out; float input gives float out (as 16-bit photos need), the same picture up to rounding."""
    dark = np.asarray(Image.open(SAMPLES / "chelsea.png").convert("RGB"))[:50, :70].copy()
    sgz = compare.sgz_method(str(sgz_weights))
    out = sgz(dark)
    assert out.shape == dark.shape and out.dtype == np.uint8
    model = load_sgz(sgz_weights, scale_factor=12)
    with torch.no_grad():
        expected = model.enhance(torch.from_numpy(dark / 255.0).float().permute(2, 0, 1)[None])
    expected = (expected[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.abs(out.astype(int) - expected).max() <= 1
    as_float = sgz(dark / 255.0)
    assert as_float.dtype == np.float32
    assert np.abs((as_float * 255 + 0.5).astype(int) - expected).max() <= 1


def test_comparison_with_sgz_missing_weights_is_a_clear_error(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare.main(["-o", str(tmp_path), f"--with-sgz={tmp_path / 'none.pth'}"])
    assert exit_info.value.code == 2 and "none.pth" in capsys.readouterr().err
    monkeypatch.setattr(sgz_fast.model, "DEFAULT_WEIGHTS", tmp_path / "sgz_default.pth")
    with pytest.raises(SystemExit):
        compare.main(["-o", str(tmp_path), "--with-sgz"])
    assert "bundled default weights are missing" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_an_output_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "taken").write_text("mine")
    Image.fromarray(np.full((8, 8, 3), 30, np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(SystemExit):
        cli.main(["-m", "gamma", str(tmp_path / "a.png"), "-o", str(tmp_path / "taken")])
    assert "is a file" in capsys.readouterr().err and (tmp_path / "taken").read_text() == "mine"


def test_comparison_checks_its_output_before_evaluating(tmp_path, capsys):
    for argv, message in [(["-o", str(tmp_path / "taken")], "is a file"),
                          (["-o", str(tmp_path), "--date", "2026/12"], "plain name"),
                          (["-o", str(tmp_path), "--date", "day"], "exists already")]:
        (tmp_path / "taken").write_text("mine")
        (tmp_path / "day-classical-comparison.md").write_text("an earlier report")
        with pytest.raises(SystemExit):
            compare.main(argv)
        assert message in capsys.readouterr().err
    assert (tmp_path / "day-classical-comparison.md").read_text() == "an earlier report"
