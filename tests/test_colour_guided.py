"""The fast denoise's colour guided filter: colour_guided_coefficients (its maps: a symmetric
3 x 3 matrix and an offset per pixel) and colour_affine_uint8 (their output on 8-bit frames),
fused vs reference, vs a float64 matrix inverse, what the filter does that the per-channel one
does not, and their errors."""
import numpy as np
import pytest
import torch

from conftest import TOLERANCES, assert_explained, torch_threads
from sgz_fast import ops, reference
from test_curve_uint8 import SHAPES as FRAME_SHAPES
from test_guided_coefficients import INPUT_CASES, eps_, guide_, inputs

# (N, h, w, radius): the denoise's radius 1, planes smaller than the window, a single pixel,
# radius 0 and 3, batch, and rows long enough for several CPU bands of one row each.
SHAPES = [(1, 17, 23, 1), (2, 1, 1, 1), (1, 2, 3, 2), (1, 5, 4, 0), (1, 7, 9, 3), (3, 40, 1, 1),
          (2, 33, 70, 2), (1, 9, 9000, 1)]
# The entries (i, j) of a 3 x 3 matrix in the order the ops keep its upper half.
UPPER = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def full_matrix(a):
    """(N, 6, h, w) upper entries -> (N, h, w, 3, 3)."""
    rows = [[a[:, UPPER.index((min(i, j), max(i, j)))] for j in range(3)] for i in range(3)]
    return torch.stack([torch.stack(row, -1) for row in rows], -2)


@pytest.mark.parametrize("n, h, w, radius", SHAPES)
def test_coefficients_match_reference(device, n, h, w, radius):
    guide, eps = inputs(n, 3, h, w, device)
    rtol, atol = TOLERANCES[torch.float32]
    a, b = ops.colour_guided_coefficients(guide, eps, radius)
    expected = reference.colour_guided_coefficients(guide, eps, radius)
    assert a.shape == (n, 6, h, w) and b.shape == (n, 3, h, w)
    assert a.is_contiguous() and b.is_contiguous()
    torch.testing.assert_close(a, expected[0], rtol=rtol, atol=atol)
    torch.testing.assert_close(b, expected[1], rtol=rtol, atol=atol)


def test_coefficients_are_the_matrix_formula():
    """Against He et al.'s eq. 14 in float64 with numpy's inverse: A = S (S + eps U)^-1 per
    window (S the covariance of the guide's 3 channels), B = m - A m, then their window means.
    float32 against float64: 1e-5 at eps = 1e-3 (cond(S + eps U) up to a few hundred)."""
    guide, eps = inputs(1, 3, 11, 13, "cpu")
    eps = eps * 0.02
    g = guide[0].double().numpy()
    mean = reference._window_mean(guide.double(), 1)[0].numpy()
    pad = np.pad(g, ((0, 0), (1, 1), (1, 1)), mode="symmetric")  # BORDER_REFLECT
    A = np.zeros((11, 13, 3, 3))
    for y in range(11):
        for x in range(13):
            window = pad[:, y:y + 3, x:x + 3].reshape(3, 9)
            S = np.cov(window, bias=True)
            A[y, x] = S @ np.linalg.inv(S + eps[0, 0, y, x].item() * np.eye(3))
    B = mean.transpose(1, 2, 0) - np.einsum("yxij,jyx->yxi", A, mean)
    a_expected = reference._window_mean(torch.from_numpy(A.reshape(11, 13, 9)).permute(2, 0, 1)
                                        [None], 1)[0].permute(1, 2, 0).reshape(11, 13, 3, 3)
    b_expected = reference._window_mean(torch.from_numpy(B).permute(2, 0, 1)[None], 1)
    a, b = ops.colour_guided_coefficients(guide, eps, 1)
    torch.testing.assert_close(full_matrix(a)[0].double(), a_expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b.double(), b_expected, rtol=1e-5, atol=1e-5)


def test_flat_passes_through_and_a_zero_eps_stays_finite(device):
    """A flat image has no covariance: a = 0, b = its colour. eps = 0 is taken as 1e-6, so the
    system stays invertible where the guide is flat or its colours collinear."""
    flat = torch.tensor([0.2, 0.5, 0.7], device=device).view(1, 3, 1, 1).expand(1, 3, 6, 6)
    eps = torch.full((1, 1, 6, 6), 1e-4, device=device)
    a, b = ops.colour_guided_coefficients(flat.contiguous(), eps, 1)
    assert a.abs().max() < 1e-3
    torch.testing.assert_close(b, flat, rtol=0, atol=1e-3)
    grey = torch.rand(1, 1, 6, 6, device=device).expand(1, 3, 6, 6).contiguous()
    for guide in (flat.contiguous(), grey):
        a, b = ops.colour_guided_coefficients(guide, torch.zeros_like(eps), 1)
        assert torch.isfinite(a).all() and torch.isfinite(b).all()


