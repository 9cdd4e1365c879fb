"""The CUDA kernels run on the CPU: the kernels, launch code and op bodies of csrc/cuda/*.cuh,
compiled as host C++ with the shim of tests/cuda_emulation (each block's threads as fibers, in
forward, reverse or shuffled order between barriers; shared memory and outputs filled with NaN
at the start), from this checkout's sources, and compared with sgz_fast.reference.

No GPU is needed: this is what keeps a change to a kernel honest where none is lent. The module
is rebuilt whenever a source it includes changes (its name carries their hash)."""
import functools
import hashlib
import os
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
import torch

from conftest import TOLERANCES
from sgz_fast import reference
from test_curve_iter import SHAPES as CURVE_SHAPES, assert_as_close_as_the_reference
from test_curve_uint8 import SHAPES as UINT8_SHAPES
from test_dsconv import assert_all_close, grads_of, make_args
from test_factor_net import make_model
from test_loss_pools import POOL_CASES as LOSS_POOL_CASES
from test_colour_guided import FILTER_SHAPES, SHAPES as COLOUR_SHAPES, noisy_pair
from test_guided_coefficients import (INPUT_SHAPES as GUIDED_INPUT_SHAPES, RGB, frame_pair,
                                      SHAPES as GUIDED_SHAPES, inputs as guided_inputs)

ROOT = Path(__file__).resolve().parent.parent
EMULATION = ROOT / "tests" / "cuda_emulation"
SOURCES = sorted([*EMULATION.glob("*"), *(ROOT / "csrc" / "cuda").glob("*.cuh"),
                  *(ROOT / "csrc" / "common").glob("*.h")])
# An H100 SXM's answers to the launch code's questions (ops.cpp): 132 SMs, 2 backward blocks
# per SM, the hardware's grid-y limit, 16 M elements of scratch.
H100 = dict(multiprocessors=132, blocks_per_sm=2, max_grid_y=65535, max_scratch_elements=1 << 24)


def cxx20_compiler():
    """The C++ compiler torch's extension builder uses, or None (with the reason) where it is
    missing or cannot compile C++20."""
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        return None, f"no C++ compiler ({cxx}) on PATH"
    probe = subprocess.run([cxx, "-std=c++20", "-x", "c++", "-fsyntax-only", "-"],
                           input="#include <version>\nint main() {}\n", capture_output=True,
                           text=True)
    if probe.returncode != 0:
        return None, f"{cxx} cannot compile C++20: {probe.stderr.strip()[:200]}"
    return cxx, ""


@functools.cache
def emulation():
    """torch.ops.sgz_cuda_emulation, built from this checkout (about 20 s the first time)."""
    cxx, why = cxx20_compiler()
    if cxx is None:
        pytest.skip(f"the CUDA emulation needs a C++20 compiler: {why}")
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in SOURCES)).hexdigest()[:12]
    from torch.utils import cpp_extension
    cpp_extension.load(
        name=f"sgz_cuda_emulation_{digest}", sources=[str(EMULATION / "ops.cpp")],
        extra_cflags=["-O1", "-std=c++20", "-include", str(EMULATION / "cuda_shim.h"),
                      f"-I{ROOT / 'csrc'}"],
        is_python_module=False, verbose=False)
    return torch.ops.sgz_cuda_emulation


@pytest.fixture
def gpu(request):
    """The emulated GPU, ordered as the test's `order` mark says (default: shuffled with a seed
    of the test's own), with an H100's limits unless the test passes others."""
    ops = emulation()
    marker = request.node.get_closest_marker("emulated")
    settings = {**H100, "order": "shuffled", "seed": zlib.crc32(request.node.name.encode())}
    settings.update(marker.kwargs if marker else {})
    ops.configure(**settings)
    ops.take_launches()
    return ops


emulated = pytest.mark.emulated


def _rounded_like(tensor, offset):
    """tensor's values in storage that starts `offset` elements into an allocation: contiguous,
    but not 16-byte aligned for offset 1."""
    storage = torch.empty(tensor.numel() + offset, dtype=tensor.dtype)
    view = storage[offset:].view(tensor.shape)
    view.copy_(tensor)
    return view


# ---- dsconv -------------------------------------------------------------------------------

