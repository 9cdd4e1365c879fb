"""One error contract for the two copies of every argument check: the C++ checks
(csrc/common/checks.h, run by the CPU and CUDA kernels) and their Python mirror
(sgz_fast/_checks.py, run by the fake kernels on meta tensors and by the reference). Every
bad-input case of the ops' tests is run eagerly on the CPU and on meta tensors: both must raise
the same exception type with the same message (dtype names and devices aside)."""
import re

import pytest
import torch

import test_affine_uint8
import test_colour_guided
import test_curve_iter_errors
import test_curve_uint8
import test_dsconv_errors
import test_factor_net
import test_factor_net_backward
import test_guided_coefficients
import test_loss_pools

OPS = torch.ops.sgz_fast

# Python's dtype names and C++'s, as the two copies print them.
DTYPE_NAMES = {"torch.float32": "Float", "torch.float64": "Double", "torch.float16": "Half",
               "torch.bfloat16": "BFloat16", "torch.int64": "Long", "torch.int32": "Int",
               "torch.uint8": "Byte"}


def _curve_backward(x, r, iterations):
    return torch.zeros_like(x), x, r, iterations, True, True


CASES = {
    **{f"curve_iter: {k}": (OPS.curve_iter.default, make)
       for k, (make, _) in test_curve_iter_errors.CASES.items()},
    **{f"curve_iter_backward: {k}": (OPS.curve_iter_backward.default,
                                     lambda make=make: _curve_backward(*make()))
       for k, (make, _) in test_curve_iter_errors.CASES.items()},
    "curve_iter_backward: grad shape": (OPS.curve_iter_backward.default, lambda: (
        torch.rand(2, 3, 16, 15), torch.rand(2, 3, 16, 16), torch.rand(2, 3, 4, 4), 8, True, True)),
    "curve_iter_backward: grad dtype": (OPS.curve_iter_backward.default, lambda: (
        torch.rand(2, 3, 16, 16).double(), torch.rand(2, 3, 16, 16), torch.rand(2, 3, 4, 4), 8,
        True, True)),
    **{f"curve_iter_uint8: {k}": (OPS.curve_iter_uint8.default, make)
       for k, (make, _) in test_curve_uint8.CASES.items()},
    **{f"affine_uint8: {k}": (OPS.affine_uint8.default, make)
       for k, (make, _) in test_affine_uint8.CASES.items()},
    **{f"guided_coefficients: {k}": (OPS.guided_coefficients.default, make)
       for k, (make, _) in test_guided_coefficients.CASES.items()},
    **{f"colour_guided_coefficients: {k}": (OPS.colour_guided_coefficients.default, make)
       for k, (make, _) in test_colour_guided.CASES.items()},
    **{f"colour_affine_uint8: {k}": (OPS.colour_affine_uint8.default, make)
       for k, (make, _) in test_colour_guided.APPLY_CASES.items()},
    **{f"colour_guided_filter_uint8: {k}": (OPS.colour_guided_filter_uint8.default, make)
       for k, (make, _) in test_colour_guided.FILTER_CASES.items()},
    **{f"guided_inputs_uint8: {k}": (OPS.guided_inputs_uint8.default,
                                     lambda make=make: (*make()[:5], list(make()[5])))
       for k, (make, _) in test_guided_coefficients.INPUT_CASES.items()},
    **{f"dsconv: {k}": (OPS.dsconv.default, lambda make=make: make("cpu"))
       for k, (make, _) in test_dsconv_errors.CASES.items()},
    "dsconv: no inputs": (OPS.dsconv.default, lambda: ([], *test_dsconv_errors.good("cpu")[1:])),
    "dsconv_backward: grad shape": (OPS.dsconv_backward.default, lambda: (
        torch.rand(2, 4, 8, 7), torch.rand(2, 4, 8, 8),
        *test_dsconv_errors.good("cpu")[0:3], test_dsconv_errors.good("cpu")[3], "relu")),
    "dsconv_backward: output dtype": (OPS.dsconv_backward.default, lambda: (
        torch.rand(2, 4, 8, 8), torch.rand(2, 4, 8, 8).double(),
        *test_dsconv_errors.good("cpu")[0:3], test_dsconv_errors.good("cpu")[3], "relu")),
    **{f"factor_net: {k}": (OPS.factor_net.default,
                            lambda make=make: make(test_factor_net._bad_params())[0])
       for k, make in test_factor_net.BAD_INPUTS.items()},
    **{f"factor_net_backward: {k}": (OPS.factor_net_backward.default,
                                     lambda make=make: make(*test_factor_net_backward._good())[0])
       for k, make in test_factor_net_backward.BAD_INPUTS.items()},
    **{k: (test_loss_pools.op_of(k), make) for k, (make, _) in test_loss_pools.CASES.items()},
}

# Cases that are errors on one device only: a tensor on another device (all are on meta in
# the meta run), and dtypes the CPU kernels lack (CUDA and the fake kernels take them).
DEVICE_SPECIFIC = re.compile(r"devices|another device|different devices|: half$")


def _on_meta(value):
    if isinstance(value, torch.Tensor):
        return value.to("meta")
    if isinstance(value, (list, tuple)):
        return type(value)(_on_meta(v) for v in value)
    return value


def _error(fn, args):
    try:
        fn(*args)
    except (RuntimeError, ValueError, TypeError) as e:
        return e
    return None


def _normalized(error, device):
    message = str(error).splitlines()[0]
    for python_name, cpp_name in DTYPE_NAMES.items():
        message = message.replace(python_name, cpp_name)
    return message.replace(device, "<device>")


@pytest.mark.parametrize("case", sorted(CASES))
def test_cpp_and_python_checks_agree(case):
    fn, make_args = CASES[case]
    args = make_args()
    eager = _error(fn, args)
    assert eager is not None, f"{case}: no error from the CPU kernel"
    meta = _error(fn, _on_meta(args))
    if DEVICE_SPECIFIC.search(case):
        assert meta is None, f"{case}: the meta run refused it too: {meta}"
        return
    assert meta is not None, f"{case}: no error from the fake kernel; the CPU gave {eager}"
    assert type(meta) is type(eager), f"{case}: {type(eager).__name__} from C++: {eager}; " \
                                      f"{type(meta).__name__} from Python: {meta}"
    assert _normalized(meta, "meta") == _normalized(eager, "cpu")
