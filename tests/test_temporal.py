"""Steady brightness over video frames (sgz_fast.temporal): flicker at least halved on a static
scene with sensor noise and an exposure wobble, the first frame after a scene cut exactly as
published, nothing at full resolution, the frame-by-frame path untouched at 0."""
import numpy as np
import pytest
import torch

from classical import metrics
from classical.metrics import wobbling_clip
from sgz_fast.model import load_sgz
from sgz_fast.temporal import FrameStream, TemporalSmoothing


def scene(seed, h=96, w=160):
    """A dark, smooth random scene (H, W, 3) float in levels."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.uniform(5, 70, (1, 3, 5, 8)).astype(np.float32))
    return torch.nn.functional.interpolate(coarse, (h, w), mode="bicubic")[0].permute(1, 2, 0) \
        .clamp(1, 255).numpy()


def clip(frames, last_of_first_scene=None):
    return wobbling_clip((scene(0), scene(1)), frames, last_of_first_scene, seed=100)


def flicker(frames):
    return metrics.flicker(frames)[0]


@pytest.fixture(scope="module")
def model():
    return load_sgz()


def test_flicker_is_at_least_halved_on_a_static_noisy_scene(model):
    frames = clip(40)
    per_frame = [FrameStream(model, 0)(f) for f in frames]
    stream = FrameStream(model, 0.8)
    steady = [stream(f) for f in frames]
    assert stream.smoothing.cuts == 0
    assert flicker(steady) <= 0.5 * flicker(per_frame)
    # still the same brightness on average: smoothing does not darken or brighten
    assert abs(np.mean(steady) - np.mean(per_frame)) < 1.5


def test_a_cut_restarts_the_averages(model):
    k = 20
    frames = clip(30, last_of_first_scene=k)
    stream = FrameStream(model, 0.8)
    steady = [stream(f) for f in frames]
    assert stream.smoothing.cuts == 1
    published = FrameStream(model, 0)(frames[k + 1])
    assert np.array_equal(steady[k + 1], published)  # nothing carried across the cut


def test_zero_is_frame_by_frame_and_batches_are_frames_in_order(model):
    frames = clip(6)
    batch = torch.from_numpy(np.stack(frames))
    assert torch.equal(model.enhance_uint8(batch, "rgb", TemporalSmoothing(0)),
                       model.enhance_uint8(batch))
    stream = FrameStream(model, 0.8)
    one_by_one = np.stack([stream(f) for f in frames])
    assert np.array_equal(FrameStream(model, 0.8)(np.stack(frames)), one_by_one)


def test_bad_smoothing_is_explained():
    for bad in (-0.1, 1.0, "0.5", True):
        with pytest.raises(ValueError, match=r"in \[0, 1\)"):
            TemporalSmoothing(bad)
