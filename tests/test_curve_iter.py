"""sgz_fast.ops.curve_iter against sgz_fast.reference.curve_iter."""
import pytest
import torch

from conftest import TOLERANCES, torch_threads
from sgz_fast import ops, reference

# (x shape, r spatial size): same size, factor 2, factor 12, a non-integer ratio, odd sizes,
# one-pixel r, rows only / columns only upsampled, single-row and single-column images.
SHAPES = [
    ((2, 3, 16, 20), (16, 20)),
    ((2, 3, 24, 30), (12, 15)),
    ((1, 3, 48, 72), (4, 6)),
    ((2, 3, 50, 61), (7, 9)),
    ((3, 1, 13, 17), (13, 17)),
    ((1, 2, 11, 9), (1, 1)),
    ((1, 3, 25, 8), (5, 8)),
    ((1, 3, 8, 25), (8, 5)),
    ((2, 2, 1, 37), (1, 4)),
    ((2, 2, 37, 1), (4, 1)),
]


def random_inputs(x_shape, r_hw, dtype, device):
    x = torch.rand(x_shape, dtype=dtype, device=device)
    r = torch.rand((*x_shape[:2], *r_hw), dtype=dtype, device=device) * 2 - 1
    return x, r


def assert_close(actual, expected, dtype):
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(actual, expected.to(actual.dtype), rtol=rtol, atol=atol)


def assert_as_close_as_the_reference(fused, reference_fn, inputs, dtype, steps, scales=(1, 1)):
    """fused (outputs of the op on `inputs`) must be as close to the float64 truth as the
    reference in `dtype` is, give or take the dtype's tolerance. Each curve step rounds its
    multiply-add (fused or not, by the CPU level's FMA), and near the curve's fixed points
    (x near 0 or 1, where each step multiplies an error by up to 2) 13 steps turn that into
    1e-4: the reference and the kernel are then each ~6e-5 from the truth, in opposite
    directions. The dtype's tolerance grows with the steps (2.2e-5 seen at 13)."""
    rtol, atol = (tol * max(1.0, steps / 4) for tol in TOLERANCES[dtype])
    expected = reference_fn(*inputs)
    truth = reference_fn(*(t.to(torch.float64, copy=True) for t in inputs))
    for got, ref, exact, scale in zip(fused, expected, truth, scales):
        ref_error = (ref.double() - exact).abs() if dtype != torch.float64 else 0
        allowed = scale * (atol + rtol * exact.abs()) + 2 * ref_error
        error = (got.double() - exact).abs()
        assert (error <= allowed).all(), (
            f"off the float64 truth by {(error - allowed).max().item():.3g} more than allowed "
            f"(largest error {error.max().item():.3g})")


# 13 = a full pass of 8 register-resident steps plus a pass of 5 in the CPU kernels.
@pytest.mark.parametrize("x_shape,r_hw", SHAPES)
@pytest.mark.parametrize("iterations", [1, 8, 13])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_matches_reference(device, x_shape, r_hw, iterations, dtype):
    x, r = random_inputs(x_shape, r_hw, dtype, device)
    assert_as_close_as_the_reference([ops.curve_iter(x, r, iterations)],
                                     lambda x, r: [reference.curve_iter(x, r, iterations)],
                                     (x, r), dtype, iterations)


@pytest.mark.parametrize("x_shape,r_hw", SHAPES)
@pytest.mark.parametrize("iterations", [1, 8, 13])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_match_reference(device, x_shape, r_hw, iterations, dtype):
    x, r = random_inputs(x_shape, r_hw, dtype, device)
    grad = torch.randn(x_shape, dtype=dtype, device=device)

    def gradients(fn):
        def run(x, r, grad):
            xa, ra = x.clone().requires_grad_(), r.clone().requires_grad_()
            fn(xa, ra, iterations).backward(grad)
            return xa.grad, ra.grad
        return run

    # The derivatives are products of one factor per step, up to 2^steps, rounded step by step
    # in a different order than autograd's; r's gradient sums up to (2 * factor)^2 terms per
    # element: its tolerance scales with them.
    terms = (x_shape[2] // r_hw[0] + 1) * (x_shape[3] // r_hw[1] + 1)
    assert_as_close_as_the_reference(gradients(ops.curve_iter)(x, r, grad),
                                     gradients(reference.curve_iter), (x, r, grad), dtype,
                                     iterations, scales=(1, terms))


@pytest.mark.parametrize("needs", [(True, False), (False, True)])
def test_gradient_of_one_input_only(device, needs):
    x, r = random_inputs((2, 3, 30, 40), (5, 7), torch.float64, device)
    x.requires_grad_(needs[0])
    r.requires_grad_(needs[1])
    target = x if needs[0] else r
    (fused,) = torch.autograd.grad(ops.curve_iter(x, r).square().sum(), target)
    (expected,) = torch.autograd.grad(reference.curve_iter(x, r).square().sum(), target)
    assert_close(fused, expected, torch.float64)


def test_zero_iterations_is_identity_with_gradients(device):
    x, r = random_inputs((1, 3, 9, 10), (3, 4), torch.float64, device)
    x.requires_grad_()
    r.requires_grad_()
    y = ops.curve_iter(x, r, 0)
    assert torch.equal(y, x) and y.data_ptr() != x.data_ptr()
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x)) and torch.equal(r.grad, torch.zeros_like(r))