def test_an_edge_keeps_its_colour_and_loses_its_chroma_noise(device):
    """A grey step far above the noise, with independent noise in each channel: both filters
    keep the step, but at the step the per-channel filter keeps most of each channel's noise
    (its A is near 1 in windows across the step), while the colour filter keeps only the noise
    along the step's own colour (grey): there the chroma noise (each channel minus the pixel's
    mean) is about half the per-channel filter's (0.0064 against 0.0116, 0.0158 before), and
    the error to the clean step smaller (0.0085 against 0.0132)."""
    gen = torch.Generator().manual_seed(0)
    step = torch.zeros(1, 1, 64, 64)
    step[..., 32:] = 0.6
    clean = (step + 0.2).expand(1, 3, 64, 64).to(device)
    noisy = clean + 0.02 * torch.randn(1, 3, 64, 64, generator=gen).to(device)
    eps = torch.full((1, 1, 64, 64), 9 * 0.02 ** 2, device=device)
    a, b = ops.colour_guided_coefficients(noisy, eps, 1)
    colour = (full_matrix(a) @ noisy.permute(0, 2, 3, 1)[..., None])[..., 0].permute(0, 3, 1, 2) + b
    a, b = ops.guided_coefficients(noisy, eps, 1)
    per_channel = a * noisy + b
    edge = (slice(None), slice(None), slice(None), slice(31, 33))  # the columns at the step

    def chroma_noise(x):
        return (x - x.mean(1, keepdim=True))[edge].std().item()

    def error(x):
        return (x - clean)[edge].abs().mean().item()

    assert chroma_noise(per_channel) > 0.6 * chroma_noise(noisy)
    assert chroma_noise(colour) < 0.65 * chroma_noise(per_channel)
    assert error(colour) < 0.7 * error(per_channel) < 0.02  # the step kept by both