# (input channel counts, Cout, activation, H, W, batch): SGZ's layers, then H or W of 1, Cin > 16
# (two forward chunks), Cout > 32 (two output chunks of the forward, two of the backward in
# float64), more inputs than the kernels take (concatenated), widths that are and are not
# multiples of 4, batch 3.
DSCONV_CASES = [
    ((3,), 32, "relu", 17, 23, 1),
    ((32,), 32, "relu", 9, 12, 1),
    ((32, 32), 3, "tanh", 9, 16, 1),
    ((5,), 7, "none", 11, 13, 2),
    ((2, 3), 4, "tanh", 1, 9, 2),
    ((3,), 5, "relu", 2, 1, 2),
    ((4,), 6, "none", 1, 1, 1),
    ((20,), 40, "relu", 5, 33, 1),
    ((1,) * 10, 3, "relu", 6, 8, 1),
    ((6,), 9, "tanh", 3, 32, 3),
]


def dsconv_through(ops, inputs, dw, db, pw, pb, activation, grad):
    out = ops.dsconv(inputs, dw, db, pw, pb, activation)
    g_in, g_dw, g_db, g_pw, g_pb = ops.dsconv_backward(grad, out, inputs, dw, db, pw, activation)
    return out, [*g_in, g_dw, g_db if db is not None else None, g_pw,
                 g_pb if pb is not None else None]


def check_dsconv(ops, channels, cout, activation, h, w, batch, dtype, biases=True):
    inputs, dw, db, pw, pb = make_args(channels, cout, dtype, batch=batch, h=h, w=w,
                                       biases=biases)
    grad = torch.randn(batch, cout, h, w, dtype=dtype)
    out, grads = dsconv_through(ops, inputs, dw, db, pw, pb, activation, grad)
    out_ref, grads_ref = grads_of(reference.dsconv, inputs, dw, db, pw, pb, activation, grad)
    assert_all_close([out], [out_ref], dtype)
    assert_all_close(grads, grads_ref, dtype, scale=max(1.0, (batch * h * w) ** 0.5))


