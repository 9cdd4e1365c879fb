"""The fused sgz_fast ops: typed wrappers over torch.ops.sgz_fast, with their fake (meta)
kernels and autograd formulas, so they work under autograd and torch.compile(fullgraph=True).
Each op has a plain-PyTorch twin in sgz_fast.reference."""
import torch

from . import _extension
from ._checks import (as_input_list, check_affine_uint8_args, check_colour_affine_uint8_args,
                      check_colour_guided_coefficients_args,
                      check_colour_guided_filter_uint8_args, check_curve_args,
                      check_curve_backward_args,
                      check_curve_uint8_args, check_dsconv_args, check_dsconv_backward_args,
                      check_factor_net_args, check_factor_net_backward_args,
                      check_guided_coefficients_args,
                      check_guided_inputs_uint8_args, check_loss_pools_args,
                      check_loss_pools_backward_args, check_total_variation_args,
                      check_total_variation_backward_args)


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
        x: (N, C, H, W) image, any strides (the CPU kernel reads channels last, as an image
            permuted from (H, W, C) comes, without a copy). r: (N, C, h, w) factors,
            h <= H, w <= W, x's dtype and device.
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
        check_curve_backward_args(grad, x, r, iterations)
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


def curve_iter_uint8(frames, r, iterations=8):
    """Fused :func:`sgz_fast.reference.curve_iter_uint8`: 8-bit frames (N, H, W, C) in, 8-bit
    frames out, with no float copy of the frames. No gradient (the values are bytes)."""
    if isinstance(frames, torch.Tensor):
        _require("curve_iter_uint8", frames.device)
    return torch.ops.sgz_fast.curve_iter_uint8.default(frames, r, iterations)


if _extension.KERNELS["curve_iter_uint8"]:  # a build from older sources lacks it

    @torch.library.register_fake("sgz_fast::curve_iter_uint8")
    def _curve_iter_uint8_fake(frames, r, iterations=_DEFAULT_ITERATIONS):
        check_curve_uint8_args(frames, r, iterations)
        return torch.empty_like(frames, memory_format=torch.contiguous_format)


def affine_uint8(frames, scale, offset):
    """Fused :func:`sgz_fast.reference.affine_uint8`: 8-bit frames (N, H, W, C) in and out,
    the coefficient maps upsampled as they are read. No gradient (the values are bytes)."""
    if isinstance(frames, torch.Tensor):
        _require("affine_uint8", frames.device)
    return torch.ops.sgz_fast.affine_uint8.default(frames, scale, offset)


if _extension.KERNELS["affine_uint8"]:  # a build from older sources lacks it

    @torch.library.register_fake("sgz_fast::affine_uint8")
    def _affine_uint8_fake(frames, scale, offset):
        check_affine_uint8_args(frames, scale, offset)
        return torch.empty_like(frames, memory_format=torch.contiguous_format)


def guided_coefficients(guide, eps, radius):
    """Fused :func:`sgz_fast.reference.guided_coefficients`: the self-guided filter's maps
    (a, b), A and B made and averaged in bands of rows that stay in cache. No gradient."""
    if isinstance(guide, torch.Tensor):
        _require("guided_coefficients", guide.device)
    return torch.ops.sgz_fast.guided_coefficients.default(guide, eps, radius)


if _extension.KERNELS["guided_coefficients"]:  # a build from older sources lacks it

    @torch.library.register_fake("sgz_fast::guided_coefficients")
    def _guided_coefficients_fake(guide, eps, radius):
        check_guided_coefficients_args(guide, eps, radius)
        return (torch.empty_like(guide, memory_format=torch.contiguous_format),
                torch.empty_like(guide, memory_format=torch.contiguous_format))


def colour_guided_coefficients(guide, eps, radius):
    """Fused :func:`sgz_fast.reference.colour_guided_coefficients`: the colour guided filter's
    maps (a (N, 6, h, w), b (N, 3, h, w)) of a guide (N, 3, h, w). No gradient."""
    if isinstance(guide, torch.Tensor):
        _require("colour_guided_coefficients", guide.device)
    return torch.ops.sgz_fast.colour_guided_coefficients.default(guide, eps, radius)


if _extension.KERNELS["colour_guided_coefficients"]:  # a build from older sources lacks it

    @torch.library.register_fake("sgz_fast::colour_guided_coefficients")
    def _colour_guided_coefficients_fake(guide, eps, radius):
        check_colour_guided_coefficients_args(guide, eps, radius)
        n, _, h, w = guide.shape
        return guide.new_empty((n, 6, h, w)), guide.new_empty((n, 3, h, w))


