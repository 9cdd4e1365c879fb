"""The sgz_fast ops in plain PyTorch: always available, the oracle the fused kernels are
tested against, and the fallback where the extension is not built."""
import torch
import torch.nn.functional as F

from ._checks import (as_input_list, check_affine_uint8_args, check_colour_affine_uint8_args,
                      check_colour_guided_coefficients_args,
                      check_colour_guided_filter_uint8_args, check_curve_args,
                      check_curve_uint8_args, check_dsconv_args, check_guided_coefficients_args,
                      check_guided_inputs_uint8_args, check_loss_pools_args,
                      check_total_variation_args)


def curve_iter(x, r, iterations=8):
    """Applies the quadratic light-enhancement curve ``x <- x + r * (x^2 - x)`` ``iterations``
    times (Guo et al., Zero-DCE, CVPR 2020; recurrent as in SGZ, Zheng & Gupta, WACV 2022).

    Args:
        x: (N, C, H, W) image, normally in [0, 1].
        r: (N, C, h, w) enhancement factors, normally in (-1, 1); when (h, w) != (H, W) they are
            upsampled bilinearly with align_corners=True (as ``nn.UpsamplingBilinear2d``).
        iterations: number of curve steps, >= 0.

    Returns:
        (N, C, H, W) tensor, x's dtype.

    Example:
        >>> import torch
        >>> x = torch.full((1, 3, 4, 4), 0.25)
        >>> curve_iter(x, torch.full((1, 3, 1, 1), -0.5), iterations=1)[0, 0, 0, 0].item()
        0.34375
    """
    check_curve_args(x, r, iterations)
    if x.numel() == 0:
        return x.clone()
    if r.shape[-2:] != x.shape[-2:]:
        r = F.interpolate(r, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=True)
    for _ in range(iterations):
        x = x + r * (x * x - x)
    return x


def curve_iter_uint8(frames, r, iterations=8):
    """:func:`curve_iter` on 8-bit frames as video decoders give them.

    Args:
        frames: (N, H, W, C) uint8, read as value / 255.
        r: (N, C, h, w) float32 factors, h <= H, w <= W (upsampled as in curve_iter).

    Returns:
        (N, H, W, C) uint8, rounded as torchvision's save_image rounds (clamp to [0, 1],
        times 255, plus 0.5, truncated).
    """
    check_curve_uint8_args(frames, r, iterations)
    x = frames.permute(0, 3, 1, 2).float().div_(255.0)
    y = curve_iter(x, r, iterations).clamp_(0, 1).mul_(255).add_(0.5)
    return y.to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def affine_uint8(frames, scale, offset):
    """``scale * x + offset`` on 8-bit frames, x = frames / 255: the guided filter's output
    q = a I + b (He, Sun & Tang, ECCV 2010) with its coefficient maps at low resolution.

    Args:
        frames: (N, H, W, C) uint8.
        scale, offset: (N, C, h, w) float32, h <= H, w <= W, upsampled bilinearly
            (align_corners=True) to the frames' size when smaller.

    Returns:
        (N, H, W, C) uint8, rounded as curve_iter_uint8 rounds.
    """
    check_affine_uint8_args(frames, scale, offset)
    x = frames.permute(0, 3, 1, 2).float().div_(255.0)
    if scale.shape[-2:] != x.shape[-2:]:
        scale, offset = (F.interpolate(t, size=tuple(x.shape[-2:]), mode="bilinear",
                                       align_corners=True) for t in (scale, offset))
    y = (scale * x + offset).clamp_(0, 1).mul_(255).add_(0.5)
    return y.to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def _window_mean(x, radius):
    """Means over (2 radius + 1)^2 windows, the borders mirrored as OpenCV's BORDER_REFLECT
    (the end sample repeated: "cba|abcd|dcb")."""
    def mirrored(n):
        i = torch.arange(-radius, n + radius, device=x.device)
        while bool(((i < 0) | (i >= n)).any()):  # as often as it takes on short lines
            i = torch.where(i < 0, -i - 1, torch.where(i >= n, 2 * n - i - 1, i))
        return i
    padded = x.index_select(2, mirrored(x.shape[2])).index_select(3, mirrored(x.shape[3]))
    return F.avg_pool2d(padded, 2 * radius + 1, stride=1)


