"""curve_iter_uint8: the curve on 8-bit frames, fused vs reference, and its errors."""
import pytest
import torch

from conftest import assert_explained
from sgz_fast import ops, reference

SHAPES = [  # (N, H, W, C), (h, w)
    ((1, 37, 53, 3), (37, 53)),   # r at full size
    ((2, 37, 53, 3), (5, 7)),     # upsampled, odd factors
    ((1, 48, 64, 3), (4, 5)),
    ((2, 9, 11, 1), (1, 1)),      # one factor pixel, one channel
    ((1, 1, 40, 3), (1, 3)),      # one row
    ((1, 30, 1, 4), (6, 1)),      # one column, four channels
]


@pytest.mark.parametrize("frames_shape, r_hw", SHAPES)
@pytest.mark.parametrize("iterations", [8, 3, 0])
def test_matches_reference_exactly(device, frames_shape, r_hw, iterations):
    n, _, _, c = frames_shape
    frames = torch.randint(0, 256, frames_shape, dtype=torch.uint8, device=device)
    r = torch.rand(n, c, *r_hw, device=device) * 2 - 1
    out = ops.curve_iter_uint8(frames, r, iterations)
    expected = reference.curve_iter_uint8(frames, r, iterations)
    assert out.dtype == torch.uint8 and out.shape == frames.shape
    # Same float32 formula; a fused multiply-add may move a value across a rounding boundary.
    diff = (out.int() - expected.int()).abs()
    assert diff.max() <= 1 and (diff > 0).sum() <= max(1, out.numel() // 1000)


def test_extremes_saturate_and_nan_gives_black(device):
    frames = torch.tensor([0, 1, 128, 254, 255], dtype=torch.uint8, device=device).view(1, 1, 5, 1)
    bright = ops.curve_iter_uint8(frames, torch.full((1, 1, 1, 1), -1.0, device=device))
    assert bright.flatten().tolist() == reference.curve_iter_uint8(
        frames, torch.full((1, 1, 1, 1), -1.0, device=device)).flatten().tolist()
    assert bright.flatten()[-1] == 255 and bright.flatten()[0] == 0
    nan = ops.curve_iter_uint8(frames, torch.full((1, 1, 1, 1), float("nan"), device=device))
    assert nan.flatten().tolist() == [0] * 5


def test_clamps_and_nan_in_long_rows(device):
    """The same saturation and NaN as above where the kernels convert 32 values at a time:
    every byte value under factors that push the curve below 0, above 1, to +inf, and NaN."""
    values = torch.arange(256, dtype=torch.uint8, device=device)
    frames = values.repeat(9).view(1, 2, 384, 3)
    r = torch.tensor([50.0, -50.0, float("nan"), 0.3, float("-inf"), 0.0], device=device)
    r = r.repeat_interleave(3).repeat(2 * 384 // 6).view(1, 2, 384, 3).permute(0, 3, 1, 2)
    r = r.contiguous()
    out = ops.curve_iter_uint8(frames, r, 1)
    expected = reference.curve_iter_uint8(frames, r, 1)
    diff = (out.int() - expected.int()).abs()
    assert diff.max() <= 1 and (diff > 0).sum() <= max(1, out.numel() // 1000)
    assert (out[r.permute(0, 2, 3, 1).isnan()] == 0).all()
    assert (out[(r.permute(0, 2, 3, 1) == 50) & (frames > 20) & (frames < 235)] == 0).all()
    assert (out[(r.permute(0, 2, 3, 1) == -50) & (frames > 20) & (frames < 235)] == 255).all()
    inner = (frames > 0) & (frames < 255)  # x (1 - x) > 0: -inf times it is +inf
    assert (out[(r.permute(0, 2, 3, 1) == float("-inf")) & inner] == 255).all()


@pytest.mark.parametrize("frames_shape,r", [
    ((1, 2, 1, 1), [[[[0.5], [float("inf")]]]]),   # r at full size: no interpolation, as the
    ((1, 1, 2, 1), [[[[0.5, float("inf")]]]]),     # reference: the finite pixel stays finite
    ((1, 1, 2, 1), [[[[-0.5, float("-inf")]]]]),
    ((1, 3, 1, 1), [[[[0.5], [float("-inf")]]]]),  # upsampled: PyTorch's 0 * inf is NaN
    ((1, 1, 3, 2), [[[[0.5, float("nan")]], [[-0.5, 0.25]]]]),
    ((1, 2, 3, 1), [[[[0.5, 0.25], [float("inf"), 0.1]]]]),  # one axis kept: its samples are
    ((1, 3, 2, 1), [[[[0.5, float("inf")], [0.25, 0.1]]]]),  # read alone, as PyTorch does
])
def test_non_finite_factors_as_the_reference(device, frames_shape, r):
    frames = torch.full(frames_shape, 100, dtype=torch.uint8, device=device)
    r = torch.tensor(r, device=device)
    for iterations in (1, 8):
        assert torch.equal(ops.curve_iter_uint8(frames, r, iterations),
                           reference.curve_iter_uint8(frames, r, iterations))


def test_non_contiguous_frames(device):
    frames = torch.randint(0, 256, (1, 3, 20, 30), dtype=torch.uint8, device=device)
    frames = frames.permute(0, 2, 3, 1)  # a channels-first buffer seen as (N, H, W, C)
    r = torch.rand(1, 3, 4, 6, device=device) - 1
    assert torch.equal(ops.curve_iter_uint8(frames, r),
                       ops.curve_iter_uint8(frames.contiguous(), r))


def test_empty_frames(device):
    frames = torch.empty(0, 5, 7, 3, dtype=torch.uint8, device=device)
    assert ops.curve_iter_uint8(frames, torch.rand(0, 3, 2, 2, device=device)).shape == frames.shape


def test_opcheck(device):
    frames = torch.randint(0, 256, (2, 12, 10, 3), dtype=torch.uint8, device=device)
    r = torch.rand(2, 3, 3, 2, device=device) - 1
    torch.library.opcheck(torch.ops.sgz_fast.curve_iter_uint8.default, (frames, r, 8))


def frames_():
    return torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)


def r_():
    return torch.rand(2, 3, 4, 4)


CASES = {
    "float frames": (lambda: (frames_().float(), r_(), 8), r"frames must be a 4-D uint8 tensor"),
    "frames not 4-D": (lambda: (frames_()[0], r_(), 8), r"frames must be a 4-D uint8 tensor"),
    "double r": (lambda: (frames_(), r_().double(), 8), r"r must be a 4-D float32 tensor"),
    "channels": (lambda: (frames_(), torch.rand(2, 4, 4, 4), 8),
                 r"expected \(2, 3, h, w\), got \[2, 4, 4, 4\]"),
    "r too large": (lambda: (frames_(), torch.rand(2, 3, 17, 4), 8),
                    r"r \(17x4\) must not be larger than the frames \(16x16\)"),
    "devices": (lambda: (frames_(), r_().to("meta"), 8), r"same device"),
    "iterations": (lambda: (frames_(), r_(), -2), r"iterations must be .*>= 0; got -2"),
}


@pytest.mark.parametrize("fn", [ops.curve_iter_uint8, reference.curve_iter_uint8],
                         ids=["fused", "reference"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_explained(fn, case):
    make_args, message = CASES[case]
    assert_explained(fn, make_args(), message)