def colour_affine_uint8(frames, a, b):
    """Fused :func:`sgz_fast.reference.colour_affine_uint8`: the colour guided filter applied
    to 8-bit frames (N, H, W, 3), its maps upsampled as they are read. No gradient."""
    if isinstance(frames, torch.Tensor):
        _require("colour_affine_uint8", frames.device)
    return torch.ops.sgz_fast.colour_affine_uint8.default(frames, a, b)


if _extension.KERNELS["colour_affine_uint8"]:  # a build from older sources lacks it

    @torch.library.register_fake("sgz_fast::colour_affine_uint8")
    def _colour_affine_uint8_fake(frames, a, b):
        check_colour_affine_uint8_args(frames, a, b)
        return torch.empty_like(frames, memory_format=torch.contiguous_format)


def colour_guided_filter_uint8(enhanced, dark, scale, noise, max_gain, luma, radius):
    """Fused :func:`sgz_fast.reference.colour_guided_filter_uint8`: guided_inputs_uint8,
    colour_guided_coefficients and colour_affine_uint8 in one op. On the CPU in one pass over
    rows, its maps never stored (the same result as the three ops to the bit); on CUDA the
    three kernels in turn. No gradient."""
    if isinstance(enhanced, torch.Tensor):
        _require("colour_guided_filter_uint8", enhanced.device)
    return torch.ops.sgz_fast.colour_guided_filter_uint8.default(
        enhanced, dark, scale, float(noise), float(max_gain), [float(x) for x in luma], radius)


if _extension.KERNELS["colour_guided_filter_uint8"]:  # a build from older sources lacks it

    @torch.library.register_fake("sgz_fast::colour_guided_filter_uint8")
    def _colour_guided_filter_uint8_fake(enhanced, dark, scale, noise, max_gain, luma, radius):
        check_colour_guided_filter_uint8_args(enhanced, dark, scale, noise, max_gain, luma,
                                              radius)
        return torch.empty_like(enhanced, memory_format=torch.contiguous_format)


def guided_inputs_uint8(enhanced, dark, scale, noise, max_gain, luma):
    """Fused :func:`sgz_fast.reference.guided_inputs_uint8`: the guide and eps read from the
    two frames' bytes in one pass, no float copy of the frames. No gradient."""
    if isinstance(enhanced, torch.Tensor):
        _require("guided_inputs_uint8", enhanced.device)
    return torch.ops.sgz_fast.guided_inputs_uint8.default(enhanced, dark, scale, float(noise),
                                                          float(max_gain),
                                                          [float(v) for v in luma])


if _extension.KERNELS["guided_inputs_uint8"]:  # a build from older sources lacks it

    @torch.library.register_fake("sgz_fast::guided_inputs_uint8")
    def _guided_inputs_uint8_fake(enhanced, dark, scale, noise, max_gain, luma):
        check_guided_inputs_uint8_args(enhanced, dark, scale, noise, max_gain, luma)
        n, height, width, channels = enhanced.shape
        h, w = height // scale, width // scale
        return (enhanced.new_empty((n, channels, h, w), dtype=torch.float32),
                enhanced.new_empty((n, 1, h, w), dtype=torch.float32))


def dsconv(inputs, dw_weight, dw_bias, pw_weight, pw_bias, activation="relu"):
    """Fused depthwise-separable conv; same contract as :func:`sgz_fast.reference.dsconv`.

    The inputs' channels are read in place (never concatenated) and the depthwise result
    stays in cache on its way to the pointwise product. The backward recomputes the depthwise
    result instead of saving it (it keeps the inputs and the output).
    """
    inputs = as_input_list(inputs)
    _require("dsconv", inputs[0].device)
    return torch.ops.sgz_fast.dsconv.default(inputs, dw_weight, dw_bias, pw_weight, pw_bias,
                                             activation)


