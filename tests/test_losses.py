"""Each loss against an independent computation: explicit numpy loops over cells and
neighbours, written from the formulas (SGZ_SPEC), not from sgz_fast.losses' code path."""
import math

import numpy as np
import pytest
import torch

from sgz_fast import losses

DOUBLE = torch.float64


def rand(*shape):
    return torch.rand(*shape, dtype=DOUBLE)


def test_color_constancy_by_hand():
    y = torch.zeros(1, 3, 2, 2, dtype=DOUBLE)
    y[0, 0] = 0.5  # means r=0.5, g=0.25, b=0
    y[0, 1, 0, :] = 0.5
    drg, drb, dgb = 0.25**2, 0.5**2, 0.25**2
    expected = math.sqrt(drg**2 + drb**2 + dgb**2)
    assert losses.color_constancy(y).item() == pytest.approx(expected, rel=1e-12)


def test_color_constancy_batch_mean():
    y = rand(3, 3, 5, 4)
    k = []
    for img in y.numpy():
        mr, mg, mb = (img[c].mean() for c in range(3))
        k.append(np.sqrt((mr - mg) ** 4 + (mr - mb) ** 4 + (mb - mg) ** 4))
    assert losses.color_constancy(y).item() == pytest.approx(np.mean(k), rel=1e-12)


def test_color_constancy_grey_image_has_finite_gradient():
    y = torch.full((2, 3, 4, 4), 0.3, dtype=DOUBLE, requires_grad=True)
    loss = losses.color_constancy(y)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(y.grad).all()


