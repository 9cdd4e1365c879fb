"""The gradient of sgz_fast.ops.factor_net (its CPU op factor_net_backward, which recomputes
the activations in rings of rows) against autograd through the plain-PyTorch per-layer
model, at every CPU capability level; and the model training through it."""
import pytest
import torch

from conftest import (NETWORK_GRADIENT_TOLERANCES, NETWORK_TOLERANCES, assert_explained,
                      torch_threads)
import sgz_fast
from sgz_fast import ops
from sgz_fast.model import SGZ
from test_factor_net import SHAPES, make_model

pytestmark = pytest.mark.skipif(
    not sgz_fast._extension.KERNELS["factor_net_backward"].get("cpu"),
    reason="the extension has no factor_net_backward CPU kernel")


def gradients(factors, model, x, grad):
    """The weights' gradients of sum(grad * factors(x))."""
    params = list(model.parameters())
    return torch.autograd.grad(factors(x, params), params, grad)


def per_layer_reference(model):
    return lambda x, params: model._layer_by_layer(x, fused=False)


def assert_gradients_close(got, model, x, grad):
    """got: the gradients of the weights from the fused network, against autograd through the
    per-layer reference (NETWORK_GRADIENT_TOLERANCES: float32 against float64)."""
    names = [n for n, _ in model.named_parameters()]
    if x.dtype == torch.float64:
        expected = gradients(per_layer_reference(model), model, x, grad)
        for name, a, b in zip(names, got, expected):
            tol = NETWORK_GRADIENT_TOLERANCES[b.dtype] * max(b.abs().max().item(), 1e-30)
            torch.testing.assert_close(a, b, rtol=0, atol=tol, msg=lambda m: f"{name}: {m}")
        return
    eager = gradients(per_layer_reference(model), model, x, grad)
    model64 = SGZ(scale_factor=1).double()
    model64.load_state_dict(model.state_dict())
    exact = gradients(per_layer_reference(model64), model64, x.double(), grad.double())
    for name, a, e, b in zip(names, got, eager, exact):
        allowed = NETWORK_GRADIENT_TOLERANCES[a.dtype] * (e.double() - b).abs().max().item()
        allowed = max(allowed, NETWORK_TOLERANCES[a.dtype][0] * b.abs().max().item())
        torch.testing.assert_close(a.double(), b, rtol=0, atol=allowed,
                                   msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_autograd_through_the_per_layer_model(cpu_device, shape, dtype):
    model = make_model(dtype)
    x = torch.rand(shape[0], 3, *shape[1:], dtype=dtype)
    grad = torch.randn(x.shape, dtype=dtype)
    assert_gradients_close(gradients(ops.factor_net, model, x, grad), model, x, grad)


@pytest.mark.parametrize("threads", [1, 2, 3, 7])
@pytest.mark.parametrize("width", [19, 270])
def test_tiles_of_any_size(cpu_device, threads, width):
    """One image on more threads than it has bands of 11 rows: bands of 3-23 rows, each
    recomputing the 11 rows around it that its gradients depend on; 270 columns: three strips
    of 90, each recomputing 11 columns on each inner side."""
    model = make_model(torch.float64)
    x = torch.rand(1, 3, 23, width, dtype=torch.float64)
    grad = torch.randn(x.shape, dtype=torch.float64)
    with torch_threads(threads):
        got = gradients(ops.factor_net, model, x, grad)
    assert_gradients_close(got, model, x, grad)


def test_both_ends_of_both_activations(cpu_device):
    """float64 only: near tanh's ends 1 - x_r^2 is a difference of nearly equal numbers, and
    a float32 x_r a few ulp off (the network's rational tanh) changes it by up to 100%."""
    dtype = torch.float64
    model = make_model(dtype, tanh_bias=(14.0, -14.0, 0.0))
    with torch.no_grad():  # half the ReLU layers' outputs at zero
        for block in (model.e_conv2, model.e_conv4, model.e_conv6):
            block.point_conv.bias.sub_(1.0)
    x = torch.rand(2, 3, 19, 45, dtype=dtype)
    grad = torch.randn(x.shape, dtype=dtype)
    assert_gradients_close(gradients(ops.factor_net, model, x, grad), model, x, grad)


def test_any_strides_and_empty_batches(cpu_device):
    model = make_model(torch.float64)
    x = torch.rand(1, 3, 24, 40, dtype=torch.float64)
    for strided in (x[:, :, ::2, 1::2], x.to(memory_format=torch.channels_last)):
        grad = torch.randn(strided.shape, dtype=torch.float64).transpose(2, 3).contiguous()
        grad = grad.transpose(2, 3)  # a strided gradient too
        assert_gradients_close(gradients(ops.factor_net, model, strided, grad), model, strided, grad)
    for empty in (torch.rand(0, 3, 5, 5), torch.rand(1, 3, 0, 5)):
        model32 = make_model(torch.float32)
        for g in gradients(ops.factor_net, model32, empty, torch.rand(empty.shape)):
            assert not g.any()


def test_no_gradient_for_the_image():
    model = make_model(torch.float32)
    x = torch.rand(1, 3, 6, 6, requires_grad=True)
    out = ops.factor_net(x, list(model.parameters()))
    with pytest.raises(RuntimeError, match="factor_net gives no gradient for x"):
        out.sum().backward()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
def test_no_gradient_on_cuda():
    model = make_model(torch.float32).cuda()
    out = ops.factor_net(torch.rand(1, 3, 6, 6, device="cuda"), list(model.parameters()))
    with pytest.raises(RuntimeError, match="factor_net has no gradient on cuda"):
        out.sum().backward()


def test_the_model_trains_through_the_fused_network(monkeypatch):
    calls = []
    real = ops.factor_net
    monkeypatch.setattr(ops, "factor_net", lambda *a: calls.append(1) or real(*a))
    model = make_model(torch.float64)
    twin = SGZ(scale_factor=1, backend="reference").double()
    twin.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 30, 44, dtype=torch.float64)
    model(x)[0].square().mean().backward()
    assert calls == [1]
    twin(x)[0].square().mean().backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        tol = NETWORK_GRADIENT_TOLERANCES[torch.float64] * q.grad.abs().max().item()
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=tol, msg=lambda m: f"{name}: {m}")
    # The image needs a gradient: the per-layer ops, which give it one.
    image = x.clone().requires_grad_()
    model(image)[0].sum().backward()
    assert calls == [1] and image.grad is not None


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_under_torch_compile(backend):
    model = make_model(torch.float32)
    params = list(model.parameters())
    x, grad = torch.rand(1, 3, 20, 24), torch.randn(1, 3, 20, 24)

    def loss(x, params):
        return (ops.factor_net(x, params) * grad).sum()
    compiled = torch.compile(loss, fullgraph=True, backend=backend)
    got = torch.autograd.grad(compiled(x, params), params)
    assert_gradients_close(got, model, x, grad)


