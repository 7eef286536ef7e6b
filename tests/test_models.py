"""Architectures: shapes, and Theorem 1 stays exact for the book's networks (incl. input normalisation)."""
from __future__ import annotations

import pytest
import torch

from rilib import geometry, models

CASES = [
    ("toy_mlp", {}, (2,)),
    ("etmann_smallnet", {}, (1, 28, 28)),
    ("kim_cnn", {}, (1, 28, 28)),
    ("kim_cifar_cnn", {}, (3, 32, 32)),
    ("noack_mnist_cnn", {}, (1, 28, 28)),
    ("noack_cifar_cnn", {}, (3, 32, 32)),
    ("small_resnet", {"in_channels": 1, "width": 4}, (1, 28, 28)),
]


@pytest.mark.parametrize("name,kw,shape", CASES)
def test_architectures_forward_and_decompose_exactly(name, kw, shape, float64):
    torch.manual_seed(0)
    m = models.build(name, **kw).double()
    for mod in m.modules():  # non-trivial batch-norm statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    m.eval()
    x = torch.rand(3, *shape)
    out = m(x)
    assert out.shape == (3, 2 if name == "toy_mlp" else 10)
    geo = geometry.geometry(m, x)
    bias = geometry.bias_term(m, x)
    assert torch.allclose(geo.beta, bias, rtol=1e-8, atol=1e-10 * float(out.abs().max()))


def test_imagenet_resnet50_normalisation_is_part_of_the_bias(float64, tmp_path):
    torch.manual_seed(0)
    m = models.build("resnet50", num_classes=7).double().eval()
    assert "normalize.bias" in geometry.bias_names(m)
    x = torch.rand(2, 3, 32, 32)
    geo = geometry.geometry(m, x)
    assert torch.allclose(geo.beta, geometry.bias_term(m, x), rtol=1e-7, atol=1e-9)
    # user weights in torchvision's own key format load into the wrapped network
    sd = {k: v.clone() for k, v in m.net.state_dict().items()}
    m2 = models.build("resnet50", num_classes=7).double()
    m2.load_pretrained(sd)
    assert all(torch.equal(v, m2.net.state_dict()[k]) for k, v in sd.items())


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture"):
        models.build("vgg")


def test_resnet50_relus_are_separate_and_not_in_place_and_weights_load():
    """Captum's DeepLift needs every ReLU to be its own, not in-place module; torchvision reuses one per block."""
    from torchvision.models import resnet50 as tv_resnet50

    from rilib.models import ImageNetResNet50

    torch.manual_seed(0)
    ref = tv_resnet50(weights=None, num_classes=10).eval()
    model = ImageNetResNet50(num_classes=10).eval()
    model.load_pretrained(ref.state_dict())
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 1 + 3 * 16 and len({id(r) for r in relus}) == len(relus)
    assert not any(r.inplace for r in relus)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(model.normalize(x)), rtol=1e-5, atol=1e-5)
