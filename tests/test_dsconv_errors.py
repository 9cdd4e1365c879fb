"""Bad input to dsconv gets a clear error, from the fused op and from the reference, on every
device of conftest.DEVICES."""
import pytest
import torch

from conftest import assert_explained
from sgz_fast import ops, reference

BACKENDS = [ops.dsconv, reference.dsconv]


def good(device):
    def rand(*shape):
        return torch.rand(*shape, device=device)
    return ([rand(2, 3, 8, 8), rand(2, 2, 8, 8)], rand(5, 1, 3, 3), rand(5), rand(4, 5, 1, 1),
            rand(4), "relu")


def with_(index, value):
    """A case: the good arguments on `device` with argument `index` replaced by value(device)."""
    def make(device):
        args = list(good(device))
        args[index] = value(device) if callable(value) else value
        return args
    return make


def rand_on(*shape, dtype=torch.float32):
    return lambda device: torch.rand(*shape, device=device).to(dtype)


# Messages may name the device: {device} is replaced by the case's device ('cpu', 'cuda:0').
CASES = {
    "channels do not add up": (with_(1, rand_on(6, 1, 3, 3)),
                               r"inputs have 5 channels in all but dw_weight has 6"),
    "pointwise channels": (with_(3, rand_on(4, 6, 1, 1)),
                           r"inputs have 5 channels in all but pw_weight has 6 input channels"),
    "depthwise kernel 5x5": (with_(1, rand_on(5, 1, 5, 5)),
                             r"depthwise kernel must be 3x3; got 5x5"),
    "pointwise kernel 3x3": (with_(3, rand_on(4, 5, 3, 3)),
                             r"pw_weight must have shape \(Cout, Cin, 1, 1\)"),
    "dw_weight not depthwise": (with_(1, rand_on(5, 2, 3, 3)),
                                r"dw_weight must have shape \(Cin, 1, 3, 3\)"),
    "dw_bias size": (with_(2, rand_on(4)), r"dw_bias must have shape \(5,\)"),
    "pw_bias size": (with_(4, rand_on(5)), r"pw_bias must have shape \(4,\)"),
    "input not 4-D": (with_(0, lambda d: [torch.rand(3, 8, 8, device=d),
                                          torch.rand(2, 2, 8, 8, device=d)]),
                      r"inputs\[0\] must be a 4-D tensor"),
    "inputs of different sizes": (with_(0, lambda d: [torch.rand(2, 3, 8, 8, device=d),
                                                      torch.rand(2, 2, 8, 7, device=d)]),
                                  r"inputs\[1\] has shape \[2, 2, 8, 7\]"),
    "inputs of different dtypes": (with_(0, lambda d: [torch.rand(2, 3, 8, 8, device=d),
                                                       torch.rand(2, 2, 8, 8, device=d).double()]),
                                   r"inputs\[1\] is (torch.float64|Double) on {device}; "
                                   r"inputs\[0\] is (torch.float32|Float) on {device}"),
    "weights of another dtype": (with_(3, rand_on(4, 5, 1, 1, dtype=torch.float64)),
                                 r"pw_weight is (torch.float64|Double) on {device}; the inputs "
                                 r"are (torch.float32|Float) on {device}"),
    "weights on another device": (with_(1, lambda d: torch.rand(5, 1, 3, 3, device="meta")),
                                  r"dw_weight is (torch.float32|Float) on meta; the inputs "
                                  r"are (torch.float32|Float) on {device}"),
    "integer input": (with_(0, lambda d: [torch.randint(0, 9, (2, 5, 8, 8), device=d)]),
                      r"inputs\[0\] must be a floating-point tensor"),
    "unknown activation": (with_(5, "gelu"),
                           r"activation must be 'none', 'relu' or 'tanh'; got '?gelu'?"),
}


@pytest.mark.parametrize("fn", BACKENDS, ids=["fused", "reference"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_explained(device, fn, case):
    make_args, message = CASES[case]
    args = make_args(device)
    shown = str(args[0][0].device)  # 'cuda:0' where the case asked for 'cuda'
    assert_explained(fn, args, message.replace("{device}", shown))
