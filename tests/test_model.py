"""SGZ as a drop-in for the published network: checkpoint compatibility, the published
numerics, fused vs reference backends, any input size, the uint8 path, torch.compile."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import TOLERANCES, assert_explained
from sgz_fast import _extension
from sgz_fast.model import SGZ, load_sgz

# The published checkpoint's 28 tensors (SGZ_SPEC.md).
PUBLISHED_SHAPES = {}
for _k, (_cin, _cout) in enumerate([(3, 32), (32, 32), (32, 32), (32, 32), (64, 32), (64, 32),
                                    (64, 3)], start=1):
    PUBLISHED_SHAPES[f"e_conv{_k}.depth_conv.weight"] = (_cin, 1, 3, 3)
    PUBLISHED_SHAPES[f"e_conv{_k}.depth_conv.bias"] = (_cin,)
    PUBLISHED_SHAPES[f"e_conv{_k}.point_conv.weight"] = (_cout, _cin, 1, 1)
    PUBLISHED_SHAPES[f"e_conv{_k}.point_conv.bias"] = (_cout,)


class PublishedBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.depth_conv = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin)
        self.point_conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.point_conv(self.depth_conv(x))


class PublishedNet(nn.Module):
    """The published network as SGZ_SPEC.md describes it, written plainly: the oracle for
    checkpoint compatibility and numerics (crop-free, so sizes must be multiples of s)."""

    def __init__(self, scale_factor):
        super().__init__()
        self.scale_factor = scale_factor
        self.upsample = nn.UpsamplingBilinear2d(scale_factor=scale_factor)
        sizes = [(3, 32), (32, 32), (32, 32), (32, 32), (64, 32), (64, 32), (64, 3)]
        for k, (cin, cout) in enumerate(sizes, start=1):
            setattr(self, f"e_conv{k}", PublishedBlock(cin, cout))

    def forward(self, x):
        s = self.scale_factor
        x_down = x if s == 1 else F.interpolate(x, scale_factor=1 / s, mode="bilinear")
        x1 = F.relu(self.e_conv1(x_down))
        x2 = F.relu(self.e_conv2(x1))
        x3 = F.relu(self.e_conv3(x2))
        x4 = F.relu(self.e_conv4(x3))
        x5 = F.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        x_r = torch.tanh(self.e_conv7(torch.cat([x1, x6], 1)))
        if s != 1:
            x_r = self.upsample(x_r)
        for _ in range(8):
            x = x + x_r * (torch.pow(x, 2) - x)
        return x, x_r


def close(a, b, dtype=torch.float32, scale=1.0):
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(a, b, rtol=rtol * scale, atol=atol * scale)


def outputs_and_gradients(fn, model, x):
    """(enhanced, x_r, gradients of a loss of both for every parameter of model)."""
    enhanced, x_r = fn(x)
    assert enhanced.shape == x_r.shape == x.shape
    loss = enhanced.square().mean() + x_r.mean()
    return enhanced, x_r, torch.autograd.grad(loss, list(model.parameters()))


def assert_same_outputs_and_gradients(fn, model, expected_fn, expected_model, x):
    enhanced, x_r, grads = outputs_and_gradients(fn, model, x)
    expected, expected_r, expected_grads = outputs_and_gradients(expected_fn, expected_model, x)
    close(enhanced, expected, scale=10)
    close(x_r, expected_r, scale=10)
    for a, b in zip(grads, expected_grads, strict=True):
        close(a, b, scale=100)


def test_state_dict_is_the_published_one():
    model = SGZ()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == PUBLISHED_SHAPES
    assert sum(p.numel() for p in model.parameters()) == 10561


def test_tc_blocks_are_plain_convs():
    keys = SGZ(conv_type="tc").state_dict()
    assert keys["e_conv5.conv.weight"].shape == (32, 64, 3, 3)
    assert len(keys) == 14


@pytest.mark.parametrize("backend", ["reference", "fused"])
@pytest.mark.parametrize("scale_factor, size", [(1, (24, 36)), (12, (96, 144)), (12, (36, 12))])
def test_published_numerics_and_checkpoints_both_ways(backend, scale_factor, size):
    published = PublishedNet(scale_factor)
    model = SGZ(scale_factor, backend=backend)
    model.load_state_dict(published.state_dict(), strict=True)
    PublishedNet(scale_factor).load_state_dict(model.state_dict(), strict=True)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        expected, expected_r = published(x)
        enhanced, x_r = model(x)
    assert model.backend == backend
    if backend == "reference":  # the same operations in the same order: bit for bit
        assert torch.equal(enhanced, expected) and torch.equal(x_r, expected_r)
    close(enhanced, expected, scale=10)
    close(x_r, expected_r, scale=10)


@pytest.mark.parametrize("scale_factor, size", [(1, (17, 23)), (1, (1, 5)), (12, (120, 96)),
                                                (12, (131, 97)), (12, (11, 30)), (5, (64, 48))])
def test_fused_matches_reference_forward_and_gradients(device, scale_factor, size):
    reference = SGZ(scale_factor, backend="reference").to(device)
    fused = SGZ(scale_factor, backend="fused").to(device)
    fused.load_state_dict(reference.state_dict())
    x = torch.rand(2, 3, *size, device=device)
    assert_same_outputs_and_gradients(fused, fused, reference, reference, x)


def test_sizes_that_are_not_multiples_use_the_whole_image():
    model = SGZ(12)
    x = torch.rand(1, 3, 50, 70)
    x_down = model.downsample(x)
    assert x_down.shape[-2:] == (4, 5)
    # The samples span the whole image, centred (the published code would drop the bottom and
    # right margins): flipping the image flips the network's input.
    torch.testing.assert_close(model.downsample(x.flip(-1, -2)), x_down.flip(-1, -2))
    assert model(x)[0].shape == x.shape


@pytest.mark.parametrize("size", [(1080, 1920), (480, 648)])
def test_downsample_and_upsample_are_the_same_on_any_number_of_threads(size):
    # PyTorch's 3-channel kernel sums a pixel's four taps in another order (rows first) on one
    # thread, and for small outputs (648x480 at scale 12: 40 + 54 <= 128) on any number: the
    # network's input must not change with the thread count. Its order is the published one of
    # the per-channel kernel, which PyTorch runs for 1080p on two threads or more.
    model = SGZ(12)
    x = torch.rand(2, 3, *size)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        published = F.interpolate(x, scale_factor=1 / 12, mode="bilinear", align_corners=False)
        on_two = model.downsample(x)
        outputs_on_two = model(x)  # x_r upsampled by the same kernel
        torch.set_num_threads(1)
        on_one = model.downsample(x)
        outputs_on_one = model(x)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(on_one, on_two)
    assert all(map(torch.equal, outputs_on_one, outputs_on_two))
    rtol, atol = TOLERANCES[torch.float32]
    if size == (1080, 1920):
        assert torch.equal(on_two, published)
    else:
        torch.testing.assert_close(on_two, published, rtol=rtol, atol=atol)
    channels_last = model.downsample(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(channels_last, on_two, rtol=rtol, atol=atol)


def test_images_smaller_than_the_scale_get_one_factor_pixel():
    enhanced, x_r = SGZ(12)(torch.rand(1, 3, 5, 7))
    assert enhanced.shape == x_r.shape == (1, 3, 5, 7)
    assert torch.equal(x_r, x_r[..., :1, :1].expand_as(x_r))


@pytest.mark.parametrize("backend", ["reference", "fused"])
@pytest.mark.parametrize("scale_factor, size", [(1, (21, 33)), (12, (96, 120)), (12, (101, 130)),
                                                (4, (9, 3))])
def test_uint8_path_matches_float_path_saved_as_published(device, backend, scale_factor, size):
    model = SGZ(scale_factor, backend=backend).to(device)
    frames = torch.randint(0, 256, (2, *size, 3), dtype=torch.uint8, device=device)
    with torch.inference_mode():
        x = frames.permute(0, 3, 1, 2).float() / 255
        expected = model.enhance(x).clamp(0, 1).mul(255).add(0.5).to(torch.uint8)
        expected = expected.permute(0, 2, 3, 1)
        rgb = model.enhance_uint8(frames)
        bgr = model.enhance_uint8(frames.flip(-1).contiguous(), channels="bgr").flip(-1)
        single = model.enhance_uint8(frames[1])

    def assert_within_one_level(a, b):  # one level at most, and rarely
        diff = (a.int() - b.int()).abs()
        assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3

    for out in (rgb, bgr):
        assert out.dtype == torch.uint8 and out.shape == frames.shape
        # A fused multiply-add may move a value across a rounding boundary.
        assert_within_one_level(out, expected)
    if backend == "fused":  # the fused kernels compute each image alone, whatever the batch
        assert torch.equal(single, rgb[1])
    else:  # PyTorch's convolutions may pick another algorithm for a batch of one (oneDNN
        # does on an AVX-512 AMD EPYC): the factors differ in the last bit
        assert_within_one_level(single, rgb[1])


def test_enhance_is_forward_without_x_r():
    model = SGZ(12)
    x = torch.rand(1, 3, 48, 60)
    assert torch.equal(model.enhance(x), model(x)[0])
    assert model.factors(x).shape == (1, 3, 4, 5)


def test_auto_uses_reference_where_kernels_are_missing_and_says_so(monkeypatch):
    monkeypatch.setitem(_extension.KERNELS["dsconv"], "cpu", False)
    x = torch.rand(1, 3, 24, 24)
    auto = SGZ(12, backend="auto")
    auto(x)
    assert auto.backend == "reference"
    with pytest.raises(RuntimeError, match=r"SGZ\(backend='fused'\).*dsconv.*no CPU kernel"):
        SGZ(12, backend="fused")(x)


def test_auto_uses_fused_where_built():
    model = SGZ(12)
    model(torch.rand(1, 3, 24, 24))
    assert model.backend == "fused"


def test_inference_mode_and_half_weights_on_meta():
    model = SGZ(12).to("meta")
    with torch.inference_mode():
        enhanced, x_r = model(torch.empty(1, 3, 120, 96, device="meta"))
    assert enhanced.shape == x_r.shape == (1, 3, 120, 96)


def test_torch_compile_fullgraph_forward_and_backward():
    model = SGZ(12, backend="fused")
    x = torch.rand(1, 3, 48, 72)
    assert_same_outputs_and_gradients(torch.compile(model, fullgraph=True), model, model, model, x)


def test_torch_compile_fullgraph_reference_inference():
    # One graph, checked with the aot_eager backend: inductor's code generation for this
    # graph takes minutes on our CI machines (the benchmarks time it).
    model = SGZ(12, backend="reference")
    x = torch.rand(1, 3, 48, 72)
    with torch.no_grad():
        enhanced, x_r = torch.compile(model, fullgraph=True, backend="aot_eager")(x)
        expected, expected_r = model(x)
    close(enhanced, expected, scale=10)
    close(x_r, expected_r, scale=10)


def test_torch_compile_uint8_path():
    model = SGZ(12).eval()
    frames = torch.randint(0, 256, (1, 48, 72, 3), dtype=torch.uint8)
    with torch.inference_mode():
        out = torch.compile(model.enhance_uint8, fullgraph=True)(frames)
        assert torch.equal(out, model.enhance_uint8(frames))


def test_bad_arguments_are_explained():
    model = SGZ(12)
    for args, message in [((torch.rand(3, 24, 24),), r"\(N, 3, H, W\).*\[3, 24, 24\]"),
                          ((torch.rand(1, 4, 24, 24),), r"\(N, 3, H, W\).*\[1, 4, 24, 24\]"),
                          ((torch.rand(1, 3, 24, 24, dtype=torch.float64),), r"dtype.*float64"),
                          ((torch.empty(1, 3, 24, 24, device="meta"),), r"on meta.*model\.to"),
                          (("image.png",), r"got str")]:
        assert_explained(model, args, message)
    for args, message in [((torch.rand(24, 24, 3),), r"uint8 tensor.*float32"),
                          ((torch.zeros(24, 24, 4, dtype=torch.uint8),), r"\(H, W, 3\)"),
                          ((torch.zeros(24, 24, 3, dtype=torch.uint8), "hsv"), r"'rgb' or 'bgr'"),
                          ((torch.zeros(24, 24, 3, dtype=torch.uint8, device="meta"),),
                           r"frames are on meta and the model on cpu")]:
        assert_explained(model.enhance_uint8, args, message)
    for kwargs, message in [({"scale_factor": 0}, "scale_factor"), ({"scale_factor": 1.5},
                                                                     "scale_factor"),
                            ({"conv_type": "dc"}, "conv_type"), ({"backend": "gpu"}, "backend"),
                            ({"strength": -0.5}, "strength must be a finite number >= 0"),
                            ({"strength": float("nan")}, "strength"), ({"strength": "1"},
                                                                       "strength")]:
        assert_explained(lambda: SGZ(**kwargs), (), message)


@pytest.mark.parametrize("backend", ["fused", "reference"])
def test_strength_scales_the_factors(backend):
    """1 is the published model (the factors untouched), 0 the identity on floats and bytes,
    and brightness grows with the strength while the output stays in [0, 1]."""
    if backend == "fused" and not _extension.KERNELS["curve_iter"]["cpu"]:
        pytest.skip("no fused CPU kernels in this build")
    model = load_sgz(scale_factor=4, backend=backend)  # the bundled weights: they brighten
    x = torch.rand(1, 3, 24, 36) * 0.3
    frames = (x[0].permute(1, 2, 0) * 255).to(torch.uint8)
    with torch.no_grad():
        published, _ = model(x)
        factors = model.factors(x)
        model.strength = 1.0
        assert torch.equal(model(x)[0], published)
        means = []
        for strength in (0.0, 0.5, 1.0, 1.7, 40.0):
            model.strength = strength
            enhanced = model.enhance(x)
            torch.testing.assert_close(model.factors(x), (factors * strength).clamp(-1, 1),
                                       rtol=0, atol=1e-6)
            assert 0 <= enhanced.min() and enhanced.max() <= 1
            means.append(enhanced.mean().item())
            if strength == 0:
                assert torch.equal(enhanced, x)
                assert torch.equal(model.enhance_uint8(frames), frames)
    assert means == sorted(means) and means[0] < means[2] < means[-1]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_models_on_the_cpu_take_the_reference_path(dtype):
    # The fused CPU kernels run float32 and float64: "auto" falls back, "fused" says why.
    model = load_sgz().to(dtype)
    x = torch.rand(1, 3, 48, 64, dtype=dtype)
    enhanced = model(x)[0]
    assert model.backend == "reference" and enhanced.dtype == dtype
    assert torch.equal(enhanced, load_sgz(backend="reference").to(dtype)(x)[0])
    assert model.enhance_uint8(torch.zeros(8, 12, 3, dtype=torch.uint8)).shape == (8, 12, 3)
    fused = SGZ(backend="fused").to(dtype)
    assert_explained(fused, (x,), r"fused CPU kernels run float32 and float64, not torch\.")