def guided_coefficients(guide, eps, radius):
    """The self-guided filter's coefficient maps (He, Sun & Tang, "Guided Image Filtering",
    ECCV 2010, eqs. 5-6 and 8, the guide I being the input): per window,
    ``A = var / (var + eps)`` and ``B = mean - A * mean`` (var clamped at 0), and a, b their
    window means. The filter's output is ``a * guide + b`` (affine_uint8 applies it to bytes).

    Args:
        guide: (N, C, h, w) float32.
        eps: (N, 1, h, w) float32, the regulariser per pixel (> 0), shared by the channels.
        radius: windows of (2 radius + 1)^2 pixels, >= 0, mirrored at the borders as OpenCV's
            BORDER_REFLECT.

    Returns:
        (a, b), each (N, C, h, w) float32.

    Example:
        >>> guide = torch.rand(1, 3, 64, 64)
        >>> a, b = guided_coefficients(guide, torch.full((1, 1, 64, 64), 1e-2), 1)
    """
    check_guided_coefficients_args(guide, eps, radius)
    if guide.numel() == 0:
        return torch.empty_like(guide), torch.empty_like(guide)
    mean = _window_mean(guide, radius)
    var = (_window_mean(guide * guide, radius) - mean * mean).clamp_min(0)
    A = var / (var + eps)
    return _window_mean(A, radius), _window_mean(mean - A * mean, radius)


# The upper entries of a symmetric 3 x 3 matrix, in the order the colour ops keep them.
_SYMMETRIC3 = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
# eps is taken as at least this in the colour filter (csrc/common/guided.h says why).
COLOUR_GUIDED_MIN_EPS = 1e-6


def colour_guided_coefficients(guide, eps, radius):
    """The colour guided filter's coefficient maps (He, Sun & Tang, "Guided Image Filtering",
    ECCV 2010, eq. 14, the guide I being the input): per window, with S the 3 x 3 covariance of
    I's channels there and m their mean, ``A = S (S + eps U)^-1`` and ``B = m - A m``; a and b
    their window means. The output ``a I + b`` (colour_affine_uint8) keeps an edge's noise
    along the edge's own colour only, where the per-channel filter (guided_coefficients) keeps
    all of it. A is symmetric: it is given as its upper entries 00, 01, 02, 11, 12, 22. Float32
    math in the kernels' order: diagonal variances clamped at 0, eps at least 1e-6, the inverse
    by the adjugate.

    Args:
        guide: (N, 3, h, w) float32.
        eps: (N, 1, h, w) float32, the regulariser per pixel (> 0).
        radius: windows of (2 radius + 1)^2 pixels, >= 0, mirrored at the borders as OpenCV's
            BORDER_REFLECT.

    Returns:
        (a, b): (N, 6, h, w) and (N, 3, h, w) float32.

    Example:
        >>> guide = torch.rand(1, 3, 64, 64)
        >>> a, b = colour_guided_coefficients(guide, torch.full((1, 1, 64, 64), 1e-2), 1)
    """
    check_colour_guided_coefficients_args(guide, eps, radius)
    n, _, h, w = guide.shape
    if guide.numel() == 0:
        return guide.new_empty((n, 6, h, w)), guide.new_empty((n, 3, h, w))
    mean = _window_mean(guide, radius).unbind(1)
    products = [_window_mean(guide[:, i:i + 1] * guide[:, j:j + 1], radius)[:, 0]
                for i, j in _SYMMETRIC3]
    e = eps[:, 0].clamp_min(COLOUR_GUIDED_MIN_EPS)
    var = [(products[k] - mean[i] * mean[i]).clamp_min(0) for k, i in ((0, 0), (3, 1), (5, 2))]
    m00, m11, m22 = (v + e for v in var)
    m01, m02, m12 = (products[k] - mean[i] * mean[j] for k, i, j in ((1, 0, 1), (2, 0, 2),
                                                                       (4, 1, 2)))
    i00, i01, i02 = m11 * m22 - m12 * m12, m02 * m12 - m01 * m22, m01 * m12 - m02 * m11
    i11, i12, i22 = m00 * m22 - m02 * m02, m01 * m02 - m00 * m12, m00 * m11 - m01 * m01
    k = e / (m00 * i00 + m01 * i01 + m02 * i02)
    A = (1 - k * i00, -k * i01, -k * i02, 1 - k * i11, -k * i12, 1 - k * i22)
    B = [mean[c] - (A[_row3(c, 0)] * mean[0] + A[_row3(c, 1)] * mean[1]
                    + A[_row3(c, 2)] * mean[2]) for c in range(3)]
    return (_window_mean(torch.stack(A, 1), radius), _window_mean(torch.stack(B, 1), radius))


