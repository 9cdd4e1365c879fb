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
    check_iterations("curve_iter", iterations)


def check_iterations(op, iterations):
    if not isinstance(iterations, int):
        raise TypeError(f"{op}: iterations must be an int; got {type(iterations).__name__}")
    if iterations < 0:
        raise ValueError(f"{op}: iterations must be >= 0; got {iterations}")


def check_curve_backward_args(grad, x, r, iterations):
    check_curve_args(x, r, iterations)
    if grad.shape != x.shape:
        raise ValueError(f"curve_iter_backward: grad must have x's shape {list(x.shape)}; got "
                         f"{list(grad.shape)}")
    if grad.dtype != x.dtype:
        raise TypeError(f"curve_iter_backward: grad must have x's dtype ({x.dtype}); got "
                        f"{grad.dtype}")
    if grad.device != x.device:
        raise ValueError(f"curve_iter_backward: grad must be on x's device ({x.device}); got "
                         f"{grad.device}")


def check_frames_uint8(op, frames, name="frames"):
    """The 8-bit frame ops' frames: (N, H, W, C) uint8 as decoders give them."""
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor; got {type(frames).__name__}")
    if frames.dim() != 4 or frames.dtype != torch.uint8:
        raise TypeError(f"{op}: {name} must be a 4-D uint8 tensor (N, H, W, C); got "
                        f"{frames.dtype} with shape {list(frames.shape)}")


