"""SGZ, the semantic-guided zero-shot low-light enhancement network (Zheng & Gupta, WACV 2022,
arXiv 2110.00970), as a drop-in for the published ``enhance_net_nopool``: the same submodules
and parameter names, so published checkpoints load with ``strict=True`` and ours load in the
published code, and the same numerics for inputs whose size is a multiple of scale_factor.

The factor network (seven depthwise-separable blocks, 32 wide) runs on the image downsampled
by scale_factor; its output x_r in (-1, 1) drives the curve ``x <- x + x_r (x^2 - x)`` eight
times at full resolution (x_r upsampled bilinearly, align_corners=True).
"""
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import _extension, ops, reference

WIDTH = 32
ITERATIONS = 8
BACKENDS = ("auto", "fused", "reference")
CONV_TYPES = ("dsc", "tc")
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "sgz_default.pth"
# On CUDA the one-op network (ops.factor_net) serves the low-resolution pass, up to this many
# network pixels per call (a 3840x2160 frame at scale 12: 320 x 180): there its one launch
# replaces seven small ones. Larger inputs run the per-layer ops, where the one-op kernel's
# recomputed halos (2.5x the arithmetic) would cost more than the launches it saves. An
# estimate until the GPU check measures both (benchmarks/NOTES.md, factor_net, CUDA).
CUDA_WHOLE_NETWORK_PIXELS = 320 * 180
# Bundled weights by name (docs/default_weights.md: how each was trained and compared).
# "default" is DEFAULT_WEIGHTS; "default-v1" the first bundled set (semantic term off).
BUNDLED_WEIGHTS = {"default-v1": "sgz_default_v1.pth"}


class DepthwiseSeparableBlock(nn.Module):
    """The published DSC block: a 3x3 depthwise conv (``depth_conv``), then a 1x1 pointwise
    conv (``point_conv``), both with biases, then the activation: one fused op when fused."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.depth_conv = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels)
        self.point_conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, inputs, activation, fused):
        dsconv = ops.dsconv if fused else reference.dsconv
        return dsconv(inputs, self.depth_conv.weight, self.depth_conv.bias,
                      self.point_conv.weight, self.point_conv.bias, activation)


class PlainConvBlock(nn.Module):
    """The published TC block: one 3x3 conv (``conv``) with a bias, then the activation."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, inputs, activation, fused):
        y = self.conv(inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=1))
        return torch.relu(y) if activation == "relu" else torch.tanh(y)


