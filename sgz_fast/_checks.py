"""Argument checks of the sgz_fast ops for the Python paths (the reference and the fake
kernels). The compiled kernels make the same checks in csrc/common/checks.h."""
import torch


def check_curve_args(x, r, iterations):
    for name, t, dims in (("x", x, "(N, C, H, W)"), ("r", r, "(N, C, h, w)")):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"curve_iter: {name} must be a torch.Tensor; got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"curve_iter: {name} must be a 4-D tensor {dims}; got "
                             f"{t.dim()}-D with shape {list(t.shape)}")
    if r.shape[0] != x.shape[0] or r.shape[1] != x.shape[1]:
        raise ValueError(f"curve_iter: r must have x's batch and channel sizes: expected "
                         f"({x.shape[0]}, {x.shape[1]}, h, w), got {list(r.shape)}")
    if r.shape[2] > x.shape[2] or r.shape[3] > x.shape[3]:
        raise ValueError(f"curve_iter: r ({r.shape[2]}x{r.shape[3]}) must not be larger than x "
                         f"({x.shape[2]}x{x.shape[3]}): r is upsampled to x's size")
    if x.numel() > 0 and (r.shape[2] == 0 or r.shape[3] == 0):
        raise ValueError(f"curve_iter: r must have at least one pixel per plane; got shape "
                         f"{list(r.shape)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"curve_iter: x must be a floating-point tensor; got {x.dtype}")
    if r.dtype != x.dtype:
        raise TypeError(f"curve_iter: r must have x's dtype ({x.dtype}); got {r.dtype}")
    if r.device != x.device:
        raise ValueError(f"curve_iter: x and r must be on the same device; x is on {x.device}, "
                         f"r is on {r.device}")
    if not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"curve_iter: iterations must be an int >= 0; got {iterations!r}")