def check_frame_map(op, name, frames, t):
    """A per-channel map of the frames: (N, C, h, w) float32, at most the frames' size."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor; got {type(t).__name__}")
    if t.dim() != 4 or t.dtype != torch.float32:
        raise TypeError(f"{op}: {name} must be a 4-D float32 tensor (N, C, h, w); got "
                        f"{t.dtype} with shape {list(t.shape)}")
    n, height, width, channels = frames.shape
    if t.shape[0] != n or t.shape[1] != channels:
        raise ValueError(f"{op}: {name} must have the frames' batch and channel sizes: "
                         f"expected ({n}, {channels}, h, w), got {list(t.shape)}")
    if t.shape[2] > height or t.shape[3] > width:
        raise ValueError(f"{op}: {name} ({t.shape[2]}x{t.shape[3]}) must not be larger than "
                         f"the frames ({height}x{width})")
    if frames.numel() > 0 and (t.shape[2] == 0 or t.shape[3] == 0):
        raise ValueError(f"{op}: {name} must have at least one pixel per plane; got shape "
                         f"{list(t.shape)}")
    if t.device != frames.device:
        raise ValueError(f"{op}: frames and {name} must be on the same device; frames are on "
                         f"{frames.device}, {name} is on {t.device}")


def check_curve_uint8_args(frames, r, iterations):
    check_frames_uint8("curve_iter_uint8", frames)
    check_frame_map("curve_iter_uint8", "r", frames, r)
    check_iterations("curve_iter_uint8", iterations)


def check_affine_uint8_args(frames, scale, offset):
    check_frames_uint8("affine_uint8", frames)
    check_frame_map("affine_uint8", "scale", frames, scale)
    check_frame_map("affine_uint8", "offset", frames, offset)
    if offset.shape != scale.shape:
        raise ValueError(f"affine_uint8: offset must have scale's shape {list(scale.shape)}; "
                         f"got {list(offset.shape)}")


def check_guided_coefficients_args(guide, eps, radius, op="guided_coefficients"):
    for name, t, dims in (("guide", guide, "(N, C, h, w)"), ("eps", eps, "(N, 1, h, w)")):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{op}: {name} must be a torch.Tensor; got "
                            f"{type(t).__name__}")
        if t.dim() != 4 or t.dtype != torch.float32:
            raise TypeError(f"{op}: {name} must be a 4-D float32 tensor {dims}; "
                            f"got {t.dtype} with shape {list(t.shape)}")
    n, _, h, w = guide.shape
    if eps.shape[0] != n or eps.shape[1] != 1 or eps.shape[2:] != guide.shape[2:]:
        raise ValueError(f"{op}: eps must be (N, 1, h, w) with the guide's N, h "
                         f"and w: expected ({n}, 1, {h}, {w}), got {list(eps.shape)}")
    if eps.device != guide.device:
        raise ValueError(f"{op}: guide and eps must be on the same device; guide "
                         f"is on {guide.device}, eps is on {eps.device}")
    if not isinstance(radius, int):
        raise TypeError(f"{op}: radius must be an int; got "
                        f"{type(radius).__name__}")
    if radius < 0:
        raise ValueError(f"{op}: radius must be >= 0; got {radius}")


def check_colour_guided_coefficients_args(guide, eps, radius):
    op = "colour_guided_coefficients"
    check_guided_coefficients_args(guide, eps, radius, op)
    if guide.shape[1] != 3:
        raise ValueError(f"{op}: guide must have 3 channels (N, 3, h, w); got "
                         f"{list(guide.shape)}")


def check_colour_affine_uint8_args(frames, a, b):
    op = "colour_affine_uint8"
    check_frames_uint8(op, frames)
    if frames.shape[3] != 3:
        raise ValueError(f"{op}: frames must have 3 channels (N, H, W, 3); got "
                         f"{list(frames.shape)}")
    check_frame_map(op, "b", frames, b)
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{op}: a must be a torch.Tensor; got {type(a).__name__}")
    if a.dim() != 4 or a.dtype != torch.float32:
        raise TypeError(f"{op}: a must be a 4-D float32 tensor (N, 6, h, w); got {a.dtype} with "
                        f"shape {list(a.shape)}")
    n, _, h, w = b.shape
    if a.shape[0] != n or a.shape[1] != 6 or a.shape[2:] != b.shape[2:]:
        raise ValueError(f"{op}: a must be (N, 6, h, w) with b's N, h and w: expected ({n}, 6, "
                         f"{h}, {w}), got {list(a.shape)}")
    if a.device != frames.device:
        raise ValueError(f"{op}: frames and a must be on the same device; frames are on "
                         f"{frames.device}, a is on {a.device}")


def check_guided_inputs_uint8_args(enhanced, dark, scale, noise, max_gain, luma,
                                   op="guided_inputs_uint8"):
    check_frames_uint8(op, enhanced)
    check_frames_uint8(op, dark, "dark")
    if dark.shape != enhanced.shape:
        raise ValueError(f"{op}: dark must have the frames' shape {list(enhanced.shape)}; got "
                         f"{list(dark.shape)}")
    if dark.device != enhanced.device:
        raise ValueError(f"{op}: frames and dark must be on the same device; frames are on "
                         f"{enhanced.device}, dark is on {dark.device}")
    if not isinstance(scale, int):
        raise TypeError(f"{op}: scale must be an int; got {type(scale).__name__}")
    if scale < 1:
        raise ValueError(f"{op}: scale must be >= 1; got {scale}")
    _, height, width, channels = enhanced.shape
    if enhanced.numel() > 0 and (scale > height or scale > width):
        raise ValueError(f"{op}: scale {scale} is larger than the frames ({height}x{width})")
    if noise < 0:
        raise ValueError(f"{op}: noise must be >= 0; got {noise:g}")  # as C++ prints it
    if max_gain < 1:
        raise ValueError(f"{op}: max_gain must be >= 1; got {max_gain:g}")
    if len(luma) != channels:
        raise ValueError(f"{op}: luma must have one weight per channel ({channels}); got "
                         f"{len(luma)}")


ACTIVATIONS = ("none", "relu", "tanh")


def as_input_list(inputs):
    """dsconv's inputs as a list: one tensor, or a sequence whose channels concatenate."""
    if isinstance(inputs, torch.Tensor):
        return [inputs]
    inputs = list(inputs)
    if not all(isinstance(t, torch.Tensor) for t in inputs):
        raise TypeError("dsconv: inputs must be a tensor or a sequence of tensors")
    return inputs


