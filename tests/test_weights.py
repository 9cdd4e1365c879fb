"""Loading weights: published-style state_dicts, our training checkpoints, and clear errors
that name the file and what was expected."""
import pytest
import torch

from sgz_fast import model as model_module
from sgz_fast.model import SGZ, load_sgz, load_weights


def saved(tmp_path, obj, name="weights.pth"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_loads_a_plain_state_dict_strictly(tmp_path):
    source = SGZ()
    model = load_weights(SGZ(), saved(tmp_path, source.state_dict()))
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


def test_loads_training_checkpoints_and_data_parallel_prefixes(tmp_path):
    source = SGZ()
    wrapped = {f"module.{k}": v for k, v in source.state_dict().items()}
    for obj in ({"model": source.state_dict(), "epoch": 3}, wrapped):
        model = load_weights(SGZ(), saved(tmp_path, obj))
        assert torch.equal(model.e_conv7.point_conv.bias, source.e_conv7.point_conv.bias)


def test_load_sgz_sets_scale_device_dtype_and_eval(tmp_path):
    path = saved(tmp_path, SGZ().state_dict())
    model = load_sgz(path, scale_factor=4, dtype=torch.float64)
    assert model.scale_factor == 4 and not model.training
    assert model.e_conv1.depth_conv.weight.dtype == torch.float64


@pytest.mark.parametrize("content, message", [
    (b"", r"cannot read .*weights\.pth as a PyTorch state_dict"),
    (b"not a checkpoint at all", r"cannot read .*weights\.pth as a PyTorch state_dict"),
])
def test_unreadable_files_are_explained(tmp_path, content, message):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_weights(SGZ(), path)


def test_wrong_contents_are_explained(tmp_path):
    with pytest.raises(ValueError, match=r"holds a list, not a state_dict"):
        load_weights(SGZ(), saved(tmp_path, [1, 2]))
    with pytest.raises(ValueError, match=r"does not fit SGZ\(conv_type='dsc'\).*missing "
                                         r"\['e_conv1\.depth_conv\.bias'.*unexpected"):
        load_weights(SGZ(), saved(tmp_path, SGZ(conv_type="tc").state_dict()))
    state = SGZ().state_dict()
    state["e_conv7.point_conv.weight"] = torch.zeros(4, 64, 1, 1)
    with pytest.raises(ValueError, match=r"wrong shapes: e_conv7\.point_conv\.weight \[4, 64, 1, "
                                         r"1\] \(expected \[3, 64, 1, 1\]\)"):
        load_weights(SGZ(), saved(tmp_path, state))


def test_missing_files_are_named(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"no file .*nowhere\.pth"):
        load_weights(SGZ(), tmp_path / "nowhere.pth")
    monkeypatch.setattr(model_module, "DEFAULT_WEIGHTS", tmp_path / "gone.pth")
    with pytest.raises(FileNotFoundError, match=r"bundled default weights are missing"):
        load_weights(SGZ())


def test_nothing_is_written_next_to_the_weights(tmp_path):
    path = saved(tmp_path, SGZ().state_dict())
    load_weights(SGZ(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.pth"]


def test_bundled_weights_by_name(tmp_path, monkeypatch):
    """"default" and "default-v1" name the bundled sets; a file of that name in the working
    folder wins over the name."""
    from sgz_fast.model import DEFAULT_WEIGHTS, weights_path
    assert weights_path(None) == weights_path("default") == DEFAULT_WEIGHTS
    assert weights_path("default-v1").name == "sgz_default_v1.pth"
    old, new = (load_weights(SGZ(), name).state_dict() for name in ("default-v1", "default"))
    assert any(not torch.equal(old[k], new[k]) for k in old)
    monkeypatch.chdir(tmp_path)
    torch.save(SGZ().state_dict(), tmp_path / "default-v1")
    assert weights_path("default-v1") == tmp_path.joinpath("default-v1").relative_to(tmp_path)
