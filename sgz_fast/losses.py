"""SGZ's training losses: no paired images, no labels.

The four zero-reference losses are from Zero-DCE (Guo et al., "Zero-Reference Deep Curve
Estimation for Low-Light Image Enhancement", CVPR 2020); SGZ (Zheng & Gupta, "Semantic-Guided
Zero-Shot Learning for Low-Light Image/Video Enhancement", WACV 2022, arXiv 2110.00970) extends
spatial consistency to 8 directions and adds a semantic term, a focal loss (Lin et al., "Focal
Loss for Dense Object Detection", ICCV 2017) against a frozen segmentation network's own argmax.

Every function takes NCHW tensors and returns a 0-d tensor; all are plain tensor code (no
Python branching on values), so they trace under torch.compile(fullgraph=True).
"""
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import ops, reference

# The cells of exposure control, 16 x 16 as published.
EXPOSURE_PATCH_SIZE = 16

# The published weights of the total loss: 1600*tv + spa + 5*col + 10*exp + 0.1*sem.
WEIGHTS = {"tv": 1600.0, "spa": 1.0, "col": 5.0, "exp": 10.0, "sem": 0.1}


def color_constancy(y):
    """Colour constancy (Zero-DCE): with channel means mr, mg, mb per image and
    Drg = (mr-mg)^2, Drb = (mr-mb)^2, Dgb = (mb-mg)^2, the mean over the batch of
    sqrt(Drg^2 + Drb^2 + Dgb^2).

    Args:
        y: (N, 3, H, W) enhanced image.
    """
    return _color_constancy_of(y.mean(dim=(2, 3)))


def _color_constancy_of(means):
    mr, mg, mb = means.unbind(1)
    s = ((mr - mg) ** 2) ** 2 + ((mr - mb) ** 2) ** 2 + ((mb - mg) ** 2) ** 2
    # sqrt has an infinite slope at 0, which a grey image (equal means) reaches exactly: there
    # the value is 0 as published and the gradient 0 instead of NaN.
    positive = s > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, s, 1.0)), 0.0).mean()


# A cell's 8 neighbours, as (row, column) offsets into the map padded by one cell: the 4 axial
# ones (left, right, up, down) first, then the 4 diagonals.
_NEIGHBOURS = [(1, 0), (1, 2), (0, 1), (2, 1), (0, 0), (0, 2), (2, 0), (2, 2)]
_DIRECTION_WEIGHTS = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5])


def spatial_consistency(y, x, patch_size=4):
    """8-direction spatial consistency (Zero-DCE's 4 directions, extended to 8 by SGZ).

    The channel means of the enhanced image y and the input x are average-pooled over
    patch_size x patch_size cells; for each cell and each of its 8 neighbours (zero padding, so
    a border cell compares against 0) D = centre - neighbour, for y and for x.
    E = sum over the 4 axial neighbours of (D_y - D_x)^2 + 0.5 * the same over the 4 diagonal
    ones; the loss is the mean of E.

    Pooling, channel mean and the differences are all linear, so D_y - D_x is computed once,
    on the pooled difference y - x, against its 8 shifted copies (zero-padded).

    Args:
        y, x: (N, C, H, W), H and W >= patch_size (a partial last cell is dropped).
        patch_size: cell size (published: 4; 3 and 5 are also used).
    """
    return _spatial_consistency_of(F.avg_pool2d((y - x).mean(dim=1, keepdim=True), patch_size))


def _spatial_consistency_of(d):
    h, w = d.shape[-2:]
    padded = F.pad(d, (1, 1, 1, 1))
    neighbours = torch.cat([padded[:, :, i:i + h, j:j + w] for i, j in _NEIGHBOURS], dim=1)
    weights = _DIRECTION_WEIGHTS.to(d).view(1, 8, 1, 1)
    return ((d - neighbours).square() * weights).sum(dim=1).mean()


