"""sgz_fast.ops.dsconv against sgz_fast.reference.dsconv on every device of conftest.DEVICES
(the CUDA cases skip without a GPU), plus float16/bfloat16 on CUDA."""
import pytest
import torch

from conftest import TOLERANCES, torch_threads
import sgz_fast
from sgz_fast import _extension, ops, reference

# (input channel counts, Cout, activation, H, W): the SGZ layers (3->32, 32->32, two 32-channel
# inputs ->32, two 32-channel inputs ->3 with tanh), then odd cases.
LAYERS = [
    ((3,), 32, "relu", 17, 23),
    ((32,), 32, "relu", 12, 9),
    ((32, 32), 32, "relu", 10, 13),
    ((32, 32), 3, "tanh", 9, 16),
    ((5,), 7, "none", 11, 13),
    ((1,), 1, "relu", 6, 7),
    ((2, 3), 4, "tanh", 1, 9),
    ((3,), 5, "relu", 2, 1),
    ((4,), 6, "none", 1, 1),
    ((2, 1, 3), 5, "relu", 2, 37),
    # Widths and channel counts through every path of each level's register blocks (AVX-512:
    # 8 output channels x 2 vectors of 16; AVX2 and SSE2: 6 x 2 of 8 and 4): full blocks,
    # single vectors, partial vectors, and 1 to 7 leftover output channels.
    ((13,), 15, "relu", 3, 50),
    ((6, 5), 13, "tanh", 4, 67),
    ((9,), 11, "none", 2, 40),
]


def make_args(channels, cout, dtype, batch=2, h=8, w=9, biases=True, device="cpu"):
    inputs = [torch.randn(batch, c, h, w, dtype=dtype, device=device) for c in channels]
    cin = sum(channels)
    dw = torch.randn(cin, 1, 3, 3, dtype=dtype, device=device) / 3
    pw = torch.randn(cout, cin, 1, 1, dtype=dtype, device=device) / cin**0.5
    db = torch.randn(cin, dtype=dtype, device=device) if biases else None
    pb = torch.randn(cout, dtype=dtype, device=device) if biases else None
    return inputs, dw, db, pw, pb


def grads_of(fn, inputs, dw, db, pw, pb, activation, grad):
    leaves = [t.clone().requires_grad_() for t in inputs]
    params = [p.clone().requires_grad_() if p is not None else None for p in (dw, db, pw, pb)]
    out = fn(leaves if len(leaves) > 1 else leaves[0], *params, activation)
    out.backward(grad)
    return out, [t.grad for t in leaves] + [p.grad if p is not None else None for p in params]


def assert_all_close(got, expected, dtype, scale=1.0):
    rtol, atol = TOLERANCES[dtype]
    for a, b in zip(got, expected):
        if b is None:
            assert a is None
            continue
        torch.testing.assert_close(a, b, rtol=rtol * scale, atol=atol * scale)


