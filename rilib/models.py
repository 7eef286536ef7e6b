"""The papers' architectures, plus a small batch-norm ResNet for substitute experiments.

All models take images in the data's own range (``[0, 1]`` unless a paper says otherwise; the Kim toy lives in
``[-1, 1]``) and return logits. Every ReLU is its own module and never in-place, so Captum's DeepLift and the
homogeneous decomposition of Etmann et al. (Theorem 1) see the network as written.

Use :func:`build` with a name from :data:`ARCHITECTURES`; the zoo does.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = [
    "ARCHITECTURES", "build", "EtmannSmallNet", "KimCNN", "KimCIFARCNN", "ToyMLP", "NoackMNISTCNN",
    "NoackCIFARCNN", "SmallResNet", "CanvasCNN", "resnet50", "Shifted", "Normalize", "layer_table",
]


class ToyMLP(nn.Module):
    """One-hidden-layer MLP: at its defaults Kim et al.'s (2019) toy network, Dense(128)-ReLU-Dense(2) on 2-D inputs
    (appendix A.2); as 784-256-10 the default profile's ROAR/KAR retrainer."""

    def __init__(self, in_features: int = 2, hidden: int = 128, num_classes: int = 2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class EtmannSmallNet(nn.Module):
    """Etmann et al. (2019) MNIST model (appendix "MNIST Model Architecture").

    Conv3×3 'same' 32 - ReLU - MaxPool2 - Conv 64 - ReLU - MaxPool2 - Conv 128 - ReLU - MaxPool2 -
    Dense 128 - ReLU - Dropout 0.5 - Dense 10.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 8
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * side * side, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class KimCNN(nn.Module):
    """Kim et al. (2019) MNIST / Fashion-MNIST CNN, as in the authors' code (the paper's table is garbled).

    Conv5×5 32 - ReLU - Conv5×5 64 - ReLU - MaxPool2 - Dense 1024 - ReLU - Dense 10; 'same' padding, no dropout.
    ``pool_after_conv1=True`` adds a MaxPool2 after the first convolution: the TensorFlow "deep MNIST" tutorial net
    that a comment of the original code says it follows, about 3× cheaper per forward/backward pass (the second
    convolution runs on 14×14 instead of 28×28 maps).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 pool_after_conv1: bool = False):
        super().__init__()
        first = [nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU()]
        if pool_after_conv1:
            first.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*first, nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        side = image_size // 4 if pool_after_conv1 else image_size // 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * side * side, 1024), nn.ReLU(), nn.Linear(1024, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class KimCIFARCNN(nn.Module):
    """Kim et al. (2019) CIFAR-10 CNN: 32, 32, pool, 64, 64, pool (3×3 'same'), Dense(hidden), Dense 10.

    The paper's appendix says Dense 256, the authors' code 512; ``hidden`` defaults to the paper's 256.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32, hidden: int = 256):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * side * side, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class NoackMNISTCNN(nn.Module):
    """Noack et al. (2021) MNIST CNN (Sec 4.1): Conv5×5 32 - pool - Conv5×5 64 - pool - Dense 1024 - Dropout - 10."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * side * side, 1024), nn.ReLU(), nn.Dropout(dropout), nn.Linear(1024, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class NoackCIFARCNN(nn.Module):
    """Noack et al. (2021) CIFAR-10 CNN (Sec 4.2, the distillation architecture of their ref. [31]).

    Conv3×3 64, 64, pool, 128, 128, pool, Dense 256, Dense 256 (dropout 0.5 on both), Dense 10. The paper's
    "stride of 3" is read as 3×3 filters with stride 1 (stride 3 would not leave room for two pools).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Conv2d(128, 128, 3), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = ((image_size - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * side * side, 256), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(256, 256), nn.ReLU(), nn.Dropout(dropout), nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """A small ResNet with batch-norm and skip connections (the book's stand-in for ResNet-50).

    Stem conv3×3 (width) + BN + ReLU, then three stages of ``blocks`` basic blocks with widths
    (w, 2w, 4w) and strides (1, 2, 2), global average pooling, linear head. Piecewise linear in eval mode,
    so Theorem 1 of Etmann et al. applies exactly.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, blocks: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers: list[nn.Module] = []
        cin = width
        for i, w in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks):
                layers.append(_BasicBlock(cin, w, stride=2 if (i > 0 and b == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))


class Normalize(nn.Module):
    """Per-channel (x − mean) / std as an affine layer whose shift −mean/std is a (frozen) parameter named ``bias``.

    Naming the shift ``bias`` makes it part of b in Etmann et al.'s Theorem 1, so the homogeneous decomposition of
    a network that normalises its input stays exact.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        m, s = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)
        self.weight = nn.Parameter(1.0 / s, requires_grad=False)
        self.bias = nn.Parameter(-m / s, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight + self.bias


class _Bottleneck(nn.Module):
    """torchvision's ResNet bottleneck with its three ReLUs as separate, not in-place modules (torchvision reuses one
    in-place ReLU three times, which Captum's DeepLift cannot attribute through). Same parameters and state-dict keys."""

    def __init__(self, block: nn.Module):
        super().__init__()
        for name in ("conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "downsample"):
            setattr(self, name, getattr(block, name))
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu3(out + (x if self.downsample is None else self.downsample(x)))


class ImageNetResNet50(nn.Module):
    """torchvision's ResNet-50 behind ImageNet input normalisation, for images in [0, 1].

    Random initialisation; pretrained weights come only from a user-supplied file, loaded by the zoo through
    :meth:`load_pretrained` (a plain torchvision state-dict, as saved by ``torch.save(model.state_dict())``). Every
    ReLU is its own, not in-place module (:class:`_Bottleneck`), as in the book's other models.
    """

    def __init__(self, num_classes: int = 1000, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
        super().__init__()
        from torchvision.models import resnet50 as _r50

        self.normalize = Normalize(mean, std)
        self.net = _r50(weights=None, num_classes=num_classes)
        self.net.relu = nn.ReLU()
        for layer in (self.net.layer1, self.net.layer2, self.net.layer3, self.net.layer4):
            for i, block in enumerate(layer):
                layer[i] = _Bottleneck(block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))

    def load_pretrained(self, state_dict: dict[str, torch.Tensor]) -> None:
        if any(k.startswith("net.") for k in state_dict):
            self.load_state_dict(state_dict, strict=True)
        else:
            self.net.load_state_dict(state_dict, strict=True)


def resnet50(num_classes: int = 1000, **kwargs: Any) -> nn.Module:
    """:class:`ImageNetResNet50` (torchvision's ResNet-50 with input normalisation)."""
    return ImageNetResNet50(num_classes=num_classes, **kwargs)


class CanvasCNN(nn.Module):
    """The boxed canvas's classifier (Wang et al. 2022, part 2: the stand-in for their ResNet-50): four 3×3
    convolutions of ``width``, 2``width``, 4``width``, 4``width`` channels, each followed by BatchNorm and a ReLU, the
    first three by a 2×2 max-pool, then global average pooling and one linear layer — like ResNet-50, the logits read a spatial average
    of the last feature map. Every ReLU is its own, not in-place module (Captum's DeepLIFT needs that)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16):
        super().__init__()
        w = [width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip([in_channels] + w[:-1], w)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w[3], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "toy_mlp": ToyMLP,
    "etmann_smallnet": EtmannSmallNet,
    "kim_cnn": KimCNN,
    "kim_cifar_cnn": KimCIFARCNN,
    "noack_mnist_cnn": NoackMNISTCNN,
    "noack_cifar_cnn": NoackCIFARCNN,
    "small_resnet": SmallResNet,
    "resnet50": resnet50,
    "canvas_cnn": CanvasCNN,
}


def layer_table(model: nn.Module, input_shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """The layers of ``model`` in the order they run on one input of ``input_shape`` (C, H, W): type, kernel and
    stride where there is one, output shape and parameter count — the appendix's architecture tables, read from the
    model definition instead of typed by hand."""
    rows: list[dict[str, Any]] = []
    hooks = []

    def hook(module: nn.Module, _inp, out) -> None:
        k, st = getattr(module, "kernel_size", None), getattr(module, "stride", None)
        rows.append({"layer": type(module).__name__,
                     "kernel": "×".join(map(str, k)) if isinstance(k, tuple) else (f"{k}×{k}" if k else ""),
                     "stride": (st[0] if isinstance(st, tuple) else st) if k else "",
                     "output": "×".join(map(str, tuple(out.shape[1:]))),
                     "parameters": sum(p.numel() for p in module.parameters(recurse=False))})

    for m in model.modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(hook))
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return rows


def build(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate architecture ``name`` (a key of :data:`ARCHITECTURES`) with keyword arguments."""
    try:
        ctor = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}") from None
    return ctor(**kwargs)


class Shifted(nn.Module):
    """The same classifier expressed on shifted inputs x' = x − c: ``Shifted(model, c)(x − c) == model(x)``.

    Etmann et al. (2019) Sec 3.3: robustness is a property of the classifier and does not change, but the alignment
    α = |⟨x', ∇Ψ⟩|/‖∇Ψ‖ depends on the representation x' of the image.
    """

    def __init__(self, model: nn.Module, shift: float | torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("shift", torch.as_tensor(shift, dtype=next(model.parameters()).dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x + self.shift)


# --- Kim et al. (2019) VAE-GAN: the image-manifold proxy of Fig 1 (appendix A.3) -------------------------------------


def _w(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class KimVAEGANEncoder(nn.Module):
    """Kim et al. (2019) appendix A.3 encoder: Conv4×4/2 64, 128, 256 (each BN ReLU), then Dense(2·z) BN.

    Returns ``(mu, logvar)``, the two halves of the Dense(2·z) output (the table's BN sits on that output, as in
    the table). On 28×28 inputs (padding 1) the convolutions give 14, 7, 3 pixels a side.
    """

    def __init__(self, z_dim: int = 10, width: float = 1.0, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        c1, c2, c3 = _w(64, width), _w(128, width), _w(256, width)
        self.features = nn.Sequential(*_down(in_channels, c1), *_down(c1, c2), *_down(c2, c3))
        side = _down_side(image_size, 3)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c3 * side * side, 2 * z_dim), nn.BatchNorm1d(2 * z_dim))
        self.z_dim = z_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.head(self.features(x))
        return h[:, : self.z_dim], h[:, self.z_dim:]


def _down(cin: int, cout: int, *, bn: bool = True) -> list[nn.Module]:
    """Conv4×4 stride 2 (padding 1), BatchNorm (unless ``bn=False``), ReLU: one halving step of the VAE-GAN."""
    return [nn.Conv2d(cin, cout, 4, stride=2, padding=1), *([nn.BatchNorm2d(cout)] if bn else []), nn.ReLU()]


def _down_side(side: int, steps: int) -> int:
    """The side of a ``side``×``side`` image after ``steps`` of :func:`_down`."""
    for _ in range(steps):
        side = (side + 2 - 4) // 2 + 1
    return side


class KimVAEGANDecoder(nn.Module):
    """Kim et al. (2019) appendix A.3 decoder (Larsen et al. 2016 structure) for 28×28 images in [0, 1].

    Dense(1024) BN ReLU, reshaped to 64×4×4 (our reading of the row the paper's table elides), Deconv4×4/2 256,
    Deconv4×4/1 128, Deconv4×4/2 32 (each BN ReLU), Deconv4×4/2 1. With "same" padding these strides would give
    32×32 images; here the stride-1 layer uses padding 2 (8×8 → 7×7) so that the two stride-2 layers land on
    28×28. The output is a **sigmoid** (the paper: tanh, for data in [−1, 1]; sigmoid(2a) = (tanh(a) + 1)/2 is the
    same map rescaled to our [0, 1] data).
    """

    def __init__(self, z_dim: int = 10, width: float = 1.0, out_channels: int = 1):
        super().__init__()
        c0, c1, c2, c3 = _w(64, width), _w(256, width), _w(128, width), _w(32, width)
        self.c0 = c0
        self.dense = nn.Sequential(nn.Linear(z_dim, c0 * 16), nn.BatchNorm1d(c0 * 16), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(c0, c1, 4, stride=2, padding=1), nn.BatchNorm2d(c1), nn.ReLU(),  # 4 → 8
            nn.ConvTranspose2d(c1, c2, 4, stride=1, padding=2), nn.BatchNorm2d(c2), nn.ReLU(),  # 8 → 7
            nn.ConvTranspose2d(c2, c3, 4, stride=2, padding=1), nn.BatchNorm2d(c3), nn.ReLU(),  # 7 → 14
            nn.ConvTranspose2d(c3, out_channels, 4, stride=2, padding=1), nn.Sigmoid(),  # 14 → 28
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.dense(z).view(-1, self.c0, 4, 4))


class KimVAEGANDiscriminator(nn.Module):
    """Kim et al. (2019) appendix A.3 discriminator (Larsen et al. 2016 structure), returning one logit per image.

    Conv4×4/2 32 ReLU, Conv4×4/2 128, 256, 256 (each BN ReLU), Dense(512) BN ReLU, Dense(1). The table's final
    sigmoid is left to the loss (``binary_cross_entropy_with_logits``, the same function, numerically stable).
    """

    def __init__(self, width: float = 1.0, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        c1, c2, c3, c4, d = _w(32, width), _w(128, width), _w(256, width), _w(256, width), _w(512, width)
        self.features = nn.Sequential(*_down(in_channels, c1, bn=False), *_down(c1, c2), *_down(c2, c3),
                                      *_down(c3, c4))
        side = _down_side(image_size, 4)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c4 * side * side, d), nn.BatchNorm1d(d), nn.ReLU(),
                                  nn.Linear(d, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


class KimVAEGAN(nn.Module):
    """Kim et al. (2019) MNIST / Fashion-MNIST VAE-GAN (appendix A.3; Larsen et al. 2016 with an L1 reconstruction).

    Three submodules: :attr:`encoder` (x ↦ (μ, log σ²)), :attr:`decoder` (z ↦ x̂ in [0, 1]) and
    :attr:`discriminator` (x ↦ one real-vs-fake logit). Train it with the ``vaegan`` regime
    (:class:`rilib.train.regimes.VAEGAN`); the Kim chapter (its `manifold` module) builds and uses it.

    ``width`` scales every hidden width (1.0: the paper's; the default profile may use less to fit its budget);
    ``z_dim`` is the latent size (10 in the paper). Inputs are 1×28×28 images in [0, 1].

    ``forward(x)`` returns the discriminator's two-class logits ``[0, d(x)]`` (class 1 = "real"): the model is
    not a classifier, and the accuracy the zoo records for it against digit labels means nothing.
    """

    def __init__(self, z_dim: int = 10, width: float = 1.0, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        if image_size != 28:
            raise ValueError(f"KimVAEGAN is built for 28×28 images, not {image_size}×{image_size}")
        if z_dim < 1 or width <= 0:
            raise ValueError(f"KimVAEGAN needs z_dim ≥ 1 and width > 0 (got z_dim={z_dim}, width={width})")
        self.z_dim = z_dim
        self.encoder = KimVAEGANEncoder(z_dim, width, in_channels, image_size)
        self.decoder = KimVAEGANDecoder(z_dim, width, in_channels)
        self.discriminator = KimVAEGANDiscriminator(width, in_channels, image_size)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.discriminator(x).unsqueeze(1)
        return torch.cat([torch.zeros_like(d), d], dim=1)


ARCHITECTURES["kim_vaegan"] = KimVAEGAN
__all__ += ["KimVAEGAN", "KimVAEGANEncoder", "KimVAEGANDecoder", "KimVAEGANDiscriminator"]
