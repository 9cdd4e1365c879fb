"""Loads the compiled kernels (sgz_fast._C) and says, per device, whether they are there, and
which CPU capability level runs."""
import warnings

import torch

try:
    from . import _build_config as BUILD_CONFIG
except ImportError:
    BUILD_CONFIG = None

REBUILD = "pip install --no-build-isolation -e ."


def _torch_mismatch():
    """A sentence when the extension was built against another torch than the running one."""
    built = BUILD_CONFIG.built_with_torch if BUILD_CONFIG else None
    if built is None or built == torch.__version__:
        return None
    return (f"sgz_fast._C was built with torch {built} but torch {torch.__version__} is running; "
            f"a C++ extension must be rebuilt for the torch it runs with: `{REBUILD}` in the "
            f"sgz_fast source folder (with --no-build-isolation, so that it builds against this "
            f"torch and not a newer one fetched for the build).")


TORCH_MISMATCH = _torch_mismatch()
try:
    from . import _C  # noqa: F401  (importing registers the sgz_fast ops)
    LOAD_ERROR = None
except ImportError as error:
    LOAD_ERROR = ImportError(f"{error}. {TORCH_MISMATCH}" if TORCH_MISMATCH else str(error))
if TORCH_MISMATCH and LOAD_ERROR is None:
    warnings.warn(TORCH_MISMATCH, RuntimeWarning, stacklevel=2)

LOADED = LOAD_ERROR is None


OPS = ("curve_iter", "curve_iter_uint8", "affine_uint8", "guided_coefficients",
       "guided_inputs_uint8", "colour_guided_coefficients", "colour_affine_uint8",
       "colour_guided_filter_uint8", "dsconv", "factor_net", "factor_net_backward",
       "loss_pools", "total_variation")


def _devices_with_kernels(op):
    if not LOADED or not torch._C._dispatch_has_kernel(f"sgz_fast::{op}"):
        return {}  # not built, or built from sources older than this op
    return {device: torch._C._dispatch_has_kernel_for_dispatch_key(f"sgz_fast::{op}", key)
            for device, key in (("cpu", "CPU"), ("cuda", "CUDA"))}


# Read once at import: looking them up inside a compiled function would break the graph.
KERNELS = {op: _devices_with_kernels(op) for op in OPS}


def cpu_capability():
    """The CPU capability level the fused CPU kernels run at ('default', 'avx2' or 'avx512').
    Raises ValueError when SGZ_FAST_CPU_CAPABILITY names a level this CPU or build lacks."""
    return torch.ops.sgz_fast._cpu_capability()


def cpu_capabilities():
    """The levels built into the extension that this CPU runs, lowest first."""
    return list(torch.ops.sgz_fast._cpu_capabilities())


def set_cpu_capability(level):
    """Runs the fused CPU kernels at `level` from now on; returns the previous level.
    Raises ValueError for a level this CPU or build lacks (see cpu_capabilities())."""
    return torch.ops.sgz_fast._set_cpu_capability(level)


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
