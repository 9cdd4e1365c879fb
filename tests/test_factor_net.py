"""sgz_fast.ops.factor_net, SGZ's whole factor network fused, against the per-layer model
(seven ops.dsconv calls) at every CPU capability level and on CUDA, and the model's choice
between the two (its gradient: test_factor_net_backward.py). (The CUDA kernel also runs on
the CPU, emulated, in test_cuda_emulation.py.)"""
import pytest
import torch

from conftest import NETWORK_TOLERANCES, assert_explained, torch_threads
import sgz_fast
from sgz_fast import ops
from sgz_fast.model import SGZ

pytestmark = pytest.mark.skipif(not sgz_fast._extension.KERNELS["factor_net"].get("cpu"),
                                reason="the extension has no factor_net CPU kernel")

# (N, H, W): sides of 1, 2 and 7 (smaller than the 7-pixel halo), odd sizes, batches, and
# widths over one 128-column strip (3 to 5 strips, the last one narrower).
SHAPES = [(1, 1, 1), (1, 2, 2), (1, 7, 7), (1, 1, 40), (1, 40, 1), (2, 7, 33), (1, 2, 300),
          (3, 13, 17), (1, 37, 301), (1, 20, 531)]


def make_model(dtype, tanh_bias=None):
    """An SGZ with random weights; `tanh_bias` sets e_conv7's output biases (its pointwise
    weights then scaled by 3), to drive tanh's input far into its ends."""
    model = SGZ(scale_factor=1).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
        if tanh_bias is not None:
            model.e_conv7.point_conv.weight.mul_(3.0)
            model.e_conv7.point_conv.bias.copy_(torch.tensor(tanh_bias))
    return model


def per_layer(model, x):
    """The factors through the seven per-layer fused ops (what training runs)."""
    with torch.no_grad():
        return model._layer_by_layer(x, fused=True)


