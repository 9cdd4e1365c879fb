"""The fused sgz_fast ops: typed wrappers over torch.ops.sgz_fast, with their fake (meta)
kernels and autograd formulas, so they work under autograd and torch.compile(fullgraph=True).
Each op has a plain-PyTorch twin in sgz_fast.reference."""
import torch

from . import _extension
from ._checks import check_curve_args


def _require(op, device):
    if device.type == "meta":  # shapes only: the fake kernel serves it
        return
    message = _extension.missing_kernels_message(op, device)
    if message is not None:
        raise RuntimeError(message)


def curve_iter(x, r, iterations=8):
    """Fused recurrent light-enhancement curve; same contract as
    :func:`sgz_fast.reference.curve_iter`.

    ``x <- x + r * (x^2 - x)``, ``iterations`` times, with r upsampled to x's size inside the
    kernel (bilinear, align_corners=True) when it is smaller: the full-size r is never stored.
    The backward recomputes the curve instead of saving its intermediates, so training keeps
    only x and r. float32/float64 on CPU and CUDA; float16/bfloat16 on CUDA (float32 math).

    Args:
        x: (N, C, H, W) image. r: (N, C, h, w) factors, h <= H, w <= W, x's dtype and device.
        iterations: number of curve steps, >= 0.

    Returns:
        A new contiguous (N, C, H, W) tensor.
    """
    if isinstance(x, torch.Tensor):
        _require("curve_iter", x.device)
    return torch.ops.sgz_fast.curve_iter.default(x, r, iterations)


if _extension.LOADED:
    # The schema's default, for calls made through torch.ops without `iterations`.
    _DEFAULT_ITERATIONS = torch.ops.sgz_fast.curve_iter.default._schema.arguments[2].default_value

    @torch.library.register_fake("sgz_fast::curve_iter")
    def _curve_iter_fake(x, r, iterations=_DEFAULT_ITERATIONS):
        check_curve_args(x, r, iterations)
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @torch.library.register_fake("sgz_fast::curve_iter_backward")
    def _curve_iter_backward_fake(grad, x, r, iterations, need_x, need_r):
        check_curve_args(x, r, iterations)
        torch._check(grad.shape == x.shape, lambda: "curve_iter_backward: grad must have x's shape")
        gx = torch.empty_like(x, memory_format=torch.contiguous_format) if need_x else x.new_empty(0)
        gr = torch.empty_like(r, memory_format=torch.contiguous_format) if need_r else r.new_empty(0)
        return gx, gr

    def _curve_iter_setup_context(ctx, inputs, output):
        x, r, *rest = inputs
        ctx.save_for_backward(x, r)
        ctx.iterations = rest[0] if rest else _DEFAULT_ITERATIONS

    def _curve_iter_backward(ctx, grad):
        x, r = ctx.saved_tensors
        need_x, need_r = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x, grad_r = torch.ops.sgz_fast.curve_iter_backward.default(
            grad, x, r, ctx.iterations, need_x, need_r)
        return (grad_x if need_x else None), (grad_r if need_r else None), None

    torch.library.register_autograd("sgz_fast::curve_iter", _curve_iter_backward,
                                    setup_context=_curve_iter_setup_context)