def exposure_control(y, level=0.6, patch_size=EXPOSURE_PATCH_SIZE):
    """Exposure control (Zero-DCE): the mean over 16x16 cells of the channel-mean brightness's
    squared distance to the well-exposedness level E.

    Args:
        y: (N, C, H, W), H and W >= patch_size. level: E (published: 0.6).
    """
    return _exposure_control_of(F.avg_pool2d(y.mean(dim=1, keepdim=True), patch_size), level)


def _exposure_control_of(pooled, level):
    return (pooled - level).square().mean()


def illumination_smoothness(r):
    """Illumination smoothness (Zero-DCE): total variation of the enhancement-factor map,
    normalised as published: h = sum of squared vertical differences / ((H-1)*W),
    w = the horizontal ones / (H*(W-1)), loss = 2 * (h + w) / N (summed over channels, not
    averaged).

    Args:
        r: (N, C, H, W) enhancement factors, H and W >= 2.
    """
    return _illumination_smoothness_of(reference.total_variation(r), r.shape)


def _illumination_smoothness_of(sums, shape):
    n, _, h, w = shape
    return 2.0 * (sums[0] / ((h - 1) * w) + sums[1] / (h * (w - 1))) / n


def focal_semantic(logits, gamma=2.0, eps=1e-7):
    """SGZ's semantic loss: a focal loss (Lin et al. 2017) of a frozen segmentation network's
    logits against their own argmax (no labels). p_t, the softmax probability of the argmax
    class, is clamped to [eps, 1 - eps]; the loss is mean(-(1 - p_t)^gamma * log p_t) over all
    pixels. The target carries no gradient; p_t does.

    Args:
        logits: (N, K, h, w) segmentation logits of the enhanced image.
    """
    target = logits.detach().argmax(dim=1, keepdim=True)
    p_t = torch.softmax(logits, dim=1).gather(1, target).clamp(eps, 1.0 - eps)
    return (-(1.0 - p_t) ** gamma * torch.log(p_t)).mean()


class LossTerms(NamedTuple):
    """The total loss and its unweighted terms (sem is 0 without a semantic network)."""
    total: torch.Tensor
    tv: torch.Tensor
    spa: torch.Tensor
    col: torch.Tensor
    exp: torch.Tensor
    sem: torch.Tensor


def sgz_loss(enhanced, image, r, seg_logits=None, patch_size=4, exp_level=0.6, weights=None,
             fused=False):
    """SGZ's total loss, 1600*L_tv(r) + L_spa + 5*L_col + 10*L_exp + 0.1*L_sem (weights
    overridable by name), with the unweighted terms.

    Args:
        enhanced: (N, 3, H, W) network output Y. image: (N, 3, H, W) input I.
        r: the enhancement-factor map x_r. seg_logits: the frozen segmentation network's logits
            of `enhanced`, or None to leave the semantic term out.
        fused: take the reductions over every pixel from the fused ops (``ops.loss_pools``,
            ``ops.total_variation``: one pass each way, no full-size intermediate) instead of
            eager PyTorch; the terms are the same to rounding. An error where they are not built.
    Returns:
        LossTerms(total, tv, spa, col, exp, sem).
    """
    w = WEIGHTS if weights is None else {**WEIGHTS, **weights}
    kernels = ops if fused else reference
    spatial, exposure, means = kernels.loss_pools(enhanced, image, patch_size,
                                                  EXPOSURE_PATCH_SIZE)
    tv = _illumination_smoothness_of(kernels.total_variation(r), r.shape)
    spa = _spatial_consistency_of(spatial)
    col = _color_constancy_of(means)
    exp = _exposure_control_of(exposure, exp_level)
    total = w["tv"] * tv + w["spa"] * spa + w["col"] * col + w["exp"] * exp
    if seg_logits is None:
        sem = torch.zeros((), dtype=total.dtype, device=total.device)
    else:
        sem = focal_semantic(seg_logits)
        total = total + w["sem"] * sem
    return LossTerms(total, tv, spa, col, exp, sem)
