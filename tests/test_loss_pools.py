"""The fused reductions of the zero-reference losses (sgz_fast.ops.loss_pools and
total_variation, with their backwards) against their plain-PyTorch twins at every CPU
capability level, and SGZ's loss and training step through them."""
import pytest
import torch

from conftest import TOLERANCES, assert_explained, torch_threads
import sgz_fast
from sgz_fast import losses, ops, reference

pytestmark = pytest.mark.skipif(not sgz_fast._extension.KERNELS["loss_pools"].get("cpu"),
                                reason="the extension has no loss_pools CPU kernel")

# (N, C, H, W, patch_size, exposure_patch_size): the training crop's cells, sizes that leave
# partial cells on both sides, one channel, cells of 1 and of the whole image, lcm(p, e) bands
# of 48 and 80 rows, an empty batch.
POOL_CASES = [
    (2, 3, 32, 32, 4, 16),
    (1, 3, 37, 53, 3, 16),
    (3, 3, 100, 21, 5, 16),
    (1, 1, 16, 17, 4, 16),
    (2, 3, 9, 7, 1, 7),
    (1, 2, 5, 6, 5, 2),
    (0, 3, 16, 16, 4, 16),
]
# r's shapes: sides of 1 and 2, odd sizes, an empty batch.
TV_SHAPES = [(2, 3, 32, 32), (1, 3, 1, 9), (1, 3, 9, 1), (1, 1, 1, 1), (2, 3, 2, 2),
             (1, 3, 37, 53), (0, 3, 4, 4)]


def exact(values):
    """The float64 twins of values (the reference computed in float64 is the oracle)."""
    return [v.double() for v in values]


