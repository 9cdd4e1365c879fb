import zlib

import pytest
import torch

import sgz_fast
from sgz_fast.threads import torch_threads  # noqa: F401  (the tests' thread-count block)

# The CPU kernels are compiled once per capability level (README, Building): the CPU cases run
# at every level, each a device of its own ("cpu-avx2"), skipped where the CPU lacks the level.
CPU_LEVELS = ("default", "avx2", "avx512")
RUNNABLE_LEVELS = sgz_fast.cpu_capabilities() if sgz_fast.build_info()["extension_loaded"] else []
DEVICES = [
    *(pytest.param(f"cpu-{level}", marks=pytest.mark.skipif(
        level not in RUNNABLE_LEVELS,
        reason=f"this CPU or build cannot run the {level} kernels (it runs {RUNNABLE_LEVELS})"))
      for level in CPU_LEVELS),
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="no CUDA device visible")),
]

# Tolerances per dtype, stated once: (rtol, atol) for comparing an op with its reference.
# float32 allows for a fused multiply-add in the kernels where eager PyTorch rounds twice;
# half types are compared with a float32 reference on the same (rounded) inputs.
TOLERANCES = {
    torch.float64: (1e-10, 1e-12),
    torch.float32: (1e-5, 1e-5),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}


# The fused factor network (ops.factor_net) against the per-layer model: the same operations,
# two of them summed in another order (the depthwise taps in one chain from the bias, e_conv7's
# sum over its 64 channels in vector lanes, then across them), so both dtypes agree to
# rounding: on random 256 x 256 images float32 to 1.2e-7 and float64 to 2.5e-16 at most.
NETWORK_TOLERANCES = {
    torch.float64: (1e-12, 1e-14),
    torch.float32: (1e-5, 1e-5),
}

# The fused network's weight gradients (factor_net's backward) against autograd through the
# per-layer model: each gradient is a sum over every pixel, taken in another order (by band,
# chunk and register block), whose terms can cancel, so an element's error scales with its
# sum's terms, not with its value. float64 is compared with an absolute tolerance of this times
# the tensor's largest element (seen: 5e-15); float32 against the float64 reference on the same
# inputs, allowed the larger of this many times eager float32's own error and NETWORK_TOLERANCES'
# rtol times the largest element (seen: up to 7e-6 of it).
NETWORK_GRADIENT_TOLERANCES = {
    torch.float64: 1e-12,
    torch.float32: 4.0,
}


def _device_for(param):
    """A torch.device; for "cpu-<level>" the CPU device with the fused kernels at that level for
    the test's duration."""
    if not param.startswith("cpu-"):
        yield torch.device(param)
        return
    previous = sgz_fast.set_cpu_capability(param[len("cpu-"):])
    try:
        yield torch.device("cpu")
    finally:
        sgz_fast.set_cpu_capability(previous)


@pytest.fixture(params=DEVICES)
def device(request):
    yield from _device_for(request.param)


@pytest.fixture(params=DEVICES[:len(CPU_LEVELS)])
def cpu_device(request):
    """The CPU at each capability level, for ops that have CPU kernels only."""
    yield from _device_for(request.param)


@pytest.fixture(autouse=True)
def _fresh_seed(request):
    # A different seed per test (stable across runs): inputs are fresh random data, never zeros.
    torch.manual_seed(zlib.crc32(request.node.nodeid.encode()))


def assert_explained(fn, args, message):
    """Bad input must raise a standard error whose text matches `message`."""
    with pytest.raises((RuntimeError, ValueError, TypeError), match=message):
        fn(*args)
