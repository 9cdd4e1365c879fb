"""The ONNX export runs under ONNX Runtime with the model's own numbers, at any size."""
import numpy as np
import pytest
import torch

from sgz_fast.export import export_onnx, main
from sgz_fast.model import SGZ

ort = pytest.importorskip("onnxruntime", reason="ONNX tests need onnxruntime")
pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")


def test_exported_graph_matches_the_model_at_several_sizes(tmp_path):
    weights = tmp_path / "w.pth"
    torch.save(SGZ().state_dict(), weights)
    path = export_onnx(tmp_path / "sgz.onnx", weights, scale_factor=12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sgz.onnx", "w.pth"]  # one file
    model = SGZ(12, backend="reference")
    model.load_state_dict(torch.load(weights))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for size in [(96, 120), (131, 97), (12, 12), (7, 30)]:
        x = torch.rand(2, 3, *size)
        enhanced, x_r = session.run(None, {"image": x.numpy()})
        with torch.no_grad():
            expected, expected_r = model(x)
        np.testing.assert_allclose(enhanced, expected.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(x_r, expected_r.numpy(), rtol=1e-5, atol=1e-5)


def test_cli_errors_are_said_without_a_traceback(tmp_path, capsys):
    for argv, message in [([str(tmp_path / "a.onnx"), "--weights", str(tmp_path / "no.pth")],
                           "no file"),
                          ([str(tmp_path / "a.onnx"), "--scale-factor", "0"], "scale_factor"),
                          ([str(tmp_path / "no" / "a.onnx")], "no folder")]:
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
