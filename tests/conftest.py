import zlib

import pytest
import torch

DEVICES = [
    "cpu",
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


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _fresh_seed(request):
    # A different seed per test (stable across runs): inputs are fresh random data, never zeros.
    torch.manual_seed(zlib.crc32(request.node.nodeid.encode()))


def assert_explained(fn, args, message):
    """Bad input must raise a standard error whose text matches `message`."""
    with pytest.raises((RuntimeError, ValueError, TypeError), match=message):
        fn(*args)