# Channels last is how images permuted from (H, W, C) arrive; the CPU kernel reads it as it
# is (blocks of 256 pixels: widths below, at and past one block), CUDA through a planar copy.
@pytest.mark.parametrize("x_shape,r_hw", SHAPES + [((2, 3, 5, 300), (2, 25)),
                                                   ((1, 3, 3, 256), (3, 256))])
@pytest.mark.parametrize("iterations", [0, 5, 8, 13])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_channels_last_x_gives_the_planar_result(device, x_shape, r_hw, iterations, dtype):
    x, r = random_inputs(x_shape, r_hw, dtype, device)
    x_last = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    assert x_last.is_contiguous(memory_format=torch.channels_last)
    y = ops.curve_iter(x_last, r, iterations)
    assert y.is_contiguous()
    assert torch.equal(y, ops.curve_iter(x, r, iterations))


def test_non_contiguous_inputs(device):
    base = torch.rand(2, 3, 40, 33, dtype=torch.float64, device=device)
    x = base[:, :, ::2, 1:]  # strided view, 20 x 32
    r = (torch.rand(2, 5, 7, 3, dtype=torch.float64, device=device) * 2 - 1).permute(0, 3, 1, 2)
    r = r.contiguous(memory_format=torch.channels_last)[:, :, :, :4]
    assert not x.is_contiguous() and not r.is_contiguous()
    x.requires_grad_()
    r.requires_grad_()
    grad = torch.randn(2, 3, 20, 32, dtype=torch.float64, device=device).transpose(2, 3)
    grad = grad.contiguous().transpose(2, 3)
    fused = ops.curve_iter(x, r)
    fused_grads = torch.autograd.grad(fused, (x, r), grad)
    expected = reference.curve_iter(x, r)
    expected_grads = torch.autograd.grad(expected, (x, r), grad)
    assert_close(fused, expected, torch.float64)
    for a, b in zip(fused_grads, expected_grads):
        assert_close(a, b, torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size, r", [
    ((2, 3), [[0.5, 0.25], [float("inf"), 0.1]]),   # rows kept, columns upsampled
    ((3, 2), [[0.5, float("inf")], [0.25, 0.1]]),   # the other way round
    ((2, 5), [[float("nan"), -0.5, 0.3], [0.25, float("-inf"), 0.1]]),
])
def test_non_finite_factors_where_an_axis_keeps_its_size(device, dtype, size, r):
    # PyTorch reads a kept axis's samples alone: the finite factors' pixels stay finite.
    x = torch.full((1, 1, *size), 0.5, dtype=dtype, device=device)
    r = torch.tensor([[r]], dtype=dtype, device=device)
    rtol, atol = TOLERANCES[dtype]
    for iterations in (1, 8):
        torch.testing.assert_close(ops.curve_iter(x, r, iterations),
                                   reference.curve_iter(x, r, iterations), rtol=rtol, atol=atol,
                                   equal_nan=True)


def test_the_same_on_any_number_of_threads(device):
    # Rows past what one parallel task takes (32768 values), so that two threads split them.
    x = torch.rand(2, 3, 67, 301, device=device)
    r = (torch.rand(2, 3, 7, 26, device=device) * 2 - 1).requires_grad_()
    frames = (x.permute(0, 2, 3, 1) * 255).to(torch.uint8).contiguous()
    grad = torch.rand_like(x)
    runs = []
    for threads in (1, 2):
        with torch_threads(threads):
            enhanced = ops.curve_iter(x, r)
            runs.append([enhanced, *torch.autograd.grad(enhanced, r, grad),
                         ops.curve_iter(x.contiguous(memory_format=torch.channels_last), r),
                         ops.curve_iter_uint8(frames, r.detach())])
    assert all(map(torch.equal, *runs))


