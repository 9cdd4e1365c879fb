"""sgz-classical on a folder tree and globs: outputs mirrored, inputs and outputs never
overwritten, unreadable files reported and skipped with exit status 1."""
import numpy as np
import pytest
from PIL import Image

from classical import METHODS, cli
from sgz_fast.demo import SAMPLES


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


def test_reads_16bit_grey_and_rgba_files(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    ramp = (np.linspace(0, 0.2, 64 * 48).reshape(48, 64) * 65535).astype(np.uint16)
    Image.fromarray(ramp).save(inputs / "scan16.png")
    rgba = np.dstack([np.full((48, 64, 3), 30, np.uint8), np.full((48, 64), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(inputs / "alpha.png")
    out = tmp_path / "out"
    assert cli.main(["-m", "agcwd", str(inputs), "-o", str(out)]) == 0
    scan = np.asarray(Image.open(out / "scan16.png"))
    assert scan.shape == (48, 64, 3) and scan.mean() > ramp.mean() / 257 + 10
    assert np.asarray(Image.open(out / "alpha.png")).shape == (48, 64, 3)