def test_apply_matches_reference_and_the_per_channel_op(device):
    """colour_affine_uint8 against its reference on the frame ops' shapes (one FMA may cross a
    rounding boundary), and, with a diagonal a, against affine_uint8 exactly."""
    for frames_shape, hw in FRAME_SHAPES:
        n, _, _, c = frames_shape
        if c != 3:
            continue
        frames = torch.randint(0, 256, frames_shape, dtype=torch.uint8, device=device)
        a = torch.rand(n, 6, *hw, device=device) * 2 - 0.5
        b = torch.rand(n, 3, *hw, device=device) - 0.5
        out = ops.colour_affine_uint8(frames, a, b)
        expected = reference.colour_affine_uint8(frames, a, b)
        assert out.dtype == torch.uint8 and out.shape == frames.shape
        diff = (out.int() - expected.int()).abs()
        assert diff.max() <= 1 and (diff > 0).sum() <= max(1, out.numel() // 1000)
        diagonal = torch.zeros_like(a)
        diagonal[:, [0, 3, 5]] = a[:, [0, 3, 5]]
        assert torch.equal(ops.colour_affine_uint8(frames, diagonal, b),
                           ops.affine_uint8(frames, a[:, [0, 3, 5]].contiguous(), b))


def test_apply_mixes_the_channels_as_the_matrix_says(device):
    """Row c of a times the pixel: a matrix that swaps red and blue swaps them; NaN maps give
    0 as affine_uint8's do."""
    frames = torch.randint(0, 256, (1, 5, 7, 3), dtype=torch.uint8, device=device)
    swap = torch.zeros(1, 6, 2, 2, device=device)
    swap[:, [2, 3]] = 1.0  # entries 02 (and 20) and 11
    zero = torch.zeros(1, 3, 2, 2, device=device)
    assert torch.equal(ops.colour_affine_uint8(frames, swap, zero), frames.flip(-1))
    assert ops.colour_affine_uint8(frames, swap * float("nan"), zero).max() == 0


def test_long_rows_and_wide_upsampling_on_the_cpu(cpu_device):
    """The CPU kernel's columns in blocks of 8 or 16 permuted lanes and the scalar tail: rows
    whose taps reach the maps' last column, factors from 1 (no upsampling) to 33."""
    for W, w in ((1920, 960), (1921, 960), (333, 10), (200, 200), (17, 16), (97, 3)):
        frames = torch.randint(0, 256, (1, 3, W, 3), dtype=torch.uint8, device=cpu_device)
        a = torch.rand(1, 6, 2, w, device=cpu_device) * 2 - 0.5
        b = torch.rand(1, 3, 2, w, device=cpu_device) - 0.5
        diff = (ops.colour_affine_uint8(frames, a, b).int()
                - reference.colour_affine_uint8(frames, a, b).int()).abs()
        assert diff.max() <= 1 and (diff > 0).sum() <= max(1, diff.numel() // 1000)


def test_non_contiguous_empty_and_opcheck(device):
    guide, eps = inputs(1, 3, 12, 10, device)
    strided = guide.permute(0, 1, 3, 2).contiguous().permute(0, 1, 3, 2)
    for x, y in zip(ops.colour_guided_coefficients(strided, eps, 1),
                    ops.colour_guided_coefficients(guide, eps, 1)):
        assert torch.equal(x, y)
    empty = torch.empty(0, 3, 4, 4, device=device)
    assert [t.shape for t in ops.colour_guided_coefficients(
        empty, torch.empty(0, 1, 4, 4, device=device), 1)] == [(0, 6, 4, 4), (0, 3, 4, 4)]
    torch.library.opcheck(torch.ops.sgz_fast.colour_guided_coefficients.default, (guide, eps, 1))
    frames = torch.randint(0, 256, (1, 3, 20, 30), dtype=torch.uint8,
                           device=device).permute(0, 2, 3, 1)
    a, b = torch.rand(1, 6, 4, 6, device=device), torch.rand(1, 3, 4, 6, device=device)
    assert torch.equal(ops.colour_affine_uint8(frames, a, b),
                       ops.colour_affine_uint8(frames.contiguous(), a, b))
    empty = torch.empty(0, 5, 7, 3, dtype=torch.uint8, device=device)
    assert ops.colour_affine_uint8(empty, a[:0], b[:0]).shape == empty.shape
    torch.library.opcheck(torch.ops.sgz_fast.colour_affine_uint8.default,
                          (frames.contiguous(), a, b))


CASES = {
    "double guide": (lambda: (guide_().double(), eps_(), 1),
                     r"guide must be a 4-D float32 tensor \(N, C, h, w\)"),
    "guide of 4 channels": (lambda: (torch.rand(2, 4, 8, 8), eps_(), 1),
                            r"guide must have 3 channels \(N, 3, h, w\); got \[2, 4, 8, 8\]"),
    "eps per channel": (lambda: (guide_(), torch.rand(2, 3, 8, 8), 1),
                        r"eps must be \(N, 1, h, w\) with the guide's N, h and w"),
    "negative radius": (lambda: (guide_(), eps_(), -1), r"radius must be >= 0; got -1"),
    "devices": (lambda: (guide_(), eps_().to("meta"), 1), r"same device"),
}


def frames_(channels=3):
    return torch.randint(0, 256, (2, 16, 16, channels), dtype=torch.uint8)


def a_():
    return torch.rand(2, 6, 4, 4)


def b_():
    return torch.rand(2, 3, 4, 4)


APPLY_CASES = {
    "float frames": (lambda: (frames_().float(), a_(), b_()),
                     r"frames must be a 4-D uint8 tensor"),
    "frames of 4 channels": (lambda: (frames_(4), a_(), b_()),
                             r"frames must have 3 channels \(N, H, W, 3\); got \[2, 16, 16, 4\]"),
    "double a": (lambda: (frames_(), a_().double(), b_()),
                 r"a must be a 4-D float32 tensor \(N, 6, h, w\)"),
    "a per channel": (lambda: (frames_(), b_(), b_()),
                      r"a must be \(N, 6, h, w\) with b's N, h and w: expected \(2, 6, 4, 4\), "
                      r"got \[2, 3, 4, 4\]"),
    "a size": (lambda: (frames_(), torch.rand(2, 6, 4, 5), b_()),
               r"expected \(2, 6, 4, 4\), got \[2, 6, 4, 5\]"),
    "b channels": (lambda: (frames_(), a_(), a_()),
                   r"b must have the frames' batch and channel sizes"),
    "b larger than the frames": (lambda: (frames_(), torch.rand(2, 6, 17, 4),
                                          torch.rand(2, 3, 17, 4)),
                                 r"b \(17x4\) must not be larger than the frames \(16x16\)"),
    "devices": (lambda: (frames_(), a_().to("meta"), b_()), r"same device"),
}


@pytest.mark.parametrize("fn", [ops.colour_guided_coefficients,
                                reference.colour_guided_coefficients], ids=["fused", "reference"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_explained(fn, case):
    make_args, message = CASES[case]
    assert_explained(fn, make_args(), message)


@pytest.mark.parametrize("fn", [ops.colour_affine_uint8, reference.colour_affine_uint8],
                         ids=["fused", "reference"])
@pytest.mark.parametrize("case", sorted(APPLY_CASES))
def test_apply_bad_input_is_explained(fn, case):
    make_args, message = APPLY_CASES[case]
    assert_explained(fn, make_args(), message)


# ---- colour_guided_filter_uint8: the three ops in one ---------------------------------------

RGB = [0.299, 0.587, 0.114]
# (N, H, W, scale, radius): the denoise's scale 2 on odd sizes (rows and columns beyond whole
# blocks), scale 1 (no upsampling), a frame of one block, radii 0-3 (windows wider than the
# maps), batch, and a frame tall enough for a run of rows per thread.
FILTER_SHAPES = [(1, 37, 53, 2, 1), (2, 17, 23, 1, 1), (1, 9, 9, 9, 1), (1, 12, 20, 4, 2),
                 (3, 5, 7, 2, 0), (1, 40, 31, 3, 3), (1, 270, 480, 2, 1)]


def noisy_pair(n, h, w, device):
    dark = torch.randint(0, 60, (n, h, w, 3), dtype=torch.uint8, device=device)
    enhanced = (dark.int() * 4 + torch.randint(0, 20, dark.shape, device=device)).clamp(0, 255)
    return enhanced.to(torch.uint8), dark


@pytest.mark.parametrize("n, h, w, scale, radius", FILTER_SHAPES)
def test_filter_is_the_three_ops(device, n, h, w, scale, radius):
    """The fused filter gives what its three ops give in turn, to the bit (the CPU computes the
    same rows with the same kernels, CUDA launches the same kernels), and its reference within
    one level. (Not at radius 0: a one-pixel window's covariance is float32 rounding alone,
    ~1e-8 where the kernels' fused multiply-adds keep it and 0 in the reference, which eps of
    ~1e-3 turns into entries of A of ~1e-5 against 0.)"""
    enhanced, dark = noisy_pair(n, h, w, device)
    out = ops.colour_guided_filter_uint8(enhanced, dark, scale, 1.7, 16.0, RGB, radius)
    guide, eps = ops.guided_inputs_uint8(enhanced, dark, scale, 1.7, 16.0, RGB)
    assert torch.equal(out, ops.colour_affine_uint8(
        enhanced, *ops.colour_guided_coefficients(guide, eps, radius)))
    if radius > 0:
        diff = (out.int() - reference.colour_guided_filter_uint8(
            enhanced, dark, scale, 1.7, 16.0, RGB, radius).int()).abs()
        assert diff.max() <= 1 and (diff > 0).sum() <= max(1, diff.numel() // 1000)


def test_filter_runs_of_rows_do_not_matter(cpu_device):
    """One thread or two (each a run of rows, whose first windows reach the run before it):
    the same bytes."""
    enhanced, dark = noisy_pair(2, 75, 64, cpu_device)
    outs = []
    for count in (1, 2):
        with torch_threads(count):
            outs.append(ops.colour_guided_filter_uint8(enhanced, dark, 2, 2.0, 16.0, RGB, 1))
    assert torch.equal(*outs)


def test_filter_non_contiguous_empty_and_opcheck(device):
    enhanced, dark = noisy_pair(1, 12, 10, device)
    strided = enhanced.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)
    assert torch.equal(ops.colour_guided_filter_uint8(strided, dark, 2, 1.0, 16.0, RGB, 1),
                       ops.colour_guided_filter_uint8(enhanced, dark, 2, 1.0, 16.0, RGB, 1))
    empty = torch.empty(0, 4, 4, 3, dtype=torch.uint8, device=device)
    assert ops.colour_guided_filter_uint8(empty, empty, 2, 1.0, 16.0, RGB, 1).shape == empty.shape
    torch.library.opcheck(torch.ops.sgz_fast.colour_guided_filter_uint8.default,
                          (enhanced, dark, 2, 1.0, 16.0, RGB, 1))


FILTER_CASES = {
    **{k: (lambda make=make: (*make()[:5], list(make()[5]), 1), message)
       for k, (make, message) in INPUT_CASES.items()},
    "frames of 4 channels": (lambda: (frames_(4), frames_(4), 2, 1.0, 16.0, RGB + [0.1], 1),
                             r"frames must have 3 channels \(N, H, W, 3\); got \[2, 16, 16, 4\]"),
    "negative radius": (lambda: (frames_(), frames_(), 2, 1.0, 16.0, RGB, -1),
                        r"radius must be >= 0; got -1"),
}


@pytest.mark.parametrize("fn", [ops.colour_guided_filter_uint8,
                                reference.colour_guided_filter_uint8], ids=["fused", "reference"])
@pytest.mark.parametrize("case", sorted(FILTER_CASES))
def test_filter_bad_input_is_explained(fn, case):
    make_args, message = FILTER_CASES[case]
    assert_explained(fn, make_args(), message)