def test_large_values_still_compute(device):
    # Outside [0, 1] the curve diverges quickly; both paths must agree, infinities included.
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64, device=device) * 20 - 10
    r = torch.rand(1, 3, 2, 2, dtype=torch.float64, device=device) * 2 - 1
    torch.testing.assert_close(ops.curve_iter(x, r, 3), reference.curve_iter(x, r, 3),
                               rtol=1e-10, atol=0, equal_nan=True)


@pytest.mark.parametrize("x_shape,r_shape", [((0, 3, 8, 8), (0, 3, 2, 2)),
                                             ((1, 3, 0, 8), (1, 3, 0, 2))])
def test_empty_inputs(device, x_shape, r_shape):
    x = torch.rand(x_shape, device=device, requires_grad=True)
    r = torch.rand(r_shape, device=device, requires_grad=True)
    y = ops.curve_iter(x, r)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad.shape == x.shape and r.grad.shape == r.shape


@pytest.mark.parametrize("x_shape,r_hw", [((1, 2, 5, 6), (5, 6)), ((2, 1, 7, 5), (3, 2)),
                                          ((1, 1, 6, 6), (1, 1))])
def test_gradcheck_float64(device, x_shape, r_hw):
    x, r = random_inputs(x_shape, r_hw, torch.float64, device)
    x.requires_grad_()
    r.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: ops.curve_iter(a, b, 8), (x, r))


@pytest.mark.parametrize("r_hw", [(12, 10), (3, 4)])
def test_opcheck(device, r_hw):
    x, r = random_inputs((2, 3, 12, 10), r_hw, torch.float32, device)
    x.requires_grad_()
    r.requires_grad_()
    torch.library.opcheck(torch.ops.sgz_fast.curve_iter.default, (x, r, 8))
    grad = torch.randn_like(x)
    torch.library.opcheck(torch.ops.sgz_fast.curve_iter_backward.default,
                          (grad, x.detach(), r.detach(), 8, True, True))


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_fullgraph(device, backend):
    x, r = random_inputs((2, 3, 24, 36), (2, 3), torch.float32, device)
    x.requires_grad_()
    r.requires_grad_()

    def loss(a, b):
        return (ops.curve_iter(a, b * 0.5, 8) - 0.6).square().mean()

    compiled = torch.compile(loss, fullgraph=True, backend=backend)
    got = compiled(x, r)
    got_grads = torch.autograd.grad(got, (x, r))
    expected = loss(x, r)
    expected_grads = torch.autograd.grad(expected, (x, r))
    assert_close(got, expected, torch.float32)
    for a, b in zip(got_grads, expected_grads):
        assert_close(a, b, torch.float32)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_cuda(dtype):
    if not torch.cuda.is_available():
        pytest.skip("half precision runs on CUDA only; no CUDA device visible")
    x, r = random_inputs((2, 3, 50, 64), (5, 8), dtype, "cuda")
    x.requires_grad_()
    r.requires_grad_()
    y = ops.curve_iter(x, r)
    grad = torch.randn_like(y)
    gx, gr = torch.autograd.grad(y, (x, r), grad)
    x32, r32 = x.detach().float().requires_grad_(), r.detach().float().requires_grad_()
    y32 = reference.curve_iter(x32, r32)
    gx32, gr32 = torch.autograd.grad(y32, (x32, r32), grad.float())
    assert y.dtype == dtype and gx.dtype == dtype and gr.dtype == dtype
    assert_close(y, y32, dtype)
    assert_close(gx, gx32, dtype)
    # r's gradient is a sum of about 110 float32 terms, rounded once to the half type.
    torch.testing.assert_close(gr.float(), gr32, rtol=TOLERANCES[dtype][0], atol=0.05)


def test_half_precision_on_cpu_is_refused():
    x = torch.rand(1, 3, 4, 4).half()
    with pytest.raises(TypeError, match="float16 and bfloat16 run on CUDA only"):
        ops.curve_iter(x, x)


def test_meta_tensors_give_shapes():
    x = torch.empty(2, 3, 40, 50, device="meta")
    r = torch.empty(2, 3, 4, 5, device="meta")
    assert ops.curve_iter(x, r).shape == (2, 3, 40, 50)


def test_missing_kernels_raise_instead_of_falling_back(monkeypatch):
    from sgz_fast import _extension
    monkeypatch.setitem(_extension.KERNELS, "curve_iter", {"cpu": False, "cuda": False})
    x, r = random_inputs((1, 3, 8, 8), (2, 2), torch.float32, "cpu")
    with pytest.raises(RuntimeError, match="has no CPU kernel.*reference.curve_iter"):
        ops.curve_iter(x, r)