class SGZ(nn.Module):
    """The SGZ enhancement network.

    Args:
        scale_factor: the factor network runs on the image downsampled by this integer (the
            published test uses 12, training uses 1).
        conv_type: "dsc" (depthwise-separable blocks, the published default) or "tc" (plain
            3x3 convs).
        backend: "fused" (sgz_fast's compiled kernels; an error where they are not built for
            the input's device), "reference" (plain PyTorch, always available) or "auto"
            (fused where built, else reference). After a forward, ``self.backend`` says which
            ran. The fused backend runs the whole factor network as one op,
            ``ops.factor_net``: on the CPU at every size, for inference and for training
            (its backward recomputes the activations instead of storing them); on CUDA for
            inference of the low-resolution pass (up to CUDA_WHOLE_NETWORK_PIXELS network
            pixels). Elsewhere, and whenever the image itself requires a gradient, it runs
            the seven per-layer ops.
        strength: how much the curve brightens (default 1, the published model exactly):
            x_r is scaled by it and clamped to [-1, 1]; 0 gives the input back, 0.5 is milder,
            1.5 stronger. Also settable later: ``model.strength = 0.7``.

    Any input size works and the output has the input's size. The published code crops the
    image to a multiple of scale_factor and returns the smaller crop; here, for other sizes,
    the network sees the whole image resampled to floor(H/s) x floor(W/s) (bilinear,
    align_corners=False, at least 1 x 1) and x_r is upsampled to exactly H x W.

    Example:
        >>> model = SGZ(scale_factor=12)
        >>> enhanced, x_r = model(torch.rand(1, 3, 50, 70))
        >>> enhanced.shape, x_r.shape
        (torch.Size([1, 3, 50, 70]), torch.Size([1, 3, 50, 70]))
    """

    def __init__(self, scale_factor=1, conv_type="dsc", backend="auto", strength=1.0):
        super().__init__()
        if not isinstance(scale_factor, int) or isinstance(scale_factor, bool) or scale_factor < 1:
            raise ValueError(f"SGZ: scale_factor must be an int >= 1; got {scale_factor!r}")
        if conv_type not in CONV_TYPES:
            raise ValueError(f"SGZ: conv_type must be one of {CONV_TYPES}; got {conv_type!r}")
        if backend not in BACKENDS:
            raise ValueError(f"SGZ: backend must be one of {BACKENDS}; got {backend!r}")
        self.scale_factor = scale_factor
        self.conv_type = conv_type
        self.requested_backend = backend
        self.backend = None
        self.strength = strength
        block = DepthwiseSeparableBlock if conv_type == "dsc" else PlainConvBlock
        self.e_conv1 = block(3, WIDTH)
        self.e_conv2 = block(WIDTH, WIDTH)
        self.e_conv3 = block(WIDTH, WIDTH)
        self.e_conv4 = block(WIDTH, WIDTH)
        self.e_conv5 = block(2 * WIDTH, WIDTH)
        self.e_conv6 = block(2 * WIDTH, WIDTH)
        self.e_conv7 = block(2 * WIDTH, 3)

    @property
    def strength(self):
        """How much the curve brightens: x_r is scaled by it and clamped to [-1, 1] (where the
        curve keeps [0, 1] in [0, 1]). 1 is the published model, bit for bit; 0 the identity;
        below 1 milder, above 1 stronger."""
        return self._strength

    @strength.setter
    def strength(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not 0.0 <= value < float("inf"):
            raise ValueError(f"SGZ: strength must be a finite number >= 0; got {value!r}")
        self._strength = float(value)

    def extra_repr(self):
        return (f"scale_factor={self.scale_factor}, conv_type={self.conv_type!r}, "
                f"backend={self.requested_backend!r}"
                + (f", strength={self.strength}" if self.strength != 1.0 else ""))

    def forward(self, x):
        """(N, 3, H, W) image in [0, 1] -> (enhanced, x_r), both (N, 3, H, W). Not clamped,
        as published: clamp to [0, 1] to display or save."""
        fused = self._prepare(x)
        factors = self._factors(self.downsample(x), fused)
        x_r = factors
        if factors.shape[-2:] != x.shape[-2:]:
            x_r = _bilinear(factors, x.shape[-2:], align_corners=True)
        # The fused curve upsamples the small factors itself; the reference takes x_r, as the
        # published code does.
        return self._curve(x, factors if fused else x_r, fused), x_r

    def enhance(self, x, factor_filter=None):
        """The enhanced image only. The fused backend never makes the full-size x_r: the curve
        kernel upsamples the factors as it reads them. factor_filter(x_down, factors) -> factors,
        if given, sees the network's input and its factors (both (N, 3, h, w)) before the curve
        uses them (sgz_fast.temporal smooths them over the frames of a video)."""
        fused = self._prepare(x)
        x_down = self.downsample(x)
        factors = self._factors(x_down, fused)
        if factor_filter is not None:
            factors = factor_filter(x_down, factors)
        return self._curve(x, factors, fused)

    def enhance_uint8(self, frames, channels="rgb", factor_filter=None):
        """8-bit frames in, 8-bit frames out, as decoders and encoders use them: (N, H, W, 3)
        or (H, W, 3) uint8 with channels "rgb" or "bgr" (OpenCV's order). The same numbers as
        ``enhance`` on frames / 255 saved the way torchvision's save_image rounds, but with no
        float copy of the full frames: the network's input is sampled straight from the bytes
        and the fused curve kernel reads and writes bytes. factor_filter: as for ``enhance``
        (x_down in RGB order whatever `channels` says)."""
        if channels not in ("rgb", "bgr"):
            raise ValueError(f"SGZ.enhance_uint8: channels must be 'rgb' or 'bgr'; got "
                             f"{channels!r}")
        if not isinstance(frames, torch.Tensor) or frames.dtype != torch.uint8 or \
                frames.dim() not in (3, 4) or frames.shape[-1] != 3:
            raise TypeError(f"SGZ.enhance_uint8: frames must be a uint8 tensor (N, H, W, 3) or "
                            f"(H, W, 3); got {_describe(frames)}")
        if frames.device != self._weight().device:
            raise ValueError(f"SGZ.enhance_uint8: the frames are on {frames.device} and the "
                             f"model on {self._weight().device}; move one")
        single = frames.dim() == 3
        frames = frames.unsqueeze(0) if single else frames
        fused = self._use_fused(frames.device, "curve_iter_uint8")
        x_down = self._downsample_uint8(frames)
        if channels == "bgr":
            x_down = x_down.flip(1)
        with torch.no_grad():  # bytes out: no gradient to keep
            factors = self._factors(x_down, fused)
            if factor_filter is not None:
                factors = factor_filter(x_down, factors)
            factors = factors.float()
        if channels == "bgr":
            factors = factors.flip(1)
        curve = ops.curve_iter_uint8 if fused else reference.curve_iter_uint8
        out = curve(frames, factors, ITERATIONS)
        return out[0] if single else out

    def factors(self, x):
        """The enhancement factors x_r at the network's resolution, (N, 3, h, w)."""
        return self._factors(self.downsample(x), self._prepare(x))

    def _factors(self, x_down, fused):
        if fused and self._whole_network_fused(x_down):
            factors = ops.factor_net(x_down, list(self.parameters()))
        else:
            factors = self._layer_by_layer(x_down, fused)
        if self.strength == 1.0:  # the published model: x_r untouched
            return factors
        return (factors * self.strength).clamp(-1.0, 1.0)

    def _layer_by_layer(self, x_down, fused):
        x1 = self.e_conv1([x_down], "relu", fused)
        x2 = self.e_conv2([x1], "relu", fused)
        x3 = self.e_conv3([x2], "relu", fused)
        x4 = self.e_conv4([x3], "relu", fused)
        x5 = self.e_conv5([x3, x4], "relu", fused)
        x6 = self.e_conv6([x2, x5], "relu", fused)
        return self.e_conv7([x1, x6], "tanh", fused)

    def _whole_network_fused(self, x_down):
        """Whether the factors come from the one fused network op instead of the seven
        per-layer ops: where it is built for the device, and on CUDA for inference of inputs
        up to CUDA_WHOLE_NETWORK_PIXELS; when a gradient is recorded, only where its backward
        is built (the CPU) and the image needs no gradient (the op gives the weights theirs)."""
        device = x_down.device.type
        if self.conv_type != "dsc" or not _extension.KERNELS["factor_net"].get(device):
            return False
        n, _, h, w = x_down.shape
        if device == "cuda" and n * h * w > CUDA_WHOLE_NETWORK_PIXELS:
            return False
        if not torch.is_grad_enabled() or not (
                x_down.requires_grad or any(p.requires_grad for p in self.parameters())):
            return True
        return (_extension.KERNELS["factor_net_backward"].get(device, False)
                and not x_down.requires_grad)

    def downsample(self, x):
        """The network's input: x itself at scale 1; else floor(H/s) x floor(W/s)."""
        s = self.scale_factor
        if s == 1:
            return x
        # For multiples of s this is the published F.interpolate(x, scale_factor=1 / s): both
        # sample with the scale s (H / h, or 1 / (1 / s) rounded to float32), bit for bit as
        # PyTorch's per-channel kernel adds the taps (_bilinear); one call for all sizes also
        # keeps exported graphs right for every size.
        return _bilinear(x, self._network_size(*x.shape[-2:]), align_corners=False)

    def _network_size(self, height, width):
        s = self.scale_factor
        return max(height // s, 1), max(width // s, 1)

    def _downsample_uint8(self, frames):
        """downsample() of frames / 255, reading only the bytes the bilinear taps touch."""
        dtype = self._weight().dtype
        height, width = frames.shape[1:3]
        if self.scale_factor == 1:
            return frames.permute(0, 3, 1, 2).to(dtype).div_(255.0)
        h, w = self._network_size(height, width)
        rows = _bilinear_taps(height, h, frames.device)
        cols = _bilinear_taps(width, w, frames.device)
        taps = frames.index_select(1, rows.index).index_select(2, cols.index)  # (N, 2h, 2w, 3)
        x = taps.permute(0, 3, 1, 2).float().div_(255.0).unflatten(3, (w, 2))
        x = x[..., 0] * cols.w0 + x[..., 1] * cols.w1  # within rows, then between: PyTorch's order
        x = x.unflatten(2, (h, 2))
        x = x[:, :, :, 0] * rows.w0[:, None] + x[:, :, :, 1] * rows.w1[:, None]
        return x.to(dtype)

    @staticmethod
    def _curve(x, factors, fused):
        return (ops.curve_iter if fused else reference.curve_iter)(x, factors, ITERATIONS)

    def _prepare(self, x):
        """Checks the input; returns whether the fused kernels run."""
        self._check_input(x)
        return self._use_fused(x.device, "curve_iter")

    def _use_fused(self, device, curve_op):
        """Whether the fused kernels run on `device` for the model's dtype (and records it in
        self.backend)."""
        needed = (curve_op, "dsconv") if self.conv_type == "dsc" else (curve_op,)
        missing = [m for m in (_extension.missing_kernels_message(op, device) for op in needed)
                   if m is not None]
        dtype = self._weight().dtype
        if device.type == "cpu" and dtype not in (torch.float32, torch.float64):
            missing.append(f"the fused CPU kernels run float32 and float64, not {dtype}.")
        if self.requested_backend == "fused" and missing and device.type != "meta":
            raise RuntimeError(f"SGZ(backend='fused'): {missing[0]} Or use backend='auto' or "
                               f"'reference'.")
        fused = self.requested_backend != "reference" and not missing
        self.backend = "fused" if fused else "reference"
        return fused

    def _weight(self):
        return self.e_conv1.point_conv.weight if self.conv_type == "dsc" else self.e_conv1.conv.weight

    def _check_input(self, x):
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"SGZ: the input must be a batch of RGB images, a tensor "
                             f"(N, 3, H, W); got {_describe(x)}")
        weight = self._weight()
        if x.dtype != weight.dtype:
            raise TypeError(f"SGZ: the input's dtype ({x.dtype}) must be the model's "
                            f"({weight.dtype}); convert one (e.g. x.float() or model.half())")
        if x.device != weight.device:
            raise ValueError(f"SGZ: the input is on {x.device} and the model on "
                             f"{weight.device}; move one (e.g. model.to(x.device))")


class _Taps(NamedTuple):
    index: torch.Tensor  # (2 * out,): i0 and i1 of each output, interleaved
    w0: torch.Tensor
    w1: torch.Tensor


def _bilinear(x, size, align_corners):
    """F.interpolate(x, size, mode="bilinear"), one channel at a time where x is contiguous.
    For 3 channels PyTorch's CPU kernel copies the whole image to channels last first when it
    runs on one thread or its output is small (h + w <= 128), and adds a pixel's taps in
    another order (PyTorch 2.14.1, one thread: 1080p downsampled by 12 in 4.4 ms, 27 for a
    batch of two, where one channel at a time takes 0.08). One channel at a time gives the same
    result on any number of threads."""
    if not x.is_contiguous():
        return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)
    n, c, height, width = x.shape
    planes = F.interpolate(x.view(n * c, 1, height, width), size=size, mode="bilinear",
                           align_corners=align_corners)
    return planes.view(n, c, *planes.shape[-2:])


