"""LIME: low-light enhancement via illumination map estimation (Guo, Li & Ling, IEEE TIP
26(2), 2017), with the paper's exact solver (ADMM with FFT-diagonalized T sub-problems)."""
import cv2
import numpy as np
import scipy.fft

from ._image import check_param, from_float, to_float


def gradients(t):
    """Forward differences with periodic wrap (the FFT diagonalizes exactly these)."""
    return np.roll(t, -1, axis=1) - t, np.roll(t, -1, axis=0) - t


def divergence_adjoint(gh, gv):
    """D^T applied to (gh, gv): the adjoint of `gradients`."""
    return (np.roll(gh, 1, axis=1) - gh) + (np.roll(gv, 1, axis=0) - gv)


def structure_weights(t0, sigma, eps):
    """The paper's strategy III: W_d(x) = 1 / (|sum_y G_sigma(x, y) grad_d T0(y)| + eps), small
    across consistent edges (kept sharp), large in textured or flat areas (smoothed). The
    wrapped-around border differences get weight 0, so the border is not an edge."""
    weights = []
    for axis, d in zip((1, 0), gradients(t0)):
        w = 1 / (np.abs(cv2.GaussianBlur(d, (0, 0), sigma)) + np.float32(eps))
        (w[:, -1] if axis == 1 else w[-1, :])[...] = 0
        weights.append(w.astype(np.float32))
    return weights


def refine_illumination(t0, alpha=0.15, sigma=2.0, eps=1e-3, mu=1.0, rho=1.5,
                        iterations=60, tol=1e-3):
    """Solves the paper's problem (its eq. 4 with strategy III weights W)

        min_T ||T0 - T||^2 + alpha ||W o grad T||_1

    by its Algorithm 1 (ADMM): T = F^-1[F(2 T0 + mu D^T(G - Z/mu)) / (2 + mu sum_d |F(D_d)|^2)],
    G = shrink(grad T + Z/mu, alpha W / mu), Z += mu (grad T - G), mu *= rho; stopping when T
    changes by less than `tol` (max abs) or after `iterations`. t0: float32 (H, W).

    Bounds: clipping any T to [min T0, max T0] lowers both terms (each |T - T0| shrinks and
    clipping is 1-Lipschitz, so no |grad T| grows), hence the minimizer lies in that interval;
    the iterate returned stays there up to the solver's tolerance (tested).
    """
    h, w = t0.shape
    wh, wv = (alpha * w for w in structure_weights(t0, sigma, eps))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    dtd = (4 * np.sin(np.pi * fy) ** 2 + 4 * np.sin(np.pi * fx) ** 2).astype(np.float32)
    rhs0 = 2 * scipy.fft.rfft2(t0, workers=-1)
    t = t0.copy()
    gh, gv, zh, zv = (np.zeros_like(t0) for _ in range(4))
    for _ in range(iterations):
        rhs = rhs0 + mu * scipy.fft.rfft2(divergence_adjoint(gh - zh / mu, gv - zv / mu), workers=-1)
        t_new = scipy.fft.irfft2(rhs / (2 + mu * dtd), s=(h, w), workers=-1).astype(np.float32)
        change = np.abs(t_new - t).max()
        t = t_new
        th, tv = gradients(t)
        gh, gv = (np.sign(a) * np.maximum(np.abs(a) - wd / mu, 0)
                  for a, wd in ((th + zh / mu, wh), (tv + zv / mu, wv)))
        zh += mu * (th - gh)
        zv += mu * (tv - gv)
        mu *= rho
        if change < tol:
            break
    return t


def illumination(rgb, scale=0.5, **solver):
    """LIME's refined illumination map, float32 (H, W): max(R, G, B) refined by
    `refine_illumination` at `scale` x the resolution (area-averaged down, bilinear up; both
    are convex combinations, so the bounds above still hold), to meet the time budget."""
    t0 = rgb.max(axis=2)
    if scale == 1:
        return refine_illumination(t0, **solver)
    h, w = t0.shape
    small = cv2.resize(t0, (max(2, round(w * scale)), max(2, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(refine_illumination(small, **solver), (w, h), interpolation=cv2.INTER_LINEAR)


def lime(image, gamma=0.8, alpha=0.15, sigma=2.0, scale=0.5, floor=1e-3):
    """LIME (Guo, Li & Ling, "LIME: Low-Light Image Enhancement via Illumination Map
    Estimation", IEEE TIP 26(2), 2017): initial illumination T0 = max(R, G, B), refined by the
    structure-aware objective (alpha 0.15, strategy III weights with Gaussian sigma 2, as in
    the paper's experiments), gamma-corrected T ** gamma (gamma 0.8, the paper's value), and
    R = I / max(T ** gamma, floor) per channel. The paper's optional BM3D denoising step is
    not applied. The map is solved at `scale` (0.5) of the resolution: see `illumination`.
    image: (H, W, 3) uint8 or float in [0, 1]; returns the same shape and dtype.
    """
    for name, value in (("gamma", gamma), ("alpha", alpha), ("sigma", sigma), ("floor", floor)):
        check_param("lime", name, value)
    check_param("lime", "scale", scale, high=1.0, high_open=False)
    rgb = to_float(image)
    t = illumination(rgb, scale, alpha=alpha, sigma=sigma)
    t = np.maximum(t, np.float32(0)) ** np.float32(gamma)
    return from_float(rgb / np.maximum(t, np.float32(floor))[..., None], image.dtype)
