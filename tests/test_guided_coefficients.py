"""The fast denoise's two low-resolution steps: guided_inputs_uint8 (the guide and eps from the
bytes) and guided_coefficients (the self-guided filter's coefficient maps), fused vs reference
(and vs OpenCV's box filter), and their errors."""
import cv2
import numpy as np
import pytest
import torch

from conftest import TOLERANCES, assert_explained
from sgz_fast import ops, reference

# (N, C, h, w, radius): the denoise's radius 1, then planes smaller than the window (mirrored
# more than once), a single pixel, radius 0 and 3, batch and channels.
SHAPES = [(1, 3, 17, 23, 1), (2, 2, 1, 1, 1), (1, 1, 2, 3, 2), (1, 3, 5, 4, 0), (1, 3, 7, 9, 3),
          (3, 1, 40, 1, 1), (2, 3, 33, 70, 2)]


def inputs(n, c, h, w, device, scale=1.0):
    guide = torch.rand(n, c, h, w, device=device) * scale
    # eps well above var's rounding: mean(I^2) - mean(I)^2 in float32 is off by about 1e-7 I^2,
    # which is all of var where the window is flat (radius 0, or a plane of one pixel), and
    # A = var / (var + eps) carries it divided by eps.
    eps = (torch.rand(n, 1, h, w, device=device) + 1.0) * 0.05 * scale * scale
    return guide, eps