def _bilinear_taps(in_size, out_size, device):
    """Source indices and weights of bilinear resampling with align_corners=False, computed
    in float32 as PyTorch's CPU kernel computes them."""
    scale = torch.tensor(in_size, dtype=torch.float32) / out_size
    src = (torch.arange(out_size, dtype=torch.float32) + 0.5) * scale - 0.5
    src = src.clamp_(min=0)
    i0 = src.long()
    i1 = i0 + (i0 < in_size - 1).long()
    w1 = (src - i0).clamp_(0, 1)
    index = torch.stack([i0, i1], dim=1).flatten()
    return _Taps(index.to(device), (1 - w1).to(device), w1.to(device))


def _describe(value):
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} tensor of shape {list(value.shape)}"
    return type(value).__name__


def weights_path(spec=None):
    """The file of `spec`: a path, or the name of bundled weights ("default", "default-v1");
    None means the default ones. A file of that name in the working folder wins over a name."""
    if spec is None or (str(spec) == "default" and not Path(spec).is_file()):
        return DEFAULT_WEIGHTS
    if not Path(spec).is_file() and str(spec) in BUNDLED_WEIGHTS:
        return DEFAULT_WEIGHTS.parent / BUNDLED_WEIGHTS[str(spec)]
    return Path(spec)


