"""The trainer: the seed's flags, loss going down, backend parity, exact resume, snapshots the
published code loads, and 2-process DistributedDataParallel = 1 process on the same batch."""
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from sgz_fast import _extension, losses, train
from sgz_fast.data import LowLightImages
from sgz_fast.model import SGZ

FUSED = pytest.mark.skipif(not _extension.KERNELS["dsconv"].get("cpu"),
                           reason="the compiled extension (fused CPU kernels) is not built")

# The seed README's hyperparameter table.
SEED_DEFAULTS = {
    "lowlight_images_path": "data/train_data/", "lr": 1e-3, "weight_decay": 1e-3,
    "grad_clip_norm": 0.1, "num_epochs": 100, "train_batch_size": 6, "val_batch_size": 8,
    "num_workers": 4, "display_iter": 10, "snapshot_iter": 10, "scale_factor": 1,
    "snapshots_folder": "weight/", "load_pretrain": False, "pretrain_dir": "weight/Epoch99.pth",
    "num_of_SegClass": 21, "conv_type": "dsc", "patch_size": 4, "exp_level": 0.6,
}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """8 small dark images (different sizes: the trainer resizes)."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    for i in range(8):
        array = (rng.random((36 + i, 40, 3)) ** 2 * 90).astype(np.uint8)
        Image.fromarray(array).save(folder / f"img{i}.png")
    return folder


def run(images, out, *extra):
    argv = ["--lowlight_images_path", str(images), "--snapshots_folder", str(out),
            "--image_size", "32", "--train_batch_size", "4", "--num_workers", "0",
            "--semantic", "none", "--no_progress", "--display_iter", "100", *map(str, extra)]
    return train.train(train.build_parser().parse_args(argv))


def assert_same_weights(a, b, rtol=0.0, atol=0.0):
    a, b = a.state_dict(), b.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=rtol, atol=atol, msg=key)


def test_seed_flags_and_defaults():
    args = train.build_parser().parse_args([])
    for name, value in SEED_DEFAULTS.items():
        assert getattr(args, name) == value, name


@pytest.mark.parametrize("text,value", [("True", True), ("False", False), ("false", False),
                                        ("1", True), ("0", False)])
def test_load_pretrain_reads_as_written(text, value):
    assert train.build_parser().parse_args(["--load_pretrain", text]).load_pretrain is value


def test_load_pretrain_rejects_other_words(capsys):
    with pytest.raises(SystemExit):
        train.build_parser().parse_args(["--load_pretrain", "maybe"])
    assert "expected True or False" in capsys.readouterr().err


def test_load_pretrain_true_loads_and_false_ignores(images, tmp_path):
    donor = SGZ()
    torch.nn.init.normal_(donor.e_conv3.point_conv.weight)
    torch.save(donor.state_dict(), tmp_path / "pre.pth")
    loaded = run(images, tmp_path / "a", "--num_epochs", 0, "--load_pretrain", "True",
                 "--pretrain_dir", tmp_path / "pre.pth")
    assert_same_weights(loaded, donor)
    ignored = run(images, tmp_path / "b", "--num_epochs", 0, "--load_pretrain", "False",
                  "--pretrain_dir", tmp_path / "missing.pth")
    assert not torch.equal(ignored.e_conv3.point_conv.weight, donor.e_conv3.point_conv.weight)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        run(images, tmp_path / "c", "--num_epochs", 0, "--load_pretrain", "True",
            "--pretrain_dir", tmp_path / "missing.pth")


def batch_loss(model, images):
    batch = torch.stack([LowLightImages(images, 32)[i] for i in range(8)])
    with torch.no_grad():
        enhanced, r = model(batch)
        return losses.sgz_loss(enhanced, batch, r).total.item()


def test_short_run_lowers_total_loss(images, tmp_path):
    torch.manual_seed(0)
    before = batch_loss(SGZ(), images)  # the trainer seeds the same way before building SGZ
    trained = run(images, tmp_path, "--num_epochs", 5, "--seed", 0)
    after = batch_loss(trained, images)
    assert after < 0.8 * before, (before, after)
    log = (tmp_path / "loss_log.csv").read_text().splitlines()
    assert log[0].split(",")[4:] == list(train.TERMS) and len(log) == 1 + 10


def test_snapshots_are_plain_state_dicts_the_published_code_loads(images, tmp_path):
    model = run(images, tmp_path, "--num_epochs", 2, "--snapshot_iter", 1)
    for epoch in (0, 1):
        state = torch.load(tmp_path / f"Epoch{epoch}.pth", weights_only=True)
        assert isinstance(state, dict) and len(state) == 28
        assert set(state) == {f"e_conv{k}.{conv}.{p}" for k in range(1, 8)
                              for conv in ("depth_conv", "point_conv") for p in ("weight", "bias")}
        assert all(t.device.type == "cpu" for t in state.values())
    assert_same_weights(model, _loaded(tmp_path / "Epoch1.pth"))
    checkpoint = torch.load(tmp_path / "checkpoint.pth", weights_only=False)
    assert (checkpoint["epoch"], checkpoint["iteration"], checkpoint["step"]) == (2, 0, 4)
    assert {"torch", "numpy", "python"} <= set(checkpoint["rng"])


def _loaded(path):
    model = SGZ()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model


@FUSED
def test_fused_and_reference_backends_reach_the_same_weights(images, tmp_path):
    fused = run(images, tmp_path / "f", "--num_epochs", 3, "--backend", "fused")
    reference = run(images, tmp_path / "r", "--num_epochs", 3, "--backend", "reference")
    assert fused.backend == "fused" and reference.backend == "reference"
    assert_same_weights(fused, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stop_after", [2, 3])  # at an epoch boundary, and mid-epoch
def test_resume_continues_exactly_as_a_straight_run(images, tmp_path, stop_after):
    flags = ("--num_epochs", 3, "--flip", "--crop", 24, "--seed", 3)
    straight = run(images, tmp_path / "straight", *flags)
    run(images, tmp_path / "resumed", *flags, "--max_steps", stop_after)
    resumed = run(images, tmp_path / "resumed", *flags, "--resume",
                  tmp_path / "resumed" / "checkpoint.pth")
    assert_same_weights(straight, resumed)
    straight_log = (tmp_path / "straight" / "loss_log.csv").read_text().splitlines()
    resumed_log = (tmp_path / "resumed" / "loss_log.csv").read_text().splitlines()
    strip = [line.split(",") for line in straight_log], [line.split(",") for line in resumed_log]
    assert [r[:3] + r[4:] for r in strip[0]] == [r[:3] + r[4:] for r in strip[1]]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, images, out):
    import os
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    argv = ["--lowlight_images_path", str(images), "--snapshots_folder", str(out),
            "--image_size", "32", "--train_batch_size", "2", "--num_workers", "0",
            "--semantic", "none", "--no_progress", "--num_epochs", "2", "--device", "cpu",
            "--backend", "reference"]
    train.train(train.build_parser().parse_args(argv))


def test_two_gloo_processes_match_one_process_on_the_same_global_batch(images, tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(images), str(tmp_path / "ddp")), nprocs=2)
    single = run(images, tmp_path / "one", "--num_epochs", 2, "--backend", "reference")
    assert_same_weights(single, _loaded(tmp_path / "ddp" / "Epoch1.pth"), rtol=1e-5, atol=1e-6)


def test_the_seed_training_command_runs_as_it_is(images, tmp_path):
    """The seed README's command, default objective (the semantic term on EfficientNet-Lite0,
    from the semantic extra that scripts/setup.sh and CI install): a few steps on tiny images
    write the published snapshot and a finite loss for every term."""
    subprocess.run([sys.executable, "-m", "sgz_fast.train", "--lowlight_images_path",
                    str(images), "--snapshots_folder", str(tmp_path / "weight"), "--num_epochs",
                    "1", "--image_size", "32", "--train_batch_size", "4", "--num_workers", "0",
                    "--snapshot_iter", "1", "--no_progress"], check=True, capture_output=True)
    assert (tmp_path / "weight" / "Epoch0.pth").is_file()
    header, *rows = (tmp_path / "weight" / "loss_log.csv").read_text().splitlines()
    semantic = header.split(",").index("sem")
    assert len(rows) == 2 and all(float(r.split(",")[semantic]) > 0 for r in rows)


def test_another_runs_snapshots_are_not_clobbered(images, tmp_path, capsys):
    run(images, tmp_path, "--max_steps", 1, "--lr", "0.001")
    log = (tmp_path / "loss_log.csv").read_text()
    with pytest.raises(SystemExit, match=r"another run's checkpoint.pth.*--lr 0.001 there, "
                                         r"0.01 now.*--resume"):
        train.main(["--lowlight_images_path", str(images), "--snapshots_folder", str(tmp_path),
                    "--semantic", "none", "--lr", "0.01", "--max_steps", "1"])
    assert (tmp_path / "loss_log.csv").read_text() == log  # untouched
    run(images, tmp_path, "--max_steps", 1, "--lr", "0.01", "--overwrite")  # asked for
    run(images, tmp_path, "--max_steps", 2, "--lr", "0.01",
        "--resume", tmp_path / "checkpoint.pth")  # continuing it is fine too
    (tmp_path / "checkpoint.pth").unlink()
    with pytest.raises(ValueError, match=r"loss_log.csv is from another run"):
        run(images, tmp_path, "--max_steps", 1)


def test_fine_tuning_into_the_folder_of_ones_weights_works(images, tmp_path):
    """The published example: --pretrain_dir weight/Epoch99.pth --snapshots_folder weight/."""
    torch.save(SGZ().state_dict(), tmp_path / "Epoch99.pth")
    run(images, tmp_path, "--max_steps", 1, "--load_pretrain", "True", "--pretrain_dir",
        tmp_path / "Epoch99.pth")
    assert (tmp_path / "Epoch0.pth").is_file()


def test_checkpoints_load_as_tensors_and_plain_values_only(images, tmp_path):
    run(images, tmp_path, "--max_steps", 1)
    state = torch.load(tmp_path / "checkpoint.pth", weights_only=True)  # no pickled objects
    assert state["step"] == 1
    # a checkpoint with a pickled object (any class: it could run code when loaded)
    state["rng"]["numpy"] = np.random.get_state()  # an older checkpoint's ndarray, for one
    torch.save(state, tmp_path / "old.pth")
    with pytest.raises(ValueError, match=r"old.pth holds more than tensors.*--trust_checkpoint"):
        run(images, tmp_path / "b", "--max_steps", 2, "--resume", tmp_path / "old.pth")
    run(images, tmp_path / "b", "--max_steps", 2, "--resume", tmp_path / "old.pth",
        "--trust_checkpoint")
    assert torch.load(tmp_path / "b" / "checkpoint.pth", weights_only=True)["step"] == 2


def test_a_trained_run_is_never_restarted_or_resumed_over_without_asking(images, tmp_path):
    run(images, tmp_path / "a", "--max_steps", 2)
    log = (tmp_path / "a" / "loss_log.csv").read_text()
    with pytest.raises(ValueError, match=r"a run with these settings, trained 2 steps.*--resume"):
        run(images, tmp_path / "a", "--max_steps", 1)  # the same command again
    run(images, tmp_path / "b", "--max_steps", 1, "--seed", 5)
    with pytest.raises(ValueError, match=r"holds another run's checkpoint.pth than --resume"):
        run(images, tmp_path / "b", "--max_steps", 3, "--resume", tmp_path / "a" / "checkpoint.pth")
    assert (tmp_path / "a" / "loss_log.csv").read_text() == log
    with pytest.raises(ValueError, match=r"--lr 0.001 there, 0.5 now"):
        run(images, tmp_path / "a", "--max_steps", 3, "--lr", 0.5,
            "--resume", tmp_path / "a" / "checkpoint.pth")
    with pytest.raises(ValueError, match=r"not a checkpoint.pth.*--pretrain_dir"):
        run(images, tmp_path / "a", "--max_steps", 3, "--resume", tmp_path / "a" / "Epoch0.pth")
    # a run that failed before its first step (a header only) does not block its rerun
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "loss_log.csv").write_text(log.splitlines()[0] + "\n")
    run(images, tmp_path / "c", "--max_steps", 1)


def test_resume_drops_rows_logged_after_the_checkpoint_and_keeps_max_steps(images, tmp_path):
    run(images, tmp_path, "--max_steps", 2)
    log = tmp_path / "loss_log.csv"
    rows = log.read_text().splitlines()
    crashed = rows[-1].split(",")
    crashed[1] = crashed[2] = "3"  # a row a crash logged after the checkpoint
    log.write_text("\n".join(rows + [",".join(crashed)]) + "\n")
    run(images, tmp_path, "--max_steps", 2, "--resume", tmp_path / "checkpoint.pth")
    assert log.read_text().splitlines() == rows  # nothing trained: --max_steps is reached
    assert torch.load(tmp_path / "checkpoint.pth", weights_only=True)["step"] == 2
    run(images, tmp_path, "--max_steps", 3, "--resume", tmp_path / "checkpoint.pth")
    assert [r.split(",")[2] for r in log.read_text().splitlines()[1:]] == ["1", "2", "3"]


def test_16_bit_greyscale_images_train_as_they_look(tmp_path):
    dark = (np.random.default_rng(0).random((40, 40)) * 8000).astype(np.uint16)
    Image.fromarray(dark).save(tmp_path / "scan.png")
    image = LowLightImages(tmp_path, 32)[0]
    assert image.shape == (3, 32, 32) and 0.03 < image.mean() < 0.1  # not clipped to white


@pytest.mark.parametrize("flag", ["--image_size", "--display_iter", "--snapshot_iter"])
def test_sizes_and_intervals_must_be_positive(flag, capsys):
    with pytest.raises(SystemExit):
        train.build_parser().parse_args([flag, "0"])
    assert "expected an integer >= 1" in capsys.readouterr().err