def assert_network_close(got, expected):
    rtol, atol = NETWORK_TOLERANCES[got.dtype]
    torch.testing.assert_close(got, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_the_per_layer_model(device, shape, dtype):
    model = make_model(dtype).to(device)
    x = torch.rand(shape[0], 3, *shape[1:], dtype=dtype, device=device)
    got = ops.factor_net(x, list(model.parameters()))
    assert got.shape == x.shape and got.is_contiguous()
    assert_network_close(got, per_layer(model, x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_both_ends_of_both_activations(cpu_device, dtype):
    model = make_model(dtype, tanh_bias=(14.0, -14.0, 0.0))  # both ends, and the middle
    with torch.no_grad():  # half the ReLU layers' outputs at zero
        for block in (model.e_conv2, model.e_conv4, model.e_conv6):
            block.point_conv.bias.sub_(1.0)
    x = torch.rand(2, 3, 19, 45, dtype=dtype)
    got = ops.factor_net(x, list(model.parameters()))
    expected = per_layer(model, x)
    assert (expected.abs() > 0.999999).float().mean() > 0.2, "tanh's saturated ends not reached"
    assert (expected.abs() < 0.5).any(), "tanh's linear part not reached"
    assert_network_close(got, expected)
    assert got.abs().max() <= 1.0


@pytest.mark.parametrize("threads", [3, 7])
def test_tiles_thinner_than_the_halo(cpu_device, threads):
    """More threads than rows / 7: row bands of 2-5 rows, each recomputing its halo."""
    model = make_model(torch.float64)
    x = torch.rand(1, 3, 30, 20, dtype=torch.float64)
    with torch_threads(threads):
        got = ops.factor_net(x, list(model.parameters()))
    assert_network_close(got, per_layer(model, x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_same_for_any_thread_count(cpu_device, dtype):
    """1-4 threads cut a 9 x 300 image into 3 or 4 strips and 1 or 2 bands: every pixel is
    computed with its sums in one order wherever the tiles' edges fall, so to the bit."""
    model = make_model(dtype)
    x = torch.rand(1, 3, 9, 300, dtype=dtype)
    results = []
    for threads in (1, 2, 3, 4):
        with torch_threads(threads):
            results.append(ops.factor_net(x, list(model.parameters())))
    for got in results[1:]:
        assert torch.equal(got, results[0])


def test_any_strides_and_empty_batches(cpu_device):
    model = make_model(torch.float32)
    params = list(model.parameters())
    x = torch.rand(1, 3, 24, 40)
    for strided in (x[:, :, ::2, 1::2], x.to(memory_format=torch.channels_last)):
        assert_network_close(ops.factor_net(strided, params), per_layer(model, strided.contiguous()))
    for empty in (torch.rand(0, 3, 5, 5), torch.rand(1, 3, 0, 5), torch.rand(2, 3, 4, 0)):
        assert ops.factor_net(empty, params).shape == empty.shape


def test_the_levels_agree():
    model = make_model(torch.float32)
    x = torch.rand(1, 3, 21, 70)
    results = []
    for level in sgz_fast.cpu_capabilities():
        previous = sgz_fast.set_cpu_capability(level)
        try:
            results.append(ops.factor_net(x, list(model.parameters())))
        finally:
            sgz_fast.set_cpu_capability(previous)
    for other in results[1:]:
        assert_network_close(other, results[0])


def _bad_params(dtype=torch.float32):
    return list(make_model(dtype).parameters())


# Bad arguments, each a function of good parameters: (args, message).
BAD_INPUTS = {
    "channels": lambda p: ((torch.rand(1, 4, 5, 5), p),
                           r"x must be a batch of RGB images \(N, 3, H, W\)"),
    "3-D": lambda p: ((torch.rand(3, 5, 5), p), r"x must be a batch of RGB images"),
    "count": lambda p: ((torch.rand(1, 3, 5, 5), p[:27]), r"params must hold the 28 tensors"),
    "order": lambda p: ((torch.rand(1, 3, 5, 5), p[4:] + p[:4]),
                        r"params\[\d+\] \(e_conv\d\.\w+\.\w+\) must have shape"),
    "dtype": lambda p: ((torch.rand(1, 3, 5, 5, dtype=torch.float64), p),
                        r"params\[0\] \(e_conv1.depth_conv.weight\) is (torch.float32|Float)"),
    "half": lambda p: ((torch.rand(1, 3, 5, 5).half(), [t.half() for t in p]),
                       r"factor_net on CPU supports float32 and float64"),
    "int": lambda p: ((torch.zeros(1, 3, 5, 5, dtype=torch.int32), p), r"floating-point"),
}


@pytest.mark.parametrize("fn", [ops.factor_net, torch.ops.sgz_fast.factor_net.default],
                         ids=["ops", "torch.ops"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_explained(fn, case):
    args, message = BAD_INPUTS[case](_bad_params())
    assert_explained(fn, args, message)


@pytest.mark.parametrize("case", [
    lambda p: ((torch.rand(1, 4, 5, 5), p), r"x must be a batch of RGB images"),
    lambda p: ((torch.rand(1, 3, 5, 5), p[:27]), r"params must hold the 28 tensors"),
    lambda p: ((torch.rand(1, 3, 5, 5), p[4:] + p[:4]), r"must have shape"),
    lambda p: ((torch.rand(1, 3, 5, 5, dtype=torch.float64), p), r"is torch.float32"),
], ids=["channels", "count", "order", "dtype"])
def test_the_fake_kernel_explains_the_same(case):
    args, message = case(_bad_params())
    x, params = args
    meta = (x.to("meta"), [t.to("meta") for t in params])
    assert_explained(ops.factor_net, meta, message)


def test_opcheck():  # with gradients: test_factor_net_backward.py
    model = make_model(torch.float32)
    torch.library.opcheck(torch.ops.sgz_fast.factor_net.default,
                          (torch.rand(2, 3, 9, 11), [p.detach() for p in model.parameters()]))


def test_the_model_fuses_the_network_on_the_cpu(monkeypatch, cpu_device):
    """For inference and for training (test_factor_net_backward.py checks the gradients);
    the per-layer ops only when the image itself needs a gradient."""
    calls = []
    real = ops.factor_net
    monkeypatch.setattr(ops, "factor_net", lambda *a: calls.append(1) or real(*a))
    model = make_model(torch.float32)
    x = torch.rand(1, 3, 30, 44)
    enhanced, x_r = model(x)  # gradients recorded for the weights
    assert calls == [1] and x_r.requires_grad
    per_layer_enhanced, per_layer_x_r = model(x.clone().requires_grad_())
    assert calls == [1]
    assert_network_close(x_r.detach(), per_layer_x_r.detach())
    torch.testing.assert_close(enhanced.detach(), per_layer_enhanced.detach(), rtol=1e-5,
                               atol=1e-5)
    with torch.no_grad():
        model(x)
    with torch.inference_mode():
        model.enhance(x)
    model.requires_grad_(False)
    model.enhance(x)
    frames = (torch.rand(31, 45, 3) * 255).to(torch.uint8)
    model.requires_grad_(True)
    model.enhance_uint8(frames)  # bytes out, always inference
    assert calls == [1] * 5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
def test_on_cuda_the_model_fuses_the_low_resolution_pass_only(monkeypatch):
    shapes = []
    real = ops.factor_net
    monkeypatch.setattr(ops, "factor_net", lambda x, p: shapes.append(tuple(x.shape)) or real(x, p))
    model = make_model(torch.float32).cuda()  # scale 1: the network sees the image itself
    with torch.no_grad():
        model(torch.rand(1, 3, 180, 320, device="cuda"))  # CUDA_WHOLE_NETWORK_PIXELS: one op
        model(torch.rand(1, 3, 181, 320, device="cuda"))  # one row more: the per-layer ops
    model(torch.rand(1, 3, 90, 160, device="cuda"))  # training: no CUDA backward, per-layer
    assert shapes == [(1, 3, 180, 320)]


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
@pytest.mark.parametrize("scale", [1, 12])
def test_model_under_torch_compile(scale, backend):
    model = SGZ(scale_factor=scale).eval()
    x = torch.rand(1, 3, 48, 60)
    compiled = torch.compile(model.enhance, fullgraph=True, backend=backend)
    with torch.no_grad():  # inductor's own downsampling rounds differently at scale 12
        assert_network_close(compiled(x), model.enhance(x))