def _row3(c, k):
    """Where entry (c, k) of a symmetric 3 x 3 matrix is among its upper entries."""
    return _SYMMETRIC3.index((min(c, k), max(c, k)))


def colour_affine_uint8(frames, a, b):
    """The colour guided filter's output on 8-bit frames: per pixel x (3 values, byte / 255),
    ``a x + b`` with a the symmetric 3 x 3 matrix of colour_guided_coefficients; a and b
    upsampled bilinearly (align_corners=True) to the frames' size when smaller; written back
    as affine_uint8 writes.

    Args:
        frames: (N, H, W, 3) uint8.
        a: (N, 6, h, w) float32, h <= H, w <= W. b: (N, 3, h, w) float32.

    Returns:
        (N, H, W, 3) uint8.
    """
    check_colour_affine_uint8_args(frames, a, b)
    x = frames.permute(0, 3, 1, 2).float().div_(255.0)
    if a.shape[-2:] != x.shape[-2:]:
        a, b = (F.interpolate(t, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=True)
                for t in (a, b))
    y = torch.stack([a[:, _row3(c, 0)] * x[:, 0] + a[:, _row3(c, 1)] * x[:, 1]
                     + a[:, _row3(c, 2)] * x[:, 2] + b[:, c] for c in range(3)], 1)
    y = y.clamp_(0, 1).mul_(255).add_(0.5)
    return y.to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def guided_inputs_uint8(enhanced, dark, scale, noise, max_gain, luma):
    """The guided filters' inputs for sgz_fast.denoise from 8-bit frames: the guide, the
    enhanced frames' means over blocks of scale x scale pixels in [0, 1] units (the rows and
    columns beyond a whole block left out), and eps, the noise the brightening added, squared:
    ``noise^2 (gain^2 - 1) / 255^2`` (plus 1e-6 levels^2), the gain being
    ``(Le + 1) / (Ld + 1)`` clamped to [1, max_gain], Le and Ld the lumas (levels) of the
    two frames' block means.

    Args:
        enhanced, dark: (N, H, W, C) uint8, the enhanced frames and the dark ones they came from.
        scale: the block size s, 1 <= s <= H, W.
        noise: the output noise at gain 1 in levels at the blocks' resolution, >= 0.
        max_gain: the largest gain counted, >= 1.
        luma: C weights of the channels (Rec. 601's 0.299, 0.587, 0.114 for RGB).

    Returns:
        (guide, eps): (N, C, H // s, W // s) and (N, 1, H // s, W // s) float32.
    """
    check_guided_inputs_uint8_args(enhanced, dark, scale, noise, max_gain, luma)
    n, height, width, channels = enhanced.shape
    h, w = height // scale, width // scale
    if n * h * w == 0:
        return enhanced.new_empty((n, channels, h, w), dtype=torch.float32), \
            enhanced.new_empty((n, 1, h, w), dtype=torch.float32)
    means = [F.avg_pool2d(x[:, :h * scale, :w * scale].permute(0, 3, 1, 2).float(), scale)
             for x in (enhanced, dark)]
    weights = torch.tensor(luma, dtype=torch.float32, device=enhanced.device).view(1, -1, 1, 1)
    luma_e, luma_d = ((m * weights).sum(1, keepdim=True) for m in means)
    gain = ((luma_e + 1) / (luma_d + 1)).clamp(1.0, max_gain)
    eps = (noise * noise * (gain * gain - 1) + 1e-6) / (255.0 * 255.0)
    return means[0] / 255.0, eps


