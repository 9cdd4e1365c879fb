"""sgz_fast: fast SGZ (semantic-guided zero-shot low-light enhancement, Zheng & Gupta,
WACV 2022) with fused CPU and CUDA kernels.

    sgz_fast.ops        fused ops (the compiled extension)
    sgz_fast.reference  the same ops in plain PyTorch
"""
import torch

from . import _extension, ops, reference
from ._extension import cpu_capabilities, cpu_capability, set_cpu_capability

__all__ = ["build_info", "cpu_capabilities", "cpu_capability", "ops", "reference",
           "set_cpu_capability"]
__version__ = "0.1.0"


def build_info():
    """How the installed extension was built and what can run now.

    Returns a dict: ``extension_loaded`` (bool) and ``extension_error`` (str or None);
    ``cpu_kernels`` and ``cuda_compiled`` (bool: CPU / CUDA kernels are in the binary);
    ``ops`` (each fused op and the devices it has kernels for);
    ``cpu_capability`` (the level the CPU kernels run at: 'default', 'avx2' or 'avx512'; None
    with ``cpu_capability_error`` saying why when SGZ_FAST_CPU_CAPABILITY asks for a level this
    CPU lacks); ``cpu_levels`` (the levels compiled in) and ``cpu_capabilities`` (those this CPU
    runs); ``cuda_available`` (bool: a GPU is usable now); ``cuda_arch_list`` (list of the archs
    the CUDA code was built for); ``cuda_reason`` (why CUDA was or was not built);
    ``torch_version`` and ``torch_cuda_version`` (the running torch); ``built_with_torch`` and
    ``torch_mismatch`` (a sentence when they differ, else None).
    """
    config = _extension.BUILD_CONFIG
    archs = config.cuda_arch_list if config else ""
    level, level_error = None, None
    if _extension.LOADED:
        try:
            level = _extension.cpu_capability()
        except (RuntimeError, ValueError) as error:
            level_error = str(error).splitlines()[0]
    return {
        "extension_loaded": _extension.LOADED,
        "extension_error": None if _extension.LOADED else str(_extension.LOAD_ERROR),
        "cpu_kernels": _extension.KERNELS["curve_iter"].get("cpu", False),
        "cuda_compiled": _extension.KERNELS["curve_iter"].get("cuda", False),
        "ops": {op: sorted(d for d, present in devices.items() if present)
                for op, devices in _extension.KERNELS.items()},
        "cpu_capability": level,
        "cpu_capability_error": level_error,
        "cpu_levels": list(getattr(config, "cpu_levels", [])),
        "cpu_capabilities": _extension.cpu_capabilities() if _extension.LOADED else [],
        "cuda_available": torch.cuda.is_available(),
        "cuda_arch_list": [a for a in archs.replace(" ", ";").split(";") if a],
        "cuda_reason": config.cuda_reason if config else None,
        "torch_version": torch.__version__,
        "torch_cuda_version": torch.version.cuda,
        "built_with_torch": config.built_with_torch if config else None,
        "torch_mismatch": _extension.TORCH_MISMATCH,
    }
