"""Classical (non-learned) low-light enhancement methods, the baselines SGZ is compared with.

Each method takes an (H, W, 3) RGB numpy image, uint8 or float in [0, 1], and returns the same
shape and dtype; greyscale, RGBA, 16-bit and empty arrays are refused with an error that says
how to convert them (the CLI converts such files itself). ``METHODS`` maps the names used by
the CLI and the comparison to the functions. The modules are named after the technique, not
the method, so no function shadows its module: histogram (he, clahe), gamma_correction
(gamma, agcwd), retinex (ssr, msr), illumination (lime), exposure_fusion (exposure).
"""
from .exposure_fusion import exposure
from .gamma_correction import agcwd, gamma
from .histogram import clahe, he
from .illumination import lime
from .retinex import msr, ssr

METHODS = {
    "he": he,
    "clahe": clahe,
    "gamma": gamma,
    "ssr": ssr,
    "msr": msr,
    "lime": lime,
    "exposure": exposure,
    "agcwd": agcwd,
}

__all__ = ["METHODS", *METHODS]