def check_dsconv_args(inputs, dw_weight, dw_bias, pw_weight, pw_bias, activation):
    """Checks dsconv's arguments; returns the total input channel count."""
    if len(inputs) == 0:
        raise ValueError("dsconv: inputs must hold at least one tensor")
    first = inputs[0]
    for i, t in enumerate(inputs):
        if t.dim() != 4:
            raise ValueError(f"dsconv: inputs[{i}] must be a 4-D tensor (N, C, H, W); got "
                             f"{t.dim()}-D with shape {list(t.shape)}")
        if not t.dtype.is_floating_point:
            raise TypeError(f"dsconv: inputs[{i}] must be a floating-point tensor; got {t.dtype}")
        if t.dtype != first.dtype or t.device != first.device:
            raise ValueError(f"dsconv: inputs[{i}] is {t.dtype} on {t.device}; inputs[0] is "
                             f"{first.dtype} on {first.device}")
        if (t.shape[0], t.shape[2], t.shape[3]) != (first.shape[0], first.shape[2], first.shape[3]):
            raise ValueError(f"dsconv: inputs[{i}] has shape {list(t.shape)}; all inputs need the "
                             f"batch and spatial sizes of inputs[0], {list(first.shape)}")
    cin = sum(t.shape[1] for t in inputs)
    if dw_weight.dim() != 4 or dw_weight.shape[1] != 1:
        raise ValueError(f"dsconv: dw_weight must have shape (Cin, 1, 3, 3); got "
                         f"{list(dw_weight.shape)}")
    if tuple(dw_weight.shape[2:]) != (3, 3):
        raise ValueError(f"dsconv: the depthwise kernel must be 3x3; got "
                         f"{dw_weight.shape[2]}x{dw_weight.shape[3]}")
    if dw_weight.shape[0] != cin:
        raise ValueError(f"dsconv: the inputs have {cin} channels in all but dw_weight has "
                         f"{dw_weight.shape[0]}")
    if pw_weight.dim() != 4 or tuple(pw_weight.shape[2:]) != (1, 1):
        raise ValueError(f"dsconv: pw_weight must have shape (Cout, Cin, 1, 1); got "
                         f"{list(pw_weight.shape)}")
    if pw_weight.shape[1] != cin:
        raise ValueError(f"dsconv: the inputs have {cin} channels in all but pw_weight has "
                         f"{pw_weight.shape[1]} input channels")
    params = {"dw_weight": dw_weight, "pw_weight": pw_weight}
    for name, bias, size in (("dw_bias", dw_bias, cin), ("pw_bias", pw_bias, pw_weight.shape[0])):
        if bias is None:
            continue
        if bias.dim() != 1 or bias.shape[0] != size:
            raise ValueError(f"dsconv: {name} must have shape ({size},); got {list(bias.shape)}")
        params[name] = bias
    for name, p in params.items():
        if p.dtype != first.dtype or p.device != first.device:
            raise ValueError(f"dsconv: {name} is {p.dtype} on {p.device}; the inputs are "
                             f"{first.dtype} on {first.device}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"dsconv: activation must be 'none', 'relu' or 'tanh'; got "
                         f"{activation!r}")
    return cin