def spa_by_loops(y, x, p):
    """L_spa from the definition: pooled channel means, 8 neighbours with zero padding."""
    def pooled(img):
        m = img.mean(axis=1)  # N, H, W
        n, h, w = m.shape[0], m.shape[1] // p, m.shape[2] // p
        out = np.zeros((n, h, w))
        for b in range(n):
            for i in range(h):
                for j in range(w):
                    out[b, i, j] = m[b, i * p:(i + 1) * p, j * p:(j + 1) * p].mean()
        return out

    def at(a, b, i, j):
        return a[b, i, j] if 0 <= i < a.shape[1] and 0 <= j < a.shape[2] else 0.0

    py, px = pooled(y), pooled(x)
    axial = [(0, -1), (0, 1), (-1, 0), (1, 0)]
    diagonal = [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    energies = []
    for b in range(py.shape[0]):
        for i in range(py.shape[1]):
            for j in range(py.shape[2]):
                e = 0.0
                for weight, offsets in ((1.0, axial), (0.5, diagonal)):
                    for di, dj in offsets:
                        dy = py[b, i, j] - at(py, b, i + di, j + dj)
                        dx = px[b, i, j] - at(px, b, i + di, j + dj)
                        e += weight * (dy - dx) ** 2
                energies.append(e)
    return np.mean(energies)


@pytest.mark.parametrize("patch_size,size", [(4, (8, 12)), (3, (7, 10)), (5, (10, 16))])
def test_spatial_consistency_vs_loops(patch_size, size):
    y, x = rand(2, 3, *size), rand(2, 3, *size)
    expected = spa_by_loops(y.numpy(), x.numpy(), patch_size)
    got = losses.spatial_consistency(y, x, patch_size).item()
    assert got == pytest.approx(expected, rel=1e-10)


def test_spatial_consistency_single_cell_by_hand():
    # One 4x4 cell: every neighbour is padding, so E = (4 + 4*0.5) * (mean(y) - mean(x))^2.
    y = torch.full((1, 3, 4, 4), 0.7, dtype=DOUBLE)
    x = torch.full((1, 3, 4, 4), 0.2, dtype=DOUBLE)
    assert losses.spatial_consistency(y, x, 4).item() == pytest.approx(6 * 0.25, rel=1e-12)


def test_spatial_consistency_is_zero_for_identity():
    x = rand(1, 3, 16, 16)
    assert losses.spatial_consistency(x, x.clone()).item() == 0.0


def test_exposure_control_vs_loops():
    y = rand(2, 3, 32, 48)
    m = y.numpy().mean(axis=1)
    cells = [m[b, i:i + 16, j:j + 16].mean() for b in range(2)
             for i in range(0, 32, 16) for j in range(0, 48, 16)]
    expected = np.mean([(c - 0.6) ** 2 for c in cells])
    assert losses.exposure_control(y, 0.6).item() == pytest.approx(expected, rel=1e-12)
    assert losses.exposure_control(torch.full((1, 3, 16, 16), 0.5), 0.6).item() == (
        pytest.approx(0.01, rel=1e-6))


def test_illumination_smoothness_vs_loops():
    r = rand(2, 3, 5, 7)
    a = r.numpy()
    n, c, h, w = a.shape
    sh = sum((a[b, k, i + 1, j] - a[b, k, i, j]) ** 2
             for b in range(n) for k in range(c) for i in range(h - 1) for j in range(w))
    sw = sum((a[b, k, i, j + 1] - a[b, k, i, j]) ** 2
             for b in range(n) for k in range(c) for i in range(h) for j in range(w - 1))
    expected = 2 * (sh / ((h - 1) * w) + sw / (h * (w - 1))) / n
    assert losses.illumination_smoothness(r).item() == pytest.approx(expected, rel=1e-12)


def test_focal_semantic_by_hand():
    # Two pixels, two classes: logits (0, ln 3) give p_t = 3/4; (0, 0) gives p_t = 1/2.
    logits = torch.tensor([[[[0.0, 0.0]], [[math.log(3), 0.0]]]], dtype=DOUBLE)
    terms = [(1 - 0.75) ** 2 * -math.log(0.75), (1 - 0.5) ** 2 * -math.log(0.5)]
    assert losses.focal_semantic(logits).item() == pytest.approx(np.mean(terms), rel=1e-12)


def test_focal_semantic_vs_loops_and_clamp():
    logits = torch.randn(2, 5, 3, 4, dtype=DOUBLE) * 3
    logits[0, 2, 0, 0] = 100.0  # p_t rounds to 1: clamped to 1 - 1e-7
    a = logits.numpy()
    values = []
    for b in range(2):
        for i in range(3):
            for j in range(4):
                z = a[b, :, i, j]
                p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
                pt = min(max(p.max(), 1e-7), 1 - 1e-7)
                values.append(-(1 - pt) ** 2 * np.log(pt))
    assert losses.focal_semantic(logits).item() == pytest.approx(np.mean(values), rel=1e-10)


def test_focal_semantic_gradient_flows_through_p_t_only():
    logits = torch.randn(1, 4, 2, 2, dtype=DOUBLE, requires_grad=True)
    torch.autograd.gradcheck(losses.focal_semantic, (logits,))


def test_total_loss_weights_and_terms():
    x = rand(2, 3, 16, 16)
    y, r = rand(2, 3, 16, 16), rand(2, 3, 16, 16) * 2 - 1
    seg = torch.randn(2, 21, 4, 4, dtype=DOUBLE)
    t = losses.sgz_loss(y, x, r, seg, patch_size=4, exp_level=0.6)
    expected = (1600 * losses.illumination_smoothness(r) + losses.spatial_consistency(y, x, 4)
                + 5 * losses.color_constancy(y) + 10 * losses.exposure_control(y, 0.6)
                + 0.1 * losses.focal_semantic(seg))
    assert t.total.item() == pytest.approx(expected.item(), rel=1e-12)
    no_sem = losses.sgz_loss(y, x, r)
    assert no_sem.sem.item() == 0.0
    assert no_sem.total.item() == pytest.approx(t.total.item() - 0.1 * t.sem.item(), rel=1e-12)


def test_total_loss_compiles_fullgraph():
    x, y, r = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    seg = torch.randn(1, 5, 8, 8)
    compiled = torch.compile(losses.sgz_loss, fullgraph=True, backend="eager")
    got, want = compiled(y, x, r, seg), losses.sgz_loss(y, x, r, seg)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
