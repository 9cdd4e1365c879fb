"""The sgz_fast ops in plain PyTorch: always available, the oracle the fused kernels are
tested against, and the fallback where the extension is not built."""
import torch.nn.functional as F

from ._checks import check_curve_args


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