@pytest.mark.parametrize("channels,cout,activation,h,w", LAYERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("biases", [True, False])
def test_forward_and_gradients_match_reference(device, channels, cout, activation, h, w, dtype,
                                               biases):
    inputs, dw, db, pw, pb = make_args(channels, cout, dtype, h=h, w=w, biases=biases,
                                       device=device)
    grad = torch.randn(2, cout, h, w, dtype=dtype, device=device)
    out, grads = grads_of(ops.dsconv, inputs, dw, db, pw, pb, activation, grad)
    out_ref, grads_ref = grads_of(reference.dsconv, inputs, dw, db, pw, pb, activation, grad)
    assert_all_close([out], [out_ref], dtype)
    # Weight gradients sum over every pixel: scale the tolerance with the pixel count.
    assert_all_close(grads, grads_ref, dtype, scale=max(1.0, (2 * h * w) ** 0.5))


def test_non_contiguous_inputs(device):
    inputs, dw, db, pw, pb = make_args((3, 4), 5, torch.float64, h=10, w=12, device=device)
    inputs = [inputs[0].transpose(2, 3).contiguous().transpose(2, 3),
              inputs[1].contiguous(memory_format=torch.channels_last)]
    pw = pw.transpose(0, 1).contiguous().transpose(0, 1)
    grad = torch.randn(2, 5, 10, 12, dtype=torch.float64, device=device)
    out, grads = grads_of(ops.dsconv, inputs, dw, db, pw, pb, "relu", grad)
    out_ref, grads_ref = grads_of(reference.dsconv, inputs, dw, db, pw, pb, "relu", grad)
    assert_all_close([out] + grads, [out_ref] + grads_ref, torch.float64)


def test_gradient_of_weights_only(device):
    inputs, dw, db, pw, pb = make_args((3,), 4, torch.float64, device=device)
    dw.requires_grad_()
    (g_fused,) = torch.autograd.grad(ops.dsconv(inputs, dw, db, pw, pb).sum(), dw)
    (g_ref,) = torch.autograd.grad(reference.dsconv(inputs, dw, db, pw, pb).sum(), dw)
    assert_all_close([g_fused], [g_ref], torch.float64)


@pytest.mark.parametrize("activation", ["relu", "tanh", "none"])
def test_gradcheck_float64(device, activation):
    inputs, dw, db, pw, pb = make_args((2, 1), 3, torch.float64, batch=1, h=4, w=5, device=device)
    args = [t.requires_grad_() for t in inputs + [dw, db, pw, pb]]

    def fn(a, b, *params):
        return ops.dsconv([a, b], *params, activation)
    assert torch.autograd.gradcheck(fn, tuple(args))


def test_opcheck(device):
    inputs, dw, db, pw, pb = make_args((3, 2), 4, torch.float32, device=device)
    for t in inputs + [dw, db, pw, pb]:
        t.requires_grad_()
    torch.library.opcheck(torch.ops.sgz_fast.dsconv.default, (inputs, dw, db, pw, pb, "relu"))
    torch.library.opcheck(torch.ops.sgz_fast.dsconv.default, (inputs, dw, None, pw, None, "tanh"))


def test_backward_fake_kernel_strides_match_with_non_contiguous_weights(device):
    """The kernels return contiguous weight gradients whatever the weights' strides; the fake
    kernel must say so, or torch.compile's outputs disagree with eager ones."""
    inputs, dw, db, pw, pb = make_args((3, 2), 4, torch.float32, device=device)
    dw = dw.permute(3, 2, 1, 0).contiguous().permute(3, 2, 1, 0)  # transposed storage
    pw = pw.permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)
    assert not dw.is_contiguous() and not pw.is_contiguous()
    out = ops.dsconv(inputs, dw, db, pw, pb, "relu")
    grad = torch.randn_like(out)
    torch.library.opcheck(torch.ops.sgz_fast.dsconv_backward.default,
                          (grad, out, inputs, dw, db, pw, "relu"))


def test_torch_compile_fullgraph(device):
    inputs, dw, db, pw, pb = make_args((3, 2), 4, torch.float32, device=device)
    dw.requires_grad_()
    pw.requires_grad_()

    def loss(a, b):
        return ops.dsconv([a, b], dw, db, pw, pb, "relu").square().mean()
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    got = compiled(*inputs)
    got_grads = torch.autograd.grad(got, (dw, pw))
    expected = loss(*inputs)
    expected_grads = torch.autograd.grad(expected, (dw, pw))
    assert_all_close([got, *got_grads], [expected, *expected_grads], torch.float32)


def test_empty_batch(device):
    inputs, dw, db, pw, pb = make_args((3,), 4, torch.float32, batch=0, device=device)
    assert ops.dsconv(inputs, dw, db, pw, pb).shape == (0, 4, 8, 9)


