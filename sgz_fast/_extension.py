"""Loads the compiled kernels (sgz_fast._C) and says, per device, whether they are there."""
import torch

try:
    from . import _C  # noqa: F401  (importing registers the sgz_fast ops)
    LOAD_ERROR = None
except ImportError as error:
    LOAD_ERROR = error

try:
    from . import _build_config as BUILD_CONFIG
except ImportError:
    BUILD_CONFIG = None

LOADED = LOAD_ERROR is None


def _kernels_for(dispatch_key):
    if not LOADED:
        return False
    return torch._C._dispatch_has_kernel_for_dispatch_key("sgz_fast::curve_iter", dispatch_key)


# Read once at import: looking them up inside a compiled function would break the graph.
KERNELS = {"cpu": _kernels_for("CPU"), "cuda": _kernels_for("CUDA")}


def missing_kernels_message(op, device):
    """Why the fused `op` cannot run on `device`, or None when it can."""
    if not LOADED:
        return (f"sgz_fast.ops.{op}: the compiled extension sgz_fast._C is not available "
                f"({LOAD_ERROR}). Build it with `pip install --no-build-isolation -e .`, or use "
                f"sgz_fast.reference.{op}, which needs no build.")
    if KERNELS.get(device.type, False):
        return None
    if device.type == "cuda":
        why = f" ({BUILD_CONFIG.cuda_reason})" if BUILD_CONFIG else ""
        return (f"sgz_fast.ops.{op}: sgz_fast was built without CUDA kernels{why}. Rebuild "
                f"where the CUDA toolkit is installed (README, Building), or use "
                f"sgz_fast.reference.{op}.")
    return (f"sgz_fast.ops.{op}: sgz_fast was built without {device.type.upper()} kernels; "
            f"its kernels run on {' and '.join(k.upper() for k, v in KERNELS.items() if v)}. "
            f"sgz_fast.reference.{op} runs anywhere PyTorch does.")
