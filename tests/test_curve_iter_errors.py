"""Bad input to curve_iter gets a clear error, from the fused op and from the reference."""
import pytest
import torch

from conftest import assert_explained
from sgz_fast import ops, reference

BACKENDS = [ops.curve_iter, reference.curve_iter]


def x_():
    return torch.rand(2, 3, 16, 16)


def r_():
    return torch.rand(2, 3, 4, 4)


CASES = {
    "x not 4-D": (lambda: (torch.rand(3, 16, 16), r_(), 8), r"x must be a 4-D tensor .* got 3-D"),
    "r not 4-D": (lambda: (x_(), torch.rand(2, 3, 4, 4, 1), 8), r"r must be a 4-D tensor .* got 5-D"),
    "batch mismatch": (lambda: (x_(), torch.rand(1, 3, 4, 4), 8),
                       r"batch and channel sizes: expected \(2, 3, h, w\), got \[1, 3, 4, 4\]"),
    "channel mismatch": (lambda: (x_(), torch.rand(2, 1, 4, 4), 8),
                         r"expected \(2, 3, h, w\), got \[2, 1, 4, 4\]"),
    "r larger than x": (lambda: (x_(), torch.rand(2, 3, 17, 4), 8),
                        r"r \(17x4\) must not be larger than x \(16x16\)"),
    "integer dtype": (lambda: (torch.randint(0, 255, (2, 3, 16, 16)), r_().long(), 8),
                      r"floating-point tensor; got (torch\.)?(Long|int64)"),
    "dtype mismatch": (lambda: (x_(), r_().double(), 8), r"r must have x's dtype"),
    "different devices": (lambda: (x_(), r_().to("meta"), 8), r"same device; x is on cpu, r is on meta"),
    "negative iterations": (lambda: (x_(), r_(), -1), r"iterations must be .*>= 0; got -1"),
}


@pytest.mark.parametrize("fn", BACKENDS, ids=["fused", "reference"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_explained(fn, case):
    make_args, message = CASES[case]
    assert_explained(fn, make_args(), message)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
def test_cpu_and_cuda_inputs_are_refused():
    with pytest.raises(ValueError, match=r"same device; x is on cuda:0, r is on cpu"):
        ops.curve_iter(x_().cuda(), r_())