def assert_close(got, expected, dtype):
    rtol, atol = TOLERANCES[dtype]
    for a, b in zip(got, expected):
        assert a.dtype == dtype
        torch.testing.assert_close(a.double(), b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("n,c,h,w,p,e", POOL_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loss_pools_matches_reference(cpu_device, n, c, h, w, p, e, dtype):
    y, x = torch.rand(n, c, h, w, dtype=dtype), torch.rand(n, c, h, w, dtype=dtype)
    assert_close(ops.loss_pools(y, x, p, e), reference.loss_pools(*exact([y, x]), p, e), dtype)


def pool_gradients(fn, y, x, p, e, grads):
    y, x = y.detach().requires_grad_(), x.detach().requires_grad_()
    return torch.autograd.grad(fn(y, x, p, e), (y, x), grads)


@pytest.mark.parametrize("n,c,h,w,p,e", POOL_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loss_pools_gradient_matches_autograd(cpu_device, n, c, h, w, p, e, dtype):
    y, x = torch.rand(n, c, h, w, dtype=dtype), torch.rand(n, c, h, w, dtype=dtype)
    grads = [torch.randn(s.shape, dtype=dtype) for s in reference.loss_pools(y, x, p, e)]
    got = pool_gradients(ops.loss_pools, y, x, p, e, grads)
    expected = pool_gradients(reference.loss_pools, *exact([y, x]), p, e, exact(grads))
    assert_close(got, expected, dtype)


@pytest.mark.parametrize("shape", TV_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_total_variation_and_its_gradient_match_reference(cpu_device, shape, dtype):
    r = (torch.rand(shape, dtype=dtype) * 2 - 1).requires_grad_()
    grad = torch.randn(2, dtype=dtype)
    got = ops.total_variation(r)
    r64 = r.detach().double().requires_grad_()
    expected = reference.total_variation(r64)
    assert_close([got, *torch.autograd.grad(got, r, grad)],
                 [expected, *torch.autograd.grad(expected, r64, grad.double())], dtype)


def test_sums_do_not_depend_on_the_thread_count():
    y, x, r = torch.rand(2, 3, 200, 64), torch.rand(2, 3, 200, 64), torch.randn(2, 3, 200, 64)
    results = []
    for threads in (1, 2, 3):
        with torch_threads(threads):
            results.append([*ops.loss_pools(y, x, 3, 16), ops.total_variation(r)])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(a, b)


def loss_and_gradients(y, x, r, fused):
    y, r = y.detach().requires_grad_(), r.detach().requires_grad_()
    terms = losses.sgz_loss(y, x, r, patch_size=4, fused=fused)
    return [*terms, *torch.autograd.grad(terms.total, (y, r))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sgz_loss_fused_equals_eager(dtype):
    y, x = torch.rand(2, 3, 48, 40, dtype=dtype), torch.rand(2, 3, 48, 40, dtype=dtype)
    r = torch.rand(2, 3, 48, 40, dtype=dtype) * 2 - 1
    got = loss_and_gradients(y, x, r, fused=True)
    assert_close(got, loss_and_gradients(*exact([y, x, r]), fused=False), dtype)


def test_train_step_takes_the_fused_loss_with_the_fused_backend(monkeypatch):
    from sgz_fast import train  # here, not above: it needs PIL, which the op tests do not
    from sgz_fast.model import SGZ
    calls = []
    real = ops.loss_pools
    monkeypatch.setattr(ops, "loss_pools", lambda *a: calls.append(1) or real(*a))
    args = train.build_parser().parse_args([])
    images = torch.rand(2, 3, 32, 32)
    for backend, expected in (("fused", [1]), ("reference", [1])):
        model = SGZ(1, backend=backend)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        train.train_step(model, None, optimizer, images, args)
        assert calls == expected


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_sgz_loss_under_torch_compile(backend):
    y, x, r = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)

    def total(y, r):
        return losses.sgz_loss(y, x, r, fused=True).total
    compiled = torch.compile(total, fullgraph=True, backend=backend)
    y, r = y.requires_grad_(), r.requires_grad_()
    got = [compiled(y, r), *torch.autograd.grad(compiled(y, r), (y, r))]
    expected = [total(y, r), *torch.autograd.grad(total(y, r), (y, r))]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


def test_opcheck():
    y, x, r = torch.rand(2, 3, 20, 17), torch.rand(2, 3, 20, 17), torch.randn(2, 3, 20, 17)
    check = torch.library.opcheck
    check(torch.ops.sgz_fast.loss_pools.default, (y.requires_grad_(), x.requires_grad_(), 4, 16))
    check(torch.ops.sgz_fast.loss_pools_backward.default,
          (torch.randn(2, 1, 5, 4), torch.randn(2, 1, 1, 1), torch.randn(2, 3), [2, 3, 20, 17],
           4, 16))
    check(torch.ops.sgz_fast.total_variation.default, (r.requires_grad_(),))
    check(torch.ops.sgz_fast.total_variation_backward.default, (torch.randn(2), r.detach()))


def _pools(*shape, p=4, e=16, dtype=torch.float32):
    return lambda: (torch.rand(shape).to(dtype), torch.rand(shape).to(dtype), p, e)


def _pools_backward(spatial, exposure, means, size, dtype=torch.float64):
    return lambda: (torch.rand(spatial, dtype=torch.float32), torch.rand(exposure, dtype=dtype),
                    torch.rand(means), size, 4, 16)


# Bad arguments, each (make the arguments, the message): loss_pools's, its backward's and
# total_variation's (run by test_error_contract.py too).
CASES = {
    "loss_pools: 3-D": (_pools(3, 16, 16), r"enhanced must be a 4-D tensor \(N, C, H, W\)"),
    "loss_pools: no channel": (_pools(1, 0, 16, 16), r"needs at least one channel"),
    "loss_pools: smaller than a cell": (
        _pools(1, 3, 15, 20), r"the image \(15x20\) must be at least exposure_patch_size \(16\)"),
    "loss_pools: patch 0": (_pools(1, 3, 16, 16, p=0), r"patch_size must be >= 1; got 0"),
    "loss_pools: image shape": (
        lambda: (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17), 4, 16),
        r"image must have enhanced's shape \[1, 3, 16, 16\]; got \[1, 3, 16, 17\]"),
    "loss_pools: integer": (_pools(1, 3, 16, 16, dtype=torch.int64),
                            r"enhanced must be a floating-point tensor; got (torch.int64|Long)"),
    "loss_pools: image dtype": (
        lambda: (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16).double(), 4, 16),
        r"image is (torch.float64|Double) on cpu; enhanced is (torch.float32|Float) on cpu"),
    "loss_pools_backward: spatial shape": (
        _pools_backward((1, 1, 4, 3), (1, 1, 1, 1), (1, 3), [1, 3, 16, 16]),
        r"grad_spatial must have shape \[1, 1, 4, 4\]; got \[1, 1, 4, 3\]"),
    "loss_pools_backward: exposure dtype": (
        _pools_backward((1, 1, 4, 4), (1, 1, 1, 1), (1, 3), [1, 3, 16, 16]),
        r"grad_exposure is (torch.float64|Double) on cpu; grad_spatial is"),
    "loss_pools_backward: size": (
        _pools_backward((1, 1, 4, 4), (1, 1, 1, 1), (1, 3), [1, 3, 16]),
        r"enhanced must be a 4-D tensor"),
    "total_variation: 2-D": (lambda: (torch.rand(4, 4),), r"r must be a 4-D tensor"),
    "total_variation: integer": (lambda: (torch.zeros(1, 1, 2, 2, dtype=torch.int32),),
                                 r"r must be a floating-point tensor"),
    "total_variation_backward: grad shape": (
        lambda: (torch.rand(3), torch.rand(1, 1, 2, 2)), r"grad must have shape \(2,\)"),
}


def op_of(case):
    return getattr(torch.ops.sgz_fast, case.split(":")[0]).default


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_explained(case):
    make, message = CASES[case]
    assert_explained(op_of(case), make(), message)


def test_the_image_needs_cells_that_fit():
    y = torch.rand(1, 3, 12, 12)
    with pytest.raises(ValueError, match=r"at least exposure_patch_size \(16\)"):
        losses.sgz_loss(y, y, y, fused=True)