def test_opcheck():
    model = make_model(torch.float32)
    params = [p.detach() for p in model.parameters()]
    x = torch.rand(2, 3, 9, 11)
    out = ops.factor_net(x, params)
    torch.library.opcheck(torch.ops.sgz_fast.factor_net_backward.default,
                          (torch.randn(2, 3, 9, 11), x, out, params))
    torch.library.opcheck(torch.ops.sgz_fast.factor_net.default,
                          (x, [p.clone().requires_grad_() for p in params]))


def _good(dtype=torch.float32):
    params = [p.detach() for p in make_model(dtype).parameters()]
    x = torch.rand(1, 3, 5, 5, dtype=dtype)
    return torch.rand(1, 3, 5, 5, dtype=dtype), x, torch.rand(1, 3, 5, 5, dtype=dtype), params


# Bad arguments of factor_net_backward (factor_net's own are test_factor_net.BAD_INPUTS):
# each a function of good ones, (args, message).
BAD_INPUTS = {
    "grad shape": lambda g, x, o, p: (
        (g[:, :, :4], x, o, p), r"grad must have x's shape \[1, 3, 5, 5\]; got \[1, 3, 4, 5\]"),
    "out shape": lambda g, x, o, p: ((g, x, o[:1, :2], p), r"out must have x's shape"),
    "grad dtype": lambda g, x, o, p: ((g.double(), x, o, p),
                                      r"grad is (torch.float64|Double) on cpu; x is"),
    "params": lambda g, x, o, p: ((g, x, o, p[:27]), r"params must hold the 28 tensors"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_explained(case):
    args, message = BAD_INPUTS[case](*_good())
    assert_explained(torch.ops.sgz_fast.factor_net_backward.default, args, message)