@pytest.mark.parametrize("channels,cout,activation,h,w,batch", DSCONV_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dsconv_matches_reference(gpu, channels, cout, activation, h, w, batch, dtype):
    check_dsconv(gpu, channels, cout, activation, h, w, batch, dtype)


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_dsconv_in_fixed_orders(gpu, order):
    gpu.configure(**H100, order=order, seed=0)
    check_dsconv(gpu, (32, 32), 32, "relu", 10, 13, 1, torch.float32, biases=False)


@emulated(multiprocessors=1, blocks_per_sm=2)
def test_dsconv_backward_grid_stride_over_tiles(gpu):
    """Two blocks for 3 x 2 x 2 backward tiles: each block loops over several tiles and adds
    them to its partial row."""
    check_dsconv(gpu, (8,), 12, "tanh", 17, 20, 2, torch.float64)
    launches = gpu.take_launches().tolist()
    assert [2, 1, 1] in launches  # the fused backward kernel's grid


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_dsconv_half_types_accumulate_in_float(gpu, dtype):
    channels, cout, h, w = (32, 32), 32, 9, 20
    inputs, dw, db, pw, pb = make_args(channels, cout, dtype, h=h, w=w)
    grad = torch.randn(2, cout, h, w, dtype=dtype)
    out, grads = dsconv_through(gpu, inputs, dw, db, pw, pb, "relu", grad)
    as32 = [t.float() for t in (dw, db, pw, pb)]
    out32, grads32 = grads_of(reference.dsconv, [t.float() for t in inputs], *as32, "relu",
                              grad.float())
    rtol, atol = TOLERANCES[dtype]
    scales = [1.0] * (1 + len(inputs)) + [(2 * h * w) ** 0.5] * 4
    for got, exact, scale in zip([out, *grads], [out32, *grads32], scales):
        assert got.dtype == dtype
        torch.testing.assert_close(got.float(), exact, rtol=rtol * scale, atol=atol * scale)


def test_dsconv_unaligned_and_empty(gpu):
    inputs, dw, db, pw, pb = make_args((3, 5), 6, torch.float32, h=7, w=9)
    shifted = [_rounded_like(t, 1) for t in inputs]
    grad = torch.randn(2, 6, 7, 9)
    got = dsconv_through(gpu, shifted, dw, db, pw, pb, "relu", grad)
    expected = grads_of(reference.dsconv, inputs, dw, db, pw, pb, "relu", grad)
    assert_all_close([got[0], *got[1]], [expected[0], *expected[1]], torch.float32, scale=6)
    empty = [torch.empty(0, 3, 5, 4)]
    out = gpu.dsconv(empty, dw[:3], db[:3], pw[:, :3], pb, "relu")
    assert out.shape == (0, 6, 5, 4)
    g = gpu.dsconv_backward(out, out, empty, dw[:3], db[:3], pw[:, :3], "relu")
    assert g[0][0].shape == (0, 3, 5, 4) and g[1].abs().sum() == 0 and g[4].abs().sum() == 0


# ---- factor_net ---------------------------------------------------------------------------

# (N, H, W): sides of 1, 2 and 7 (smaller than the 7-pixel halo), one tile (8 x 16) and its
# edges, several tiles with partial ones at the right and bottom, a tile whose whole halo is
# inside the image (24 x 48), batches.
FACTOR_NET_SHAPES = [(1, 1, 1), (1, 2, 2), (1, 7, 7), (1, 8, 16), (2, 9, 17), (1, 20, 40),
                     (1, 24, 48), (3, 5, 33)]


def reference_network(x, params):
    """The factors through sgz_fast.reference.dsconv, layer by layer, for the 28 `params` of a
    dsc factor network of any width."""
    def layer(k, inputs, activation):
        return reference.dsconv(inputs, *params[4 * k:4 * k + 4], activation)
    with torch.no_grad():
        x1 = layer(0, [x], "relu")
        x2 = layer(1, [x1], "relu")
        x3 = layer(2, [x2], "relu")
        x4 = layer(3, [x3], "relu")
        x5 = layer(4, [x3, x4], "relu")
        x6 = layer(5, [x2, x5], "relu")
        return layer(6, [x1, x6], "tanh")


def random_network_params(width, dtype=torch.float32):
    """The 28 parameters of a dsc factor network `width` channels wide."""
    cins = (3, width, width, width, 2 * width, 2 * width, 2 * width)
    params = []
    for k, cin in enumerate(cins):
        cout = 3 if k == 6 else width
        for shape in ((cin, 1, 3, 3), (cin,), (cout, cin, 1, 1), (cout,)):
            params.append(torch.randn(shape, dtype=dtype) * 0.4)
    return params


def assert_factors_close(got, x, params):
    """got against reference_network(x, params); for the half types, against its float32 run
    on the same rounded values (the kernel computes in float32 and rounds once at the end)."""
    dtype = x.dtype
    assert got.dtype == dtype
    if dtype in (torch.float16, torch.bfloat16):
        got, x, params = got.float(), x.float(), [p.float() for p in params]
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(got, reference_network(x, params), rtol=rtol, atol=atol)


@pytest.mark.parametrize("shape", FACTOR_NET_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_factor_net_matches_the_per_layer_reference(gpu, shape, dtype):
    params = list(make_model(dtype, tanh_bias=(6.0, -6.0, 0.0)).parameters())
    x = torch.rand(shape[0], 3, *shape[1:], dtype=dtype)
    assert_factors_close(gpu.factor_net(x, params), x, params)


@pytest.mark.parametrize("width", [1, 4, 5, 17])
def test_factor_net_other_widths(gpu, width):
    """Widths of 4 and less take the branch where the input's window sizes a region."""
    params = random_network_params(width, torch.float64)
    x = torch.rand(2, 3, 13, 21, dtype=torch.float64)
    assert_factors_close(gpu.factor_net(x, params), x, params)


@pytest.mark.parametrize("order", ["forward", "reverse", "shuffled"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_factor_net_grid_stride(gpu, order, dtype):
    """Two blocks for 2 x 3 x 2 tiles: each reuses its scratch slice and its staged weights
    for several tiles."""
    gpu.configure(**{**H100, "multiprocessors": 1, "blocks_per_sm": 2}, order=order, seed=7)
    params = list(make_model(dtype).parameters())
    x = torch.rand(2, 3, 20, 30, dtype=dtype)
    got = gpu.factor_net(x, params)
    assert gpu.take_launches().tolist() == [[2, 1, 1]]
    assert_factors_close(got, x, params)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_factor_net_half_types(gpu, dtype):
    params = list(make_model(dtype).parameters())
    x = torch.rand(1, 3, 11, 19, dtype=dtype)
    assert_factors_close(gpu.factor_net(x, params), x, params)


def test_factor_net_strided_input_empty_batch_and_width(gpu):
    params = list(make_model(torch.float32).parameters())
    x = torch.rand(1, 9, 12, 3).permute(0, 3, 1, 2)  # channels last, as a decoded frame
    assert_factors_close(gpu.factor_net(x, params), x, params)
    assert gpu.factor_net(torch.rand(0, 3, 5, 4), params).shape == (0, 3, 5, 4)
    with pytest.raises(ValueError, match="factor_net on CUDA supports networks up to 32"):
        gpu.factor_net(torch.rand(1, 3, 4, 4), random_network_params(40))


# ---- curve_iter ---------------------------------------------------------------------------

def reference_curve_gradients(iterations):
    def run(x, r, grad):
        xa, ra = x.clone().requires_grad_(), r.clone().requires_grad_()
        reference.curve_iter(xa, ra, iterations).backward(grad)
        return xa.grad, ra.grad
    return run


def check_curve(ops, x_shape, r_hw, dtype, iterations=8, offset=0):
    x = torch.rand(x_shape, dtype=dtype)
    r = torch.rand((*x_shape[:2], *r_hw), dtype=dtype) * 2 - 1
    grad = torch.randn(x_shape, dtype=dtype)
    x, r, grad = (_rounded_like(t, offset) for t in (x, r, grad))
    assert_as_close_as_the_reference([ops.curve_iter(x, r, iterations)],
                                     lambda x, r: [reference.curve_iter(x, r, iterations)],
                                     (x, r), dtype, iterations)
    terms = (x_shape[2] // r_hw[0] + 1) * (x_shape[3] // r_hw[1] + 1)
    assert_as_close_as_the_reference(
        ops.curve_iter_backward(grad, x, r, iterations, True, True),
        reference_curve_gradients(iterations), (x, r, grad), dtype, iterations,
        scales=(1, terms))


@pytest.mark.parametrize("x_shape,r_hw", CURVE_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_curve_iter_matches_reference(gpu, x_shape, r_hw, dtype):
    check_curve(gpu, x_shape, r_hw, dtype)


@pytest.mark.parametrize("x_shape,r_hw", [((2, 3, 16, 20), (16, 20)), ((1, 3, 9, 13), (3, 4))])
def test_curve_iter_unaligned_storage(gpu, x_shape, r_hw):
    check_curve(gpu, x_shape, r_hw, torch.float32, iterations=13, offset=1)


@emulated(max_grid_y=3, max_scratch_elements=1)
def test_curve_iter_small_grid_and_scratch(gpu):
    """Rows walked grid-stride by 3 block rows; the column sums of the backward made one plane
    at a time (scratch smaller than a plane's)."""
    check_curve(gpu, (2, 3, 24, 30), (12, 15), torch.float64)
    check_curve(gpu, (1, 2, 20, 16), (20, 5), torch.float32)  # rows not upsampled
    launches = gpu.take_launches()
    assert launches[:, 1].max() == 3
    # forward, then per plane a band kernel and a gather: 1 + 2 * 6 launches in the first case
    assert len(launches) == (1 + 2 * 6) + (1 + 2 * 2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_curve_iter_half_types(gpu, dtype):
    x = torch.rand(2, 3, 20, 32, dtype=dtype)
    r = (torch.rand(2, 3, 5, 8) * 2 - 1).to(dtype)
    grad = torch.randn(2, 3, 20, 32, dtype=dtype)
    y = gpu.curve_iter(x, r, 8)
    expected = reference.curve_iter(x.float(), r.float(), 8)
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(y.float(), expected, rtol=rtol, atol=atol)
    gx, gr = gpu.curve_iter_backward(grad, x, r, 8, True, True)
    ex, er = reference_curve_gradients(8)(x.float(), r.float(), grad.float())
    torch.testing.assert_close(gx.float(), ex, rtol=rtol * 4, atol=atol * 4)
    torch.testing.assert_close(gr.float(), er, rtol=rtol * 20, atol=atol * 20)


def test_curve_iter_gradient_of_one_input(gpu):
    x, r = torch.rand(1, 3, 12, 10, dtype=torch.float64), torch.rand(1, 3, 3, 4,
                                                                    dtype=torch.float64)
    grad = torch.randn_like(x)
    ex, er = reference_curve_gradients(8)(x, r, grad)
    gx, gr = gpu.curve_iter_backward(grad, x, r, 8, True, False)
    assert gr.numel() == 0
    torch.testing.assert_close(gx, ex)
    gx, gr = gpu.curve_iter_backward(grad, x, r, 8, False, True)
    assert gx.numel() == 0
    torch.testing.assert_close(gr, er)


def test_curve_iter_float8_is_refused_by_name(gpu):
    x = torch.rand(1, 1, 2, 2).to(torch.float8_e4m3fn)
    with pytest.raises(TypeError, match="float32, float64, float16 and bfloat16"):
        gpu.curve_iter(x, x, 8)


# ---- curve_iter_uint8 ---------------------------------------------------------------------

@pytest.mark.parametrize("frames_shape,r_hw", [*UINT8_SHAPES, ((1, 5, 7, 3), (2, 3)),
                                              ((2, 6, 4, 4), (6, 4))])
@pytest.mark.parametrize("iterations", [8, 3])
def test_curve_uint8_matches_reference(gpu, frames_shape, r_hw, iterations):
    n, _, _, c = frames_shape
    frames = torch.randint(0, 256, frames_shape, dtype=torch.uint8)
    r = torch.rand(n, c, *r_hw) * 2 - 1
    out = gpu.curve_iter_uint8(frames, r, iterations)
    expected = reference.curve_iter_uint8(frames, r, iterations)
    diff = (out.int() - expected.int()).abs()  # one FMA may cross a rounding boundary
    assert diff.max() <= 1 and (diff > 0).sum() <= max(1, out.numel() // 1000)


@emulated(max_grid_y=2)
def test_curve_uint8_unaligned_rows_and_small_grid(gpu):
    frames = _rounded_like(torch.randint(0, 256, (2, 7, 5, 3), dtype=torch.uint8), 1)
    r = torch.rand(2, 3, 3, 2) - 1
    assert torch.equal(gpu.curve_iter_uint8(frames, r, 8),
                       reference.curve_iter_uint8(frames, r, 8))
    assert gpu.take_launches().tolist() == [[1, 2, 1]]


@pytest.mark.parametrize("frames_shape,r", [
    ((1, 2, 1, 1), [[[[0.5], [float("inf")]]]]),
    ((1, 1, 2, 1), [[[[0.5, float("inf")]]]]),
    ((1, 3, 1, 1), [[[[0.5], [float("-inf")]]]]),
    ((1, 2, 3, 1), [[[[0.5, 0.25], [float("inf"), 0.1]]]]),
    ((1, 3, 2, 1), [[[[0.5, float("inf")], [0.25, 0.1]]]]),
])
def test_curve_uint8_non_finite_factors_as_the_reference(gpu, frames_shape, r):
    frames = torch.full(frames_shape, 100, dtype=torch.uint8)
    r = torch.tensor(r)
    for iterations in (1, 8):
        assert torch.equal(gpu.curve_iter_uint8(frames, r, iterations),
                           reference.curve_iter_uint8(frames, r, iterations))


# ---- affine_uint8 -------------------------------------------------------------------------

@pytest.mark.parametrize("frames_shape,hw", [*UINT8_SHAPES, ((1, 5, 7, 3), (2, 3))])
def test_affine_uint8_matches_reference(gpu, frames_shape, hw):
    n, _, _, c = frames_shape
    frames = torch.randint(0, 256, frames_shape, dtype=torch.uint8)
    scale, offset = torch.rand(n, c, *hw) * 2, torch.rand(n, c, *hw) - 0.5
    diff = (gpu.affine_uint8(frames, scale, offset).int()
            - reference.affine_uint8(frames, scale, offset).int()).abs()
    assert diff.max() <= 1 and (diff > 0).sum() <= max(1, frames.numel() // 1000)


@emulated(max_grid_y=2)
def test_affine_uint8_unaligned_rows_and_small_grid(gpu):
    frames = _rounded_like(torch.randint(0, 256, (2, 7, 5, 3), dtype=torch.uint8), 1)
    scale, offset = torch.rand(2, 3, 3, 2) * 2, torch.rand(2, 3, 3, 2) - 0.5
    assert torch.equal(gpu.affine_uint8(frames, scale, offset),
                       reference.affine_uint8(frames, scale, offset))
    assert gpu.take_launches().tolist() == [[1, 2, 1]]


# ---- guided_coefficients ------------------------------------------------------------------

@pytest.mark.parametrize("n, c, h, w, radius", GUIDED_SHAPES)
def test_guided_coefficients_matches_reference(gpu, n, c, h, w, radius):
    guide, eps = guided_inputs(n, c, h, w, "cpu")
    rtol, atol = TOLERANCES[torch.float32]
    for out, expected in zip(gpu.guided_coefficients(guide, eps, radius),
                             reference.guided_coefficients(guide, eps, radius)):
        torch.testing.assert_close(out, expected, rtol=rtol, atol=atol)


@emulated(multiprocessors=1)
def test_guided_coefficients_grid_stride(gpu):
    """One SM: 8 blocks of 256 threads for 6,000 pixels, each thread striding over three."""
    guide, eps = guided_inputs(2, 3, 20, 50, "cpu")
    for out, expected in zip(gpu.guided_coefficients(guide, eps, 1),
                             reference.guided_coefficients(guide, eps, 1)):
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert gpu.take_launches().tolist() == [[8, 1, 1], [8, 1, 1]]


# ---- colour_guided_coefficients and colour_affine_uint8 -----------------------------------

@pytest.mark.parametrize("n, h, w, radius", [s for s in COLOUR_SHAPES if s[2] < 1000])
def test_colour_guided_coefficients_matches_reference(gpu, n, h, w, radius):
    guide, eps = guided_inputs(n, 3, h, w, "cpu")
    rtol, atol = TOLERANCES[torch.float32]
    for out, expected in zip(gpu.colour_guided_coefficients(guide, eps, radius),
                             reference.colour_guided_coefficients(guide, eps, radius)):
        torch.testing.assert_close(out, expected, rtol=rtol, atol=atol)


@emulated(multiprocessors=1)
def test_colour_guided_coefficients_grid_stride(gpu):
    """One SM: 8 blocks of 256 threads, for 2,000 pixels (each thread striding over one or
    two), then for their 18,000 values of A and B (nine each)."""
    guide, eps = guided_inputs(2, 3, 20, 50, "cpu")
    for out, expected in zip(gpu.colour_guided_coefficients(guide, eps, 1),
                             reference.colour_guided_coefficients(guide, eps, 1)):
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert gpu.take_launches().tolist() == [[8, 1, 1], [8, 1, 1]]


@pytest.mark.parametrize("frames_shape,hw", [(s, hw) for s, hw in UINT8_SHAPES if s[3] == 3])
def test_colour_affine_uint8_matches_reference(gpu, frames_shape, hw):
    n = frames_shape[0]
    frames = torch.randint(0, 256, frames_shape, dtype=torch.uint8)
    a, b = torch.rand(n, 6, *hw) * 2 - 0.5, torch.rand(n, 3, *hw) - 0.5
    diff = (gpu.colour_affine_uint8(frames, a, b).int()
            - reference.colour_affine_uint8(frames, a, b).int()).abs()
    assert diff.max() <= 1 and (diff > 0).sum() <= max(1, frames.numel() // 1000)


@emulated(max_grid_y=2)
def test_colour_affine_uint8_grid_stride_rows(gpu):
    """Two block rows for 14 frame rows (each striding over seven), a row of 300 pixels in two
    blocks, the second partly idle."""
    frames = torch.randint(0, 256, (2, 7, 300, 3), dtype=torch.uint8)
    a, b = torch.rand(2, 6, 3, 20) * 2 - 0.5, torch.rand(2, 3, 3, 20) - 0.5
    diff = (gpu.colour_affine_uint8(frames, a, b).int()
            - reference.colour_affine_uint8(frames, a, b).int()).abs()
    assert diff.max() <= 1 and (diff > 0).sum() <= max(1, frames.numel() // 1000)
    assert gpu.take_launches().tolist() == [[2, 2, 1]]


@pytest.mark.parametrize("n, h, w, scale, radius", FILTER_SHAPES[:-1])
def test_colour_guided_filter_uint8_is_the_three_kernels(gpu, n, h, w, scale, radius):
    enhanced, dark = noisy_pair(n, h, w, "cpu")
    out = gpu.colour_guided_filter_uint8(enhanced, dark, scale, 1.7, 16.0, list(RGB), radius)
    guide, eps = gpu.guided_inputs_uint8(enhanced, dark, scale, 1.7, 16.0, list(RGB))
    assert torch.equal(out, gpu.colour_affine_uint8(
        enhanced, *gpu.colour_guided_coefficients(guide, eps, radius)))
    if radius > 0:  # not at radius 0: test_colour_guided.py, test_filter_is_the_three_ops
        diff = (out.int() - reference.colour_guided_filter_uint8(
            enhanced, dark, scale, 1.7, 16.0, RGB, radius).int()).abs()
        assert diff.max() <= 1 and (diff > 0).sum() <= max(1, diff.numel() // 1000)


# ---- guided_inputs_uint8 ------------------------------------------------------------------

@pytest.mark.parametrize("n, h, w, c, scale", GUIDED_INPUT_SHAPES)
def test_guided_inputs_uint8_matches_reference(gpu, n, h, w, c, scale):
    enhanced, dark = frame_pair(n, h, w, c, "cpu")
    luma = [0.25] * c
    rtol, atol = TOLERANCES[torch.float32]
    for out, expected in zip(gpu.guided_inputs_uint8(enhanced, dark, scale, 1.7, 16.0, luma),
                             reference.guided_inputs_uint8(enhanced, dark, scale, 1.7, 16.0,
                                                           luma)):
        torch.testing.assert_close(out, expected, rtol=rtol, atol=atol)


@emulated(multiprocessors=1)
def test_guided_inputs_uint8_grid_stride_and_channel_limit(gpu):
    """One SM: 8 blocks for 3,000 pixels; frames of more than 4 channels are refused."""
    enhanced, dark = frame_pair(2, 60, 100, 3, "cpu")
    for out, expected in zip(gpu.guided_inputs_uint8(enhanced, dark, 2, 1.0, 16.0, list(RGB)),
                             reference.guided_inputs_uint8(enhanced, dark, 2, 1.0, 16.0, RGB)):
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert gpu.take_launches().tolist() == [[8, 1, 1]]
    five = torch.zeros(1, 4, 4, 5, dtype=torch.uint8)
    with pytest.raises(ValueError, match="frames of up to 4 channels; got 5"):
        gpu.guided_inputs_uint8(five, five, 2, 1.0, 16.0, [0.2] * 5)


# ---- loss_pools, total_variation ----------------------------------------------------------

def _exact_grads(fn, inputs, grads):
    inputs = [t.double().requires_grad_() for t in inputs]
    return torch.autograd.grad(fn(*inputs), inputs[0], [g.double() for g in grads])[0]


def check_loss_ops(ops, n, c, h, w, p, e, dtype):
    y, x = torch.rand(n, c, h, w).to(dtype), torch.rand(n, c, h, w).to(dtype)
    r = (torch.rand(n, c, h, w) * 2 - 1).to(dtype)
    rtol, atol = TOLERANCES[dtype]
    pools = ops.loss_pools(y, x, p, e)
    for got, expected in zip(pools, reference.loss_pools(y.double(), x.double(), p, e)):
        torch.testing.assert_close(got.double(), expected, rtol=rtol, atol=atol)
    grads = [torch.randn(t.shape).to(dtype) for t in pools]
    torch.testing.assert_close(
        ops.loss_pools_backward(*grads, [n, c, h, w], p, e).double(),
        _exact_grads(lambda y, x: reference.loss_pools(y, x, p, e), [y, x], grads),
        rtol=rtol, atol=atol)
    torch.testing.assert_close(ops.total_variation(r).double(),
                               reference.total_variation(r.double()), rtol=rtol, atol=atol)
    grad = torch.randn(2).to(dtype)
    torch.testing.assert_close(ops.total_variation_backward(grad, r).double(),
                               _exact_grads(reference.total_variation, [r], [grad]),
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize("n, c, h, w, p, e", LOSS_POOL_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loss_ops_match_reference(gpu, n, c, h, w, p, e, dtype):
    check_loss_ops(gpu, n, c, h, w, p, e, dtype)


def test_loss_ops_in_half_precision(gpu):
    check_loss_ops(gpu, 1, 3, 32, 20, 4, 16, torch.float16)


@emulated(multiprocessors=1)
def test_loss_ops_grid_stride(gpu):
    """One SM: at most 8 blocks of 256 threads, striding over the 24,576 elements."""
    check_loss_ops(gpu, 2, 3, 64, 64, 4, 16, torch.float32)
    assert gpu.take_launches()[:, 0].tolist() == [2, 1, 2, 8, 2, 8]
