"""Steady brightness for video: SGZ's factors smoothed over time.

SGZ enhances each frame on its own, so on real footage (sensor noise, moving objects,
auto-exposure) its factor map x_r jumps from frame to frame and the output flickers. Here, at
the network's low resolution only (nothing is added at full resolution):

- x_r is averaged over the frames (an exponential moving average), which removes the jitter
  that noise puts into it;
- the frame's brightness after the curve (the mean of the low-resolution enhanced frame, per
  channel) is held to its own moving average by a uniform shift of that x_r, so the global
  brightness no longer follows every wobble of the input (flicker) but still follows lasting
  changes within a few frames;
- both restart at a scene cut, detected from the low-resolution frames the network already
  sees, so no brightness is carried across a cut.

    >>> from sgz_fast.model import load_sgz
    >>> from sgz_fast.temporal import FrameStream
    >>> stream = FrameStream(load_sgz(), smoothing=0.8)
    >>> for frame in frames:                 # (H, W, 3) uint8 RGB, in playing order
    ...     enhanced = stream(frame)         # (H, W, 3) uint8
"""
import torch
import torch.nn.functional as F

from .model import ITERATIONS

DEFAULT_SMOOTHING = 0.8  # sgz-enhance's for video: about 5 frames of memory
CUT_BLOCKS = (9, 16)     # the frame as 9 x 16 block means, for cut detection
# A cut: the blocks' brightness changes by 12% on average. Noise and a 4% exposure wobble
# change it by at most 7% (measured on the flicker benchmark's clip), two different scenes by
# about 20% or more; a fast pan may pass it, which only restarts the averages early.
CUT_THRESHOLD = 0.12
NEWTON_STEPS = 4


def curve_and_slope(x, r):
    """The curve's output and its derivative in r, ITERATIONS steps (forward-mode)."""
    slope = torch.zeros_like(x)
    for _ in range(ITERATIONS):
        slope = slope * (1 + r * (2 * x - 1)) + (x * x - x)
        x = x + r * (x * x - x)
    return x, slope


class TemporalSmoothing:
    """factor_filter for SGZ.enhance / SGZ.enhance_uint8 over consecutive frames (a batch is
    taken as consecutive frames, in order). With s the smoothing and, per frame t, x_r(t) the
    network's factors and L(t) the mean of its low-resolution output per channel:
    f(t) = s f(t-1) + (1 - s) x_r(t) and T(t) = s T(t-1) + (1 - s) L(t); the curve gets
    f(t) + d, d per channel such that the low-resolution output's mean is T(t) (Newton steps,
    the factors kept in [-1, 1]). Both restart at a scene cut or a change of frame size, where
    the frame gets exactly the published output.

    Args:
        smoothing: s in [0, 1); 0 passes the factors through.
        cut_threshold: the mean relative change of the frame's 9 x 16 block brightness above
            which a frame starts a new scene.
    """

    def __init__(self, smoothing=DEFAULT_SMOOTHING, cut_threshold=CUT_THRESHOLD):
        if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or \
                not 0.0 <= smoothing < 1.0:
            raise ValueError(f"temporal smoothing must be a number in [0, 1); got {smoothing!r}")
        self.smoothing, self.cut_threshold = float(smoothing), cut_threshold
        self.cuts = 0  # scene cuts seen (restarts after the first frame)
        self.reset()

    def reset(self):
        """Forgets the past: the next frame starts a new average."""
        self.factors, self.level, self.blocks = None, None, None

    def is_cut(self, blocks):
        if self.blocks is None or self.blocks.shape != blocks.shape:
            return True
        change = (blocks - self.blocks).abs() / torch.maximum(
            torch.maximum(blocks, self.blocks), torch.full_like(blocks, 1 / 255))
        return change.mean().item() > self.cut_threshold

    @torch.no_grad()
    def __call__(self, x_down, factors):
        if self.smoothing == 0.0:
            return factors
        x_down = x_down.float()
        blocks = F.adaptive_avg_pool2d(x_down.mean(1, keepdim=True), CUT_BLOCKS)
        out = []
        for t in range(factors.shape[0]):
            x, raw = x_down[t], factors[t].float()
            level = curve_and_slope(x, raw)[0].mean((1, 2))
            if self.is_cut(blocks[t]):
                self.cuts += self.blocks is not None
                self.factors, self.level = raw, level
                out.append(factors[t])
            else:
                self.factors = torch.lerp(raw, self.factors, self.smoothing)
                self.level = torch.lerp(level, self.level, self.smoothing)
                out.append(self._shifted_to_level(x).to(factors.dtype))
            self.blocks = blocks[t]
        return torch.stack(out)

    def _shifted_to_level(self, x):
        """self.factors + d (per channel, within [-1, 1]) whose output's mean is self.level."""
        shift = torch.zeros_like(self.level)[:, None, None]
        for _ in range(NEWTON_STEPS):
            r = (self.factors + shift).clamp(-1.0, 1.0)
            y, slope = curve_and_slope(x, r)
            free = (r.abs() < 1.0).float()  # a clamped factor does not move with the shift
            error = y.mean((1, 2)) - self.level
            gradient = (slope * free).mean((1, 2))
            step = torch.where(gradient.abs() > 1e-6, error / gradient, torch.zeros_like(error))
            shift = (shift - step[:, None, None]).clamp(-2.0, 2.0)
        return (self.factors + shift).clamp(-1.0, 1.0)


class FrameStream:
    """SGZ on a stream of frames (webcam, decoder) with steady brightness: call it with each
    frame in playing order.

    Args:
        model: an SGZ model (sgz_fast.model.load_sgz()).
        smoothing: TemporalSmoothing's s; 0 is the model frame by frame, as published.
    """

    def __init__(self, model, smoothing=DEFAULT_SMOOTHING):
        self.model = model
        self.smoothing = TemporalSmoothing(smoothing)

    def __call__(self, frame, channels="rgb"):
        """(H, W, 3) or (N, H, W, 3) uint8 numpy array or tensor -> the same, enhanced."""
        as_numpy = not isinstance(frame, torch.Tensor)
        tensor = torch.from_numpy(frame) if as_numpy else frame
        device = next(self.model.parameters()).device
        out = self.model.enhance_uint8(tensor.to(device), channels, self.smoothing)
        return out.cpu().numpy() if as_numpy else out

    def reset(self):
        self.smoothing.reset()