def test_kernels_exist_for_every_device_built():
    info = sgz_fast.build_info()
    assert _extension.KERNELS["dsconv"]["cpu"]
    assert _extension.KERNELS["dsconv"]["cuda"] == info["cuda_compiled"]


@pytest.mark.parametrize("channels,cout,activation,h,w", [
    ((32, 32), 32, "relu", 37, 70), ((32, 32), 3, "tanh", 20, 33), ((5,), 7, "none", 9, 1),
    ((3,), 32, "relu", 16, 64)])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_cuda(channels, cout, activation, h, w, dtype):
    if not torch.cuda.is_available():
        pytest.skip("half precision runs on CUDA only; no CUDA device visible")
    inputs, dw, db, pw, pb = make_args(channels, cout, dtype, h=h, w=w, device="cuda")
    grad = torch.randn(2, cout, h, w, dtype=dtype, device="cuda")
    out, grads = grads_of(ops.dsconv, inputs, dw, db, pw, pb, activation, grad)
    # The reference in float32 on the same rounded inputs, and in the half type itself: the
    # fused op (float32 accumulation) may err at most twice as much as the reference's own
    # rounding, plus the dtype's tolerance (scaled for the weight gradients' pixel sums).
    as32 = [t.float() if t is not None else None for t in (dw, db, pw, pb)]
    out32, grads32 = grads_of(reference.dsconv, [t.float() for t in inputs], *as32, activation,
                              grad.float())
    out_half, grads_half = grads_of(reference.dsconv, inputs, dw, db, pw, pb, activation, grad)
    rtol, atol = TOLERANCES[dtype]
    scales = [1.0] * (1 + len(inputs)) + [(2 * h * w) ** 0.5] * 4
    for got, exact, rounded, scale in zip([out] + grads, [out32] + grads32,
                                          [out_half] + grads_half, scales):
        assert got.dtype == dtype
        own_error = (rounded.float() - exact).abs().max().item()
        error = (got.float() - exact).abs()
        allowed = 2 * own_error + (atol + rtol * exact.abs()) * scale
        assert (error <= allowed).all(), f"max error {error.max().item()} (reference's {own_error})"


def test_half_precision_on_cpu_is_refused():
    inputs, dw, db, pw, pb = make_args((3,), 4, torch.float16)
    with pytest.raises(TypeError, match="float16 and bfloat16 run on CUDA only"):
        ops.dsconv(inputs, dw, db, pw, pb)


def test_gradient_for_some_inputs_of_the_list(device):
    inputs, dw, db, pw, pb = make_args((2, 3), 4, torch.float64, device=device)
    inputs[0].requires_grad_()
    (g_fused,) = torch.autograd.grad(ops.dsconv(inputs, dw, db, pw, pb).square().sum(), inputs[0])
    (g_ref,) = torch.autograd.grad(reference.dsconv(inputs, dw, db, pw, pb).square().sum(),
                                   inputs[0])
    assert_all_close([g_fused], [g_ref], torch.float64)


@pytest.mark.parametrize("w", [1, 2, 300, 1100])  # bands of 23 (the image), 23, 3 and 1 rows
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_backward_in_bands_split_between_threads(w, threads):
    """The CPU backward runs in bands of rows (1024 values per channel) with a window of the
    depthwise gradient's rows, and splits the N x H rows between threads anywhere, mid-image
    too (a thread computes the gradient rows next to its own as well): every row's gradients
    counted once, whatever the split."""
    with torch_threads(threads):
        inputs, dw, db, pw, pb = make_args((2, 3), 4, torch.float64, batch=3, h=23, w=w)
        grad = torch.randn(3, 4, 23, w, dtype=torch.float64)
        _, grads = grads_of(ops.dsconv, inputs, dw, db, pw, pb, "relu", grad)
        _, grads_ref = grads_of(reference.dsconv, inputs, dw, db, pw, pb, "relu", grad)
    assert_all_close(grads, grads_ref, torch.float64, scale=(3 * 23 * w) ** 0.5)