def colour_guided_filter_uint8(enhanced, dark, scale, noise, max_gain, luma, radius):
    """sgz_fast.denoise's fast filter on 8-bit frames: the colour guided filter of `enhanced`,
    its maps made at 1/scale size (guided_inputs_uint8, then colour_guided_coefficients) and
    applied at full size (colour_affine_uint8).

    Args:
        enhanced, dark: (N, H, W, 3) uint8. scale, noise, max_gain, luma: as
            guided_inputs_uint8's. radius: the windows', >= 0.

    Returns:
        (N, H, W, 3) uint8.
    """
    check_colour_guided_filter_uint8_args(enhanced, dark, scale, noise, max_gain, luma, radius)
    guide, eps = guided_inputs_uint8(enhanced, dark, scale, noise, max_gain, luma)
    return colour_affine_uint8(enhanced, *colour_guided_coefficients(guide, eps, radius))


def dsconv(inputs, dw_weight, dw_bias, pw_weight, pw_bias, activation="relu"):
    """Depthwise-separable conv as in SGZ's enhancement network (Zheng & Gupta, WACV 2022,
    after MobileNet, Howard et al. 2017): a 3x3 depthwise conv (zero padding 1) then a 1x1
    pointwise conv, each with an optional bias, then `activation` ('none', 'relu', 'tanh').

    Args:
        inputs: (N, Cin, H, W) tensor, or a sequence of (N, C_i, H, W) tensors whose channels
            concatenate to Cin.
        dw_weight: (Cin, 1, 3, 3); dw_bias: (Cin,) or None.
        pw_weight: (Cout, Cin, 1, 1); pw_bias: (Cout,) or None.

    Returns:
        (N, Cout, H, W) tensor.
    """
    inputs = as_input_list(inputs)
    cin = check_dsconv_args(inputs, dw_weight, dw_bias, pw_weight, pw_bias, activation)
    x = inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=1)
    y = F.conv2d(F.conv2d(x, dw_weight, dw_bias, padding=1, groups=cin), pw_weight, pw_bias)
    if activation == "relu":
        return F.relu(y)
    if activation == "tanh":
        return torch.tanh(y)
    return y


def loss_pools(enhanced, image, patch_size, exposure_patch_size):
    """The reductions of enhanced and image behind the zero-reference losses (Guo et al.,
    Zero-DCE, CVPR 2020; sgz_fast.losses): means over cells, dropping a partial last cell as
    ``avg_pool2d`` does.

    Args:
        enhanced, image: (N, C, H, W), H and W at least both cell sizes.
        patch_size, exposure_patch_size: the cells' sides, p and e.

    Returns:
        spatial (N, 1, H // p, W // p), the cell means of the channel mean of enhanced - image;
        exposure (N, 1, H // e, W // e), the cell means of enhanced's channel mean; means (N, C),
        enhanced's mean per plane.

    Example:
        >>> y = torch.full((1, 3, 16, 16), 0.5)
        >>> spatial, exposure, means = loss_pools(y, y / 2, 4, 16)
        >>> spatial.shape, exposure.item(), means.shape
        (torch.Size([1, 1, 4, 4]), 0.5, torch.Size([1, 3]))
    """
    check_loss_pools_args(enhanced, image, patch_size, exposure_patch_size)
    spatial = F.avg_pool2d((enhanced - image).mean(dim=1, keepdim=True), patch_size)
    exposure = F.avg_pool2d(enhanced.mean(dim=1, keepdim=True), exposure_patch_size)
    return spatial, exposure, enhanced.mean(dim=(2, 3))


def total_variation(r):
    """The sums, over every plane of r (N, C, H, W), of the squared vertical differences
    (r[y + 1][x] - r[y][x])^2 and of the horizontal ones: a tensor (2,), vertical first (the
    illumination smoothness loss of Zero-DCE, before its normalisation).

    Example:
        >>> total_variation(torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])).tolist()
        [13.0, 5.0]
    """
    check_total_variation_args(r)
    vertical = (r[:, :, 1:, :] - r[:, :, :-1, :]).square().sum()
    horizontal = (r[:, :, :, 1:] - r[:, :, :, :-1]).square().sum()
    return torch.stack([vertical, horizontal])
