"""Bad input to dsconv gets a clear error, from the fused op and from the reference."""
import pytest
import torch

from conftest import assert_explained
from sgz_fast import ops, reference

BACKENDS = [ops.dsconv, reference.dsconv]


def good():
    return ([torch.rand(2, 3, 8, 8), torch.rand(2, 2, 8, 8)], torch.rand(5, 1, 3, 3),
            torch.rand(5), torch.rand(4, 5, 1, 1), torch.rand(4), "relu")


def with_(index, value):
    def make():
        args = list(good())
        args[index] = value() if callable(value) else value
        return args
    return make


CASES = {
    "channels do not add up": (with_(1, lambda: torch.rand(6, 1, 3, 3)),
                               r"inputs have 5 channels in all but dw_weight has 6"),
    "pointwise channels": (with_(3, lambda: torch.rand(4, 6, 1, 1)),
                           r"inputs have 5 channels in all but pw_weight has 6 input channels"),
    "depthwise kernel 5x5": (with_(1, lambda: torch.rand(5, 1, 5, 5)),
                             r"depthwise kernel must be 3x3; got 5x5"),
    "pointwise kernel 3x3": (with_(3, lambda: torch.rand(4, 5, 3, 3)),
                             r"pw_weight must have shape \(Cout, Cin, 1, 1\)"),
    "dw_weight not depthwise": (with_(1, lambda: torch.rand(5, 2, 3, 3)),
                                r"dw_weight must have shape \(Cin, 1, 3, 3\)"),
    "dw_bias size": (with_(2, lambda: torch.rand(4)), r"dw_bias must have shape \(5,\)"),
    "pw_bias size": (with_(4, lambda: torch.rand(5)), r"pw_bias must have shape \(4,\)"),
    "input not 4-D": (with_(0, lambda: [torch.rand(3, 8, 8), torch.rand(2, 2, 8, 8)]),
                      r"inputs\[0\] must be a 4-D tensor"),
    "inputs of different sizes": (with_(0, lambda: [torch.rand(2, 3, 8, 8), torch.rand(2, 2, 8, 7)]),
                                  r"inputs\[1\] has shape \[2, 2, 8, 7\]"),
    "inputs of different dtypes": (with_(0, lambda: [torch.rand(2, 3, 8, 8),
                                                     torch.rand(2, 2, 8, 8).double()]),
                                   r"inputs\[1\] is (torch.float64|Double) on cpu; inputs\[0\] "
                                   r"is (torch.float32|Float) on cpu"),
    "weights of another dtype": (with_(3, lambda: torch.rand(4, 5, 1, 1).double()),
                                 r"pw_weight is (torch.float64|Double) on cpu; the inputs are "
                                 r"(torch.float32|Float) on cpu"),
    "weights on another device": (with_(1, lambda: torch.rand(5, 1, 3, 3, device="meta")),
                                  r"dw_weight is (torch.float32|Float) on meta; the inputs "
                                  r"are (torch.float32|Float) on cpu"),
    "integer input": (with_(0, lambda: [torch.randint(0, 9, (2, 5, 8, 8))]),
                      r"inputs\[0\] must be a floating-point tensor"),
    "unknown activation": (with_(5, "gelu"),
                           r"activation must be 'none', 'relu' or 'tanh'; got '?gelu'?"),
}


@pytest.mark.parametrize("fn", BACKENDS, ids=["fused", "reference"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_explained(fn, case):
    make_args, message = CASES[case]
    assert_explained(fn, make_args(), message)