if _extension.LOADED:

    @torch.library.register_fake("sgz_fast::dsconv")
    def _dsconv_fake(inputs, dw_weight, dw_bias, pw_weight, pw_bias, activation="relu"):
        check_dsconv_args(inputs, dw_weight, dw_bias, pw_weight, pw_bias, activation)
        n, _, h, w = inputs[0].shape
        return inputs[0].new_empty((n, pw_weight.shape[0], h, w))

    @torch.library.register_fake("sgz_fast::dsconv_backward")
    def _dsconv_backward_fake(grad, output, inputs, dw_weight, dw_bias, pw_weight, activation):
        check_dsconv_backward_args(grad, output, inputs, dw_weight, dw_bias, pw_weight, activation)
        def fresh(t):  # the kernels return contiguous gradients whatever the strides
            return torch.empty_like(t, memory_format=torch.contiguous_format)
        grad_db = fresh(dw_bias) if dw_bias is not None else dw_weight.new_empty(0)
        return ([fresh(t) for t in inputs], fresh(dw_weight), grad_db, fresh(pw_weight),
                pw_weight.new_empty(pw_weight.shape[0]))

    def _dsconv_setup_context(ctx, inputs, output):
        tensors, dw_weight, dw_bias, pw_weight, pw_bias, *rest = inputs
        ctx.activation = rest[0] if rest else "relu"
        ctx.num_inputs = len(tensors)
        ctx.has_dw_bias = dw_bias is not None
        biases = [dw_bias] if dw_bias is not None else []
        ctx.save_for_backward(output, dw_weight, pw_weight, *biases, *tensors)

    def _dsconv_backward(ctx, grad):
        output, dw_weight, pw_weight, *rest = ctx.saved_tensors
        dw_bias = rest[0] if ctx.has_dw_bias else None
        tensors = rest[1:] if ctx.has_dw_bias else rest
        grad_inputs, grad_dw, grad_db, grad_pw, grad_pb = (
            torch.ops.sgz_fast.dsconv_backward.default(grad, output, list(tensors), dw_weight,
                                                       dw_bias, pw_weight, ctx.activation))
        need = ctx.needs_input_grad
        return (list(grad_inputs) if need[0] else None,
                grad_dw if need[1] else None,
                grad_db if need[2] and ctx.has_dw_bias else None,
                grad_pw if need[3] else None,
                grad_pb if need[4] else None,
                None)

    torch.library.register_autograd("sgz_fast::dsconv", _dsconv_backward,
                                    setup_context=_dsconv_setup_context)


def factor_net(x, params):
    """SGZ's whole factor network (the seven depthwise-separable layers e_conv1..7, ReLU and
    the final tanh) as one fused op: the factors x_r that the per-layer ops give to rounding
    (float32 within 1e-5: it adds the depthwise taps and e_conv7's channels in another
    order).

    On the CPU (float32, float64) the image is computed in tiles, two rows at a time, each
    layer keeping only the few rows the next layers still need, so the 32-channel activations
    stay in cache: no full-size intermediate is allocated. On CUDA (float32, float64, float16,
    bfloat16; networks up to 32 wide) one launch computes all seven layers, each block on an
    8 x 16 tile and the halo it depends on, the activations in float32 (float64) between
    layers: meant for the low-resolution pass (scale 12), where it replaces seven small
    launches.

    Gradients for the params on the CPU (``factor_net_backward``: the same streaming run
    backwards, the activations recomputed in cache, never stored; the forward saves only x
    and x_r); none for x, and none on CUDA (a backward there raises: train through the
    per-layer :func:`dsconv`, as ``SGZ`` does).

    Args:
        x: (N, 3, H, W) image, any H, W >= 0, any strides (read in place: a channels-last
            frame is not copied).
        params: the 28 tensors of ``SGZ(conv_type="dsc").parameters()``, in that order (for
            e_conv1..7: depth_conv weight and bias, point_conv weight and bias), x's dtype
            and device.

    Returns:
        x_r, a new contiguous (N, 3, H, W) tensor in [-1, 1].

    Example:
        >>> from sgz_fast.model import SGZ
        >>> model = SGZ(scale_factor=1)
        >>> with torch.no_grad():
        ...     x_r = factor_net(torch.rand(1, 3, 64, 64), list(model.parameters()))
        >>> x_r.shape
        torch.Size([1, 3, 64, 64])
    """
    if isinstance(x, torch.Tensor):
        _require("factor_net", x.device)
    return torch.ops.sgz_fast.factor_net.default(x, list(params))


if _extension.KERNELS["factor_net"]:  # a build from older sources lacks it

    @torch.library.register_fake("sgz_fast::factor_net")
    def _factor_net_fake(x, params):
        check_factor_net_args(x, params)
        return x.new_empty(x.shape)

    @torch.library.register_fake("sgz_fast::factor_net_backward")
    def _factor_net_backward_fake(grad, x, out, params):
        check_factor_net_backward_args(grad, x, out, params)
        return [torch.empty_like(p, memory_format=torch.contiguous_format) for p in params]

    def _factor_net_setup_context(ctx, inputs, output):
        x, params = inputs
        ctx.save_for_backward(x, output, *params)

    def _factor_net_backward(ctx, grad):
        if ctx.needs_input_grad[0]:
            raise RuntimeError("sgz_fast.ops.factor_net gives no gradient for x, only for the "
                               "params; for a gradient of the image, run SGZ's per-layer ops "
                               "(SGZ.forward does when x requires grad).")
        x, output, *params = ctx.saved_tensors
        if not _extension.KERNELS["factor_net_backward"].get(x.device.type):
            raise RuntimeError(f"sgz_fast.ops.factor_net has no gradient on {x.device.type} "
                               f"(its backward runs on the CPU); train through SGZ's per-layer "
                               f"ops, which SGZ.forward uses there.")
        grads = torch.ops.sgz_fast.factor_net_backward.default(grad, x, output, params)
        return None, list(grads)

    torch.library.register_autograd("sgz_fast::factor_net", _factor_net_backward,
                                    setup_context=_factor_net_setup_context)


