"""The bundled default weights (sgz_fast/weights/sgz_default.pth, trained by our own pipeline,
docs/default_weights.md) load into SGZ and brighten the bundled dark samples without blowing
them out."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import sgz_fast
from sgz_fast.model import SGZ

PACKAGE = Path(sgz_fast.__file__).resolve().parent
WEIGHTS = PACKAGE / "weights" / "sgz_default.pth"


def test_default_weights_are_a_plain_published_format_state_dict():
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    assert len(state) == 28 and sum(t.numel() for t in state.values()) == 10561
    assert WEIGHTS.stat().st_size < 100_000


@pytest.mark.parametrize("sample", sorted(p.name for p in (PACKAGE / "samples").glob("*.png")))
def test_default_weights_brighten_the_samples_sensibly(sample):
    model = SGZ(backend="reference")
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    with Image.open(PACKAGE / "samples" / sample) as img:
        x = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255)
    x = x.permute(2, 0, 1)[None]
    with torch.no_grad():
        y = model(x)[0].clamp(0, 1)
    before, after = x.mean().item(), y.mean().item()
    assert after > 2.5 * before and after > before + 0.05, (before, after)  # clearly brighter
    assert after < 0.75, after  # not washed out
    assert (y > 0.98).float().mean().item() < 0.05  # few saturated pixels
