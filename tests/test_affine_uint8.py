"""affine_uint8: a x + b on 8-bit frames with low-resolution coefficient maps (the guided
filter's last step), fused vs reference, and its errors."""
import pytest
import torch

from conftest import assert_explained
from sgz_fast import ops, reference
from test_curve_uint8 import SHAPES


def maps(n, c, hw, device):
    return torch.rand(n, c, *hw, device=device) * 2, torch.rand(n, c, *hw, device=device) - 0.5


@pytest.mark.parametrize("frames_shape, hw", SHAPES)
def test_matches_reference(device, frames_shape, hw):
    n, _, _, c = frames_shape
    frames = torch.randint(0, 256, frames_shape, dtype=torch.uint8, device=device)
    scale, offset = maps(n, c, hw, device)
    out = ops.affine_uint8(frames, scale, offset)
    expected = reference.affine_uint8(frames, scale, offset)
    assert out.dtype == torch.uint8 and out.shape == frames.shape
    diff = (out.int() - expected.int()).abs()  # one FMA may cross a rounding boundary
    assert diff.max() <= 1 and (diff > 0).sum() <= max(1, out.numel() // 1000)


def test_identity_saturation_and_nan(device):
    frames = torch.arange(256, dtype=torch.uint8, device=device).view(1, 16, 16, 1)
    one, zero = torch.ones(1, 1, 2, 2, device=device), torch.zeros(1, 1, 2, 2, device=device)
    assert torch.equal(ops.affine_uint8(frames, one, zero), frames)
    assert ops.affine_uint8(frames, one, zero + 2).min() == 255
    assert ops.affine_uint8(frames, one, zero - 2).max() == 0
    assert ops.affine_uint8(frames, one * float("nan"), zero).max() == 0


def test_non_contiguous_empty_and_opcheck(device):
    frames = torch.randint(0, 256, (1, 3, 20, 30), dtype=torch.uint8, device=device)
    frames = frames.permute(0, 2, 3, 1)
    scale, offset = maps(1, 3, (4, 6), device)
    assert torch.equal(ops.affine_uint8(frames, scale, offset),
                       ops.affine_uint8(frames.contiguous(), scale, offset))
    empty = torch.empty(0, 5, 7, 3, dtype=torch.uint8, device=device)
    assert ops.affine_uint8(empty, *maps(0, 3, (2, 2), device)).shape == empty.shape
    torch.library.opcheck(torch.ops.sgz_fast.affine_uint8.default,
                          (frames.contiguous(), scale, offset))


def frames_():
    return torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)


def map_():
    return torch.rand(2, 3, 4, 4)


CASES = {
    "float frames": (lambda: (frames_().float(), map_(), map_()),
                     r"frames must be a 4-D uint8 tensor"),
    "double scale": (lambda: (frames_(), map_().double(), map_()),
                     r"scale must be a 4-D float32 tensor"),
    "offset not 4-D": (lambda: (frames_(), map_(), map_()[0]),
                       r"offset must be a 4-D float32 tensor"),
    "shapes differ": (lambda: (frames_(), map_(), torch.rand(2, 3, 4, 5)),
                      r"offset must have scale's shape \[2, 3, 4, 4\]; got \[2, 3, 4, 5\]"),
    "channels": (lambda: (frames_(), torch.rand(2, 4, 4, 4), torch.rand(2, 4, 4, 4)),
                 r"expected \(2, 3, h, w\), got \[2, 4, 4, 4\]"),
    "too large": (lambda: (frames_(), torch.rand(2, 3, 17, 4), torch.rand(2, 3, 17, 4)),
                  r"scale \(17x4\) must not be larger than the frames \(16x16\)"),
    "devices": (lambda: (frames_(), map_().to("meta"), map_()), r"same device"),
}


@pytest.mark.parametrize("fn", [ops.affine_uint8, reference.affine_uint8],
                         ids=["fused", "reference"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_explained(fn, case):
    make_args, message = CASES[case]
    assert_explained(fn, make_args(), message)
