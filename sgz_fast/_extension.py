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


OPS = ("curve_iter", "curve_iter_uint8", "dsconv")


def _devices_with_kernels(op):
    if not LOADED or not torch._C._dispatch_has_kernel(f"sgz_fast::{op}"):
        return {}  # not built, or built from sources older than this op
    return {device: torch._C._dispatch_has_kernel_for_dispatch_key(f"sgz_fast::{op}", key)
            for device, key in (("cpu", "CPU"), ("cuda", "CUDA"))}


# Read once at import: looking them up inside a compiled function would break the graph.
KERNELS = {op: _devices_with_kernels(op) for op in OPS}


def missing_kernels_message(op, device):
    """Why the fused `op` cannot run on `device`, or None when it can."""
    if not LOADED:
        return (f"sgz_fast.ops.{op}: the compiled extension sgz_fast._C is not available "
                f"({LOAD_ERROR}). Build it with `pip install --no-build-isolation -e .`, or use "
                f"sgz_fast.reference.{op}, which needs no build.")
    kernels = KERNELS[op]
    if not kernels:
        return (f"sgz_fast.ops.{op}: the compiled extension was built from older sources "
                f"without this op; rebuild it (`pip install --no-build-isolation -e .`).")
    if kernels.get(device.type, False):
        return None
    if device.type == "cuda" and not any(KERNELS[other].get("cuda") for other in OPS):
        why = f" ({BUILD_CONFIG.cuda_reason})" if BUILD_CONFIG else ""
        return (f"sgz_fast.ops.{op}: sgz_fast was built without CUDA kernels{why}. Rebuild "
                f"where the CUDA toolkit is installed (README, Building), or use "
                f"sgz_fast.reference.{op}.")
    devices = " and ".join(d.upper() for d, present in kernels.items() if present)
    return (f"sgz_fast.ops.{op} has no {device.type.upper()} kernel (it runs on {devices}); "
            f"sgz_fast.reference.{op} runs anywhere PyTorch does.")