@pytest.mark.parametrize("n, c, h, w, radius", SHAPES)
def test_matches_reference(device, n, c, h, w, radius):
    guide, eps = inputs(n, c, h, w, device)
    rtol, atol = TOLERANCES[torch.float32]
    for out, expected in zip(ops.guided_coefficients(guide, eps, radius),
                             reference.guided_coefficients(guide, eps, radius)):
        assert out.shape == guide.shape and out.is_contiguous()
        torch.testing.assert_close(out, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("h, w, radius", [(20, 4000, 1), (7, 16384, 1), (9, 8000, 2)])
def test_bands_of_rows_on_the_cpu(cpu_device, h, w, radius):
    """The CPU kernel's bands of about 32k values a row set (6 rows of 4,000 columns at radius 1,
    then bands of one row), each band's A and B recomputed r rows beyond its ends."""
    guide, eps = inputs(1, 2, h, w, cpu_device)
    rtol, atol = TOLERANCES[torch.float32]
    for out, expected in zip(ops.guided_coefficients(guide, eps, radius),
                             reference.guided_coefficients(guide, eps, radius)):
        torch.testing.assert_close(out, expected, rtol=rtol, atol=atol)


def test_matches_opencv_box_filters():
    """The maps as sgz_fast.denoise made them before this op, with cv2.blur (BORDER_REFLECT),
    in levels (b's 1e-3 levels is 4e-6 of its range)."""
    guide, eps = inputs(1, 3, 31, 45, "cpu", scale=255.0)
    a, b = ops.guided_coefficients(guide, eps, 1)
    for c in range(3):
        def box(x):
            return cv2.blur(x, (3, 3), borderType=cv2.BORDER_REFLECT)
        p, e = guide[0, c].numpy(), eps[0, 0].numpy()
        mean = box(p)
        var = np.maximum(box(p * p) - mean * mean, 0)
        A = var / (var + e)
        np.testing.assert_allclose(a[0, c].numpy(), box(A), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(b[0, c].numpy(), box(mean - A * mean), rtol=1e-5, atol=1e-3)


def test_flat_planes_pass_through_and_edges_stay(device):
    """A flat plane has no variance: a = 0, b = the plane's value (the filter flattens it). A
    step far above sqrt(eps) keeps a near 1 at the step, so the filter keeps the edge."""
    flat = torch.full((1, 1, 8, 8), 0.25, device=device)
    eps = torch.full((1, 1, 8, 8), 1e-4, device=device)
    a, b = ops.guided_coefficients(flat, eps, 1)
    assert a.abs().max() < 1e-3 and (b - 0.25).abs().max() < 1e-3
    step = torch.zeros(1, 1, 8, 8, device=device)
    step[..., 4:] = 1.0
    a, b = ops.guided_coefficients(step, eps, 1)
    torch.testing.assert_close(a * step + b, step, rtol=0, atol=0.35)  # edge kept, not blurred
    assert (a[..., 3:5] > 0.6).all()


def test_non_contiguous_empty_and_opcheck(device):
    guide, eps = inputs(1, 3, 12, 10, device)
    strided = guide.permute(0, 1, 3, 2).contiguous().permute(0, 1, 3, 2)
    for x, y in zip(ops.guided_coefficients(strided, eps, 1),
                    ops.guided_coefficients(guide, eps, 1)):
        assert torch.equal(x, y)
    empty = torch.empty(0, 3, 4, 4, device=device)
    assert [t.shape for t in ops.guided_coefficients(empty, torch.empty(0, 1, 4, 4,
                                                                        device=device), 1)] \
        == [empty.shape, empty.shape]
    torch.library.opcheck(torch.ops.sgz_fast.guided_coefficients.default, (guide, eps, 1))


def guide_():
    return torch.rand(2, 3, 8, 8)


def eps_():
    return torch.rand(2, 1, 8, 8)


CASES = {
    "double guide": (lambda: (guide_().double(), eps_(), 1),
                     r"guide must be a 4-D float32 tensor \(N, C, h, w\)"),
    "guide not 4-D": (lambda: (guide_()[0], eps_(), 1),
                      r"guide must be a 4-D float32 tensor \(N, C, h, w\)"),
    "eps not 4-D": (lambda: (guide_(), eps_()[0], 1),
                    r"eps must be a 4-D float32 tensor \(N, 1, h, w\)"),
    "eps per channel": (lambda: (guide_(), torch.rand(2, 3, 8, 8), 1),
                        r"eps must be \(N, 1, h, w\) with the guide's N, h and w: "
                        r"expected \(2, 1, 8, 8\), got \[2, 3, 8, 8\]"),
    "eps size": (lambda: (guide_(), torch.rand(2, 1, 8, 7), 1),
                 r"expected \(2, 1, 8, 8\), got \[2, 1, 8, 7\]"),
    "negative radius": (lambda: (guide_(), eps_(), -1), r"radius must be >= 0; got -1"),
    "devices": (lambda: (guide_(), eps_().to("meta"), 1), r"same device"),
}


@pytest.mark.parametrize("fn", [ops.guided_coefficients, reference.guided_coefficients],
                         ids=["fused", "reference"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_explained(fn, case):
    make_args, message = CASES[case]
    assert_explained(fn, make_args(), message)


# ---- guided_inputs_uint8 ----------------------------------------------------------------------

RGB = (0.299, 0.587, 0.114)
# (N, H, W, C, scale): the denoise's scale 2 on odd sizes (the last row and column left out),
# scale 1, 4, one block per frame, one channel, four channels, batch.
INPUT_SHAPES = [(1, 17, 23, 3, 2), (2, 8, 8, 3, 1), (1, 12, 20, 3, 4), (1, 5, 7, 3, 5),
                (1, 9, 9, 1, 3), (1, 6, 10, 4, 2), (3, 4, 6, 3, 2)]


def frame_pair(n, h, w, c, device):
    dark = torch.randint(0, 60, (n, h, w, c), dtype=torch.uint8, device=device)
    enhanced = (dark.int() * 4 + torch.randint(0, 20, dark.shape, device=device)).clamp(0, 255)
    return enhanced.to(torch.uint8), dark


@pytest.mark.parametrize("n, h, w, c, scale", INPUT_SHAPES)
def test_inputs_match_reference(device, n, h, w, c, scale):
    enhanced, dark = frame_pair(n, h, w, c, device)
    luma = (RGB + (0.2,))[:c] if c != 1 else (1.0,)
    rtol, atol = TOLERANCES[torch.float32]
    out = ops.guided_inputs_uint8(enhanced, dark, scale, 1.7, 16.0, luma)
    expected = reference.guided_inputs_uint8(enhanced, dark, scale, 1.7, 16.0, luma)
    assert out[0].shape == (n, c, h // scale, w // scale) and out[1].shape == (n, 1, h // scale,
                                                                              w // scale)
    for x, y in zip(out, expected):
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol)


def test_inputs_gain_and_channel_order(device):
    """eps is the noise the brightening added, noise^2 (gain^2 - 1), in [0, 1] units, the gain
    from the lumas, clamped to [1, 16]; BGR frames with reversed weights give what RGB ones
    do."""
    dark = torch.full((1, 4, 4, 3), 9, dtype=torch.uint8, device=device)
    enhanced = torch.full_like(dark, 49)  # gain (49 + 1) / (9 + 1) = 5
    guide, eps = ops.guided_inputs_uint8(enhanced, dark, 2, 2.0, 16.0, RGB)
    torch.testing.assert_close(guide, torch.full((1, 3, 2, 2), 49 / 255, device=device))
    torch.testing.assert_close(eps, torch.full((1, 1, 2, 2), (4 * 24 + 1e-6) / 255 ** 2,
                                               device=device))
    _, eps = ops.guided_inputs_uint8(dark, enhanced, 2, 2.0, 16.0, RGB)  # brighter dark: gain 1
    torch.testing.assert_close(eps, torch.full((1, 1, 2, 2), 1e-6 / 255 ** 2, device=device))
    _, eps = ops.guided_inputs_uint8(enhanced, torch.zeros_like(dark), 2, 2.0, 16.0, RGB)
    torch.testing.assert_close(eps, torch.full((1, 1, 2, 2), (4 * 255 + 1e-6) / 255 ** 2,
                                               device=device))  # 50 clamped to 16
    enhanced, dark = frame_pair(1, 8, 10, 3, device)
    rgb = ops.guided_inputs_uint8(enhanced, dark, 2, 1.0, 16.0, RGB)
    bgr = ops.guided_inputs_uint8(enhanced.flip(-1), dark.flip(-1), 2, 1.0, 16.0, RGB[::-1])
    torch.testing.assert_close(bgr[0].flip(1), rgb[0])
    torch.testing.assert_close(bgr[1], rgb[1])


def test_inputs_non_contiguous_empty_and_opcheck(device):
    enhanced, dark = frame_pair(1, 6, 8, 3, device)
    strided = enhanced.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)
    for x, y in zip(ops.guided_inputs_uint8(strided, dark, 2, 1.0, 16.0, RGB),
                    ops.guided_inputs_uint8(enhanced, dark, 2, 1.0, 16.0, RGB)):
        assert torch.equal(x, y)
    empty = torch.empty(0, 4, 4, 3, dtype=torch.uint8, device=device)
    guide, eps = ops.guided_inputs_uint8(empty, empty, 2, 1.0, 16.0, RGB)
    assert guide.shape == (0, 3, 2, 2) and eps.shape == (0, 1, 2, 2)
    torch.library.opcheck(torch.ops.sgz_fast.guided_inputs_uint8.default,
                          (enhanced, dark, 2, 1.0, 16.0, list(RGB)))


def frames_():
    return torch.randint(0, 256, (2, 8, 8, 3), dtype=torch.uint8)


INPUT_CASES = {
    "float frames": (lambda: (frames_().float(), frames_(), 2, 1.0, 16.0, RGB),
                     r"frames must be a 4-D uint8 tensor"),
    "float dark": (lambda: (frames_(), frames_().float(), 2, 1.0, 16.0, RGB),
                   r"dark must be a 4-D uint8 tensor \(N, H, W, C\)"),
    "dark shape": (lambda: (frames_(), frames_()[:, :7], 2, 1.0, 16.0, RGB),
                   r"dark must have the frames' shape \[2, 8, 8, 3\]; got \[2, 7, 8, 3\]"),
    "scale 0": (lambda: (frames_(), frames_(), 0, 1.0, 16.0, RGB), r"scale must be >= 1; got 0"),
    "scale too large": (lambda: (frames_(), frames_(), 9, 1.0, 16.0, RGB),
                        r"scale 9 is larger than the frames \(8x8\)"),
    "negative noise": (lambda: (frames_(), frames_(), 2, -1.0, 16.0, RGB),
                       r"noise must be >= 0; got -1"),
    "max_gain below 1": (lambda: (frames_(), frames_(), 2, 1.0, 0.5, RGB),
                         r"max_gain must be >= 1; got 0.5"),
    "luma weights": (lambda: (frames_(), frames_(), 2, 1.0, 16.0, RGB[:2]),
                     r"luma must have one weight per channel \(3\); got 2"),
    "devices": (lambda: (frames_(), frames_().to("meta"), 2, 1.0, 16.0, RGB), r"same device"),
}


@pytest.mark.parametrize("fn", [ops.guided_inputs_uint8, reference.guided_inputs_uint8],
                         ids=["fused", "reference"])
@pytest.mark.parametrize("case", sorted(INPUT_CASES))
def test_inputs_bad_input_is_explained(fn, case):
    make_args, message = INPUT_CASES[case]
    assert_explained(fn, make_args(), message)