def check_dsconv_backward_args(grad, output, inputs, dw_weight, dw_bias, pw_weight, activation):
    """dsconv_backward's arguments: dsconv's, plus grad and output of the output's shape, dtype
    and device. Returns the total input channel count."""
    cin = check_dsconv_args(inputs, dw_weight, dw_bias, pw_weight, None, activation)
    first = inputs[0]
    shape = [first.shape[0], pw_weight.shape[0], first.shape[2], first.shape[3]]
    if list(grad.shape) != shape or list(output.shape) != shape:
        raise ValueError(f"dsconv_backward: grad and output must have shape {shape}; got "
                         f"{list(grad.shape)} and {list(output.shape)}")
    if {grad.dtype, output.dtype, first.dtype} != {first.dtype} or \
            {grad.device, output.device, first.device} != {first.device}:
        raise ValueError(f"dsconv_backward: grad and output must have the inputs' dtype and "
                         f"device ({first.dtype} on {first.device}); got {grad.dtype} on "
                         f"{grad.device} and {output.dtype} on {output.device}")
    return cin


FACTOR_NET_PARAMS = ("depth_conv.weight", "depth_conv.bias", "point_conv.weight",
                     "point_conv.bias")


def check_factor_net_args(x, params):
    """Checks factor_net's arguments (the C++ check_factor_net_args); returns the width."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        got = f"shape {list(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"factor_net: x must be a batch of RGB images (N, 3, H, W); got {got}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"factor_net: x must be a floating-point tensor; got {x.dtype}")
    params = list(params)
    if len(params) != 28:
        raise ValueError(f"factor_net: params must hold the 28 tensors of "
                         f"SGZ(conv_type='dsc').parameters() (e_conv1..7: depth_conv weight, "
                         f"bias, point_conv weight, bias); got {len(params)}")
    if params[2].dim() < 1 or params[2].shape[0] < 1:
        raise ValueError(f"factor_net: params[2] (e_conv1.point_conv.weight) must have shape "
                         f"(width, 3, 1, 1); got {list(params[2].shape)}")
    width = params[2].shape[0]
    for k, cin in enumerate((3, width, width, width, 2 * width, 2 * width, 2 * width)):
        cout = 3 if k == 6 else width
        shapes = ((cin, 1, 3, 3), (cin,), (cout, cin, 1, 1), (cout,))
        for i, (name, shape) in enumerate(zip(FACTOR_NET_PARAMS, shapes)):
            p = params[4 * k + i]
            where = f"params[{4 * k + i}] (e_conv{k + 1}.{name})"
            if tuple(p.shape) != shape:
                raise ValueError(f"factor_net: {where} must have shape {list(shape)}; got "
                                 f"{list(p.shape)}")
            if p.dtype != x.dtype or p.device != x.device:
                raise ValueError(f"factor_net: {where} is {p.dtype} on {p.device}; x is "
                                 f"{x.dtype} on {x.device}")
    return width


def check_factor_net_backward_args(grad, x, out, params):
    """Checks factor_net_backward's arguments (the C++ check_factor_net_backward_args); returns
    the width."""
    width = check_factor_net_args(x, params)
    for name, t in (("grad", grad), ("out", out)):
        if t.shape != x.shape:
            raise ValueError(f"factor_net_backward: {name} must have x's shape {list(x.shape)}; "
                             f"got {list(t.shape)}")
        if t.dtype != x.dtype or t.device != x.device:
            raise ValueError(f"factor_net_backward: {name} is {t.dtype} on {t.device}; x is "
                             f"{x.dtype} on {x.device}")
    return width


def check_colour_guided_filter_uint8_args(enhanced, dark, scale, noise, max_gain, luma, radius):
    op = "colour_guided_filter_uint8"
    check_guided_inputs_uint8_args(enhanced, dark, scale, noise, max_gain, luma, op)
    if enhanced.shape[3] != 3:
        raise ValueError(f"{op}: frames must have 3 channels (N, H, W, 3); got "
                         f"{list(enhanced.shape)}")
    if not isinstance(radius, int):
        raise TypeError(f"{op}: radius must be an int; got {type(radius).__name__}")
    if radius < 0:
        raise ValueError(f"{op}: radius must be >= 0; got {radius}")


def check_loss_pools_sizes(op, size, patch_size, exposure_patch_size):
    """The C++ check_loss_pools_sizes: enhanced's size and the two cell sizes."""
    if len(size) != 4:
        raise ValueError(f"{op}: enhanced must be a 4-D tensor (N, C, H, W); got {len(size)}-D "
                         f"with shape {list(size)}")
    if size[1] < 1:
        raise ValueError(f"{op}: enhanced needs at least one channel; got shape {list(size)}")
    for name, patch in (("patch_size", patch_size), ("exposure_patch_size", exposure_patch_size)):
        if not isinstance(patch, int):
            raise TypeError(f"{op}: {name} must be an int; got {type(patch).__name__}")
        if patch < 1:
            raise ValueError(f"{op}: {name} must be >= 1; got {patch}")
        if size[2] < patch or size[3] < patch:
            raise ValueError(f"{op}: the image ({size[2]}x{size[3]}) must be at least {name} "
                             f"({patch}) on each side")