def loss_pools(enhanced, image, patch_size, exposure_patch_size):
    """Fused :func:`sgz_fast.reference.loss_pools`, the reductions behind the zero-reference
    losses: one pass over enhanced and image, no full-size intermediate (the eager losses make
    a dozen). The sums are in double, in an order that depends on neither the thread count
    (CPU) nor the schedule (CUDA: no atomics). The backward writes enhanced's gradient in one
    pass (image's is the spatial part negated). CPU: float32, float64; CUDA: also float16 and
    bfloat16.

    Args:
        enhanced, image: (N, C, H, W), H and W at least both cell sizes.
        patch_size, exposure_patch_size: the cells' sides, p and e.

    Returns:
        spatial (N, 1, H // p, W // p), exposure (N, 1, H // e, W // e), means (N, C).
    """
    if isinstance(enhanced, torch.Tensor):
        _require("loss_pools", enhanced.device)
    return torch.ops.sgz_fast.loss_pools.default(enhanced, image, patch_size, exposure_patch_size)


def total_variation(r):
    """Fused :func:`sgz_fast.reference.total_variation`: the two sums (2,) in one pass over r,
    in double, in an order that depends on neither the thread count nor the schedule; the
    backward writes r's gradient in one pass. CPU: float32, float64; CUDA: also float16 and
    bfloat16."""
    if isinstance(r, torch.Tensor):
        _require("total_variation", r.device)
    return torch.ops.sgz_fast.total_variation.default(r)


if _extension.KERNELS["loss_pools"]:  # a build from older sources lacks it

    @torch.library.register_fake("sgz_fast::loss_pools")
    def _loss_pools_fake(enhanced, image, patch_size, exposure_patch_size):
        check_loss_pools_args(enhanced, image, patch_size, exposure_patch_size)
        n, c, h, w = enhanced.shape
        p, e = patch_size, exposure_patch_size
        return (enhanced.new_empty((n, 1, h // p, w // p)),
                enhanced.new_empty((n, 1, h // e, w // e)), enhanced.new_empty((n, c)))

    @torch.library.register_fake("sgz_fast::loss_pools_backward")
    def _loss_pools_backward_fake(grad_spatial, grad_exposure, grad_means, size, patch_size,
                                  exposure_patch_size):
        check_loss_pools_backward_args(grad_spatial, grad_exposure, grad_means, size, patch_size,
                                       exposure_patch_size)
        return grad_spatial.new_empty(size)

    def _loss_pools_setup_context(ctx, inputs, output):
        enhanced, _, ctx.patch_size, ctx.exposure_patch_size = inputs
        ctx.size = list(enhanced.shape)

    def _loss_pools_backward(ctx, grad_spatial, grad_exposure, grad_means):
        def through(spatial, exposure, means):
            return torch.ops.sgz_fast.loss_pools_backward.default(
                spatial, exposure, means, ctx.size, ctx.patch_size, ctx.exposure_patch_size)
        need_enhanced, need_image = ctx.needs_input_grad[:2]
        grad_enhanced = through(grad_spatial, grad_exposure, grad_means) if need_enhanced else None
        grad_image = (through(-grad_spatial, torch.zeros_like(grad_exposure),
                              torch.zeros_like(grad_means)) if need_image else None)
        return grad_enhanced, grad_image, None, None

    torch.library.register_autograd("sgz_fast::loss_pools", _loss_pools_backward,
                                    setup_context=_loss_pools_setup_context)

    @torch.library.register_fake("sgz_fast::total_variation")
    def _total_variation_fake(r):
        check_total_variation_args(r)
        return r.new_empty(2)

    @torch.library.register_fake("sgz_fast::total_variation_backward")
    def _total_variation_backward_fake(grad, r):
        check_total_variation_backward_args(grad, r)
        return torch.empty_like(r, memory_format=torch.contiguous_format)

    def _total_variation_setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    def _total_variation_backward(ctx, grad):
        r, = ctx.saved_tensors
        return torch.ops.sgz_fast.total_variation_backward.default(grad, r)

    torch.library.register_autograd("sgz_fast::total_variation", _total_variation_backward,
                                    setup_context=_total_variation_setup_context)