def load_weights(model, path=None):
    """Loads a state_dict saved by the published code or by sgz_fast (plain, or inside a
    training checkpoint's "model" entry) into `model`, strictly, with errors that name the
    file and what was expected. `path`: a file, the name of bundled weights (see
    weights_path), or None for the bundled default weights."""
    path = weights_path(path)
    if not path.is_file():
        hint = (" (the bundled default weights are missing: reinstall sgz_fast)"
                if path == DEFAULT_WEIGHTS else "")
        raise FileNotFoundError(f"SGZ weights: no file {path}{hint}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for a corrupt or foreign file
        raise ValueError(f"SGZ weights: cannot read {path} as a PyTorch state_dict "
                         f"({type(error).__name__}: {error})") from error
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"SGZ weights: {path} holds a {type(state).__name__}, not a state_dict "
                         f"of tensors (parameter name -> tensor)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} {list(state[k].shape)} (expected {list(v.shape)})"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        details = "; ".join(part for part in (
            f"missing {missing[:4]}{'...' if len(missing) > 4 else ''}" if missing else "",
            f"unexpected {unexpected[:4]}{'...' if len(unexpected) > 4 else ''}" if unexpected else "",
            f"wrong shapes: {', '.join(wrong[:4])}" if wrong else "") if part)
        raise ValueError(f"SGZ weights: {path} does not fit SGZ(conv_type="
                         f"{model.conv_type!r}) ({len(expected)} tensors named e_conv1..7): "
                         f"{details}")
    model.load_state_dict(state, strict=True)
    return model


def load_sgz(weights=None, scale_factor=12, conv_type="dsc", backend="auto", device="cpu",
             dtype=torch.float32, strength=1.0):
    """An SGZ model with weights loaded (default: the bundled ones), in eval mode."""
    model = load_weights(SGZ(scale_factor, conv_type, backend, strength), weights)
    return model.to(device=device, dtype=dtype).eval()