def check_loss_pools_args(enhanced, image, patch_size, exposure_patch_size):
    for name, t in (("enhanced", enhanced), ("image", image)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"loss_pools: {name} must be a torch.Tensor; got {type(t).__name__}")
    check_loss_pools_sizes("loss_pools", enhanced.shape, patch_size, exposure_patch_size)
    if image.shape != enhanced.shape:
        raise ValueError(f"loss_pools: image must have enhanced's shape {list(enhanced.shape)}; "
                         f"got {list(image.shape)}")
    if not enhanced.dtype.is_floating_point:
        raise TypeError(f"loss_pools: enhanced must be a floating-point tensor; got "
                        f"{enhanced.dtype}")
    if image.dtype != enhanced.dtype or image.device != enhanced.device:
        raise ValueError(f"loss_pools: image is {image.dtype} on {image.device}; enhanced is "
                         f"{enhanced.dtype} on {enhanced.device}")


def check_loss_pools_backward_args(grad_spatial, grad_exposure, grad_means, size, patch_size,
                                   exposure_patch_size):
    op = "loss_pools_backward"
    check_loss_pools_sizes(op, size, patch_size, exposure_patch_size)
    n, c, h, w = size
    shapes = ([n, 1, h // patch_size, w // patch_size],
              [n, 1, h // exposure_patch_size, w // exposure_patch_size], [n, c])
    given = (("grad_spatial", grad_spatial), ("grad_exposure", grad_exposure),
             ("grad_means", grad_means))
    for (name, t), shape in zip(given, shapes):
        if list(t.shape) != shape:
            raise ValueError(f"{op}: {name} must have shape {shape}; got {list(t.shape)}")
        if not t.dtype.is_floating_point:
            raise TypeError(f"{op}: {name} must be a floating-point tensor; got {t.dtype}")
        if t.dtype != grad_spatial.dtype or t.device != grad_spatial.device:
            raise ValueError(f"{op}: {name} is {t.dtype} on {t.device}; grad_spatial is "
                             f"{grad_spatial.dtype} on {grad_spatial.device}")


def check_total_variation_args(r):
    if not isinstance(r, torch.Tensor):
        raise TypeError(f"total_variation: r must be a torch.Tensor; got {type(r).__name__}")
    if r.dim() != 4:
        raise ValueError(f"total_variation: r must be a 4-D tensor (N, C, H, W); got {r.dim()}-D "
                         f"with shape {list(r.shape)}")
    if not r.dtype.is_floating_point:
        raise TypeError(f"total_variation: r must be a floating-point tensor; got {r.dtype}")


def check_total_variation_backward_args(grad, r):
    check_total_variation_args(r)
    if list(grad.shape) != [2]:
        raise ValueError(f"total_variation_backward: grad must have shape (2,) (vertical, "
                         f"horizontal); got {list(grad.shape)}")
    if grad.dtype != r.dtype or grad.device != r.device:
        raise ValueError(f"total_variation_backward: grad is {grad.dtype} on {grad.device}; r is "
                         f"{r.dtype} on {r.device}")
