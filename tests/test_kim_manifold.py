"""Kim et al. Fig 1: the VAE-GAN regime, fit's ``trainable`` hook and d_π (rilib.papers.kim2019.manifold), on
cases of known answer."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from rilib import models, zoo
from rilib.papers.kim2019 import manifold
from rilib.train import fit
from rilib.train.regimes import VAEGAN


class _Encoder(nn.Module):
    """x ↦ (μ, log σ²) = (x flattened, ``logvar``): z carries the whole image."""

    def __init__(self, logvar: float = 0.0):
        super().__init__()
        self.logvar = logvar
        self.w = nn.Parameter(torch.ones(()))  # something to find a device on

    def forward(self, x):
        mu = x.flatten(1) * self.w
        return mu, torch.full_like(mu, self.logvar)


class _Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, z):
        return z.view(-1, *self.shape)


class _Const(nn.Module):
    def __init__(self, c: torch.Tensor):
        super().__init__()
        self.register_buffer("c", c)

    def forward(self, z):
        return self.c.expand(z.shape[0], *self.c.shape)


class _AE(nn.Module):
    def __init__(self, encoder, decoder, z_dim):
        super().__init__()
        self.encoder, self.decoder, self.z_dim = encoder, decoder, z_dim


SHAPE = (1, 4, 4)


def _images(n=7, seed=0):
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_identity_autoencoder_has_distance_zero(float64):
    ae = _AE(_Encoder(), _Reshape(SHAPE), z_dim=16)
    x = _images()
    assert torch.equal(manifold.manifold_distance(ae, x), torch.zeros(len(x), dtype=x.dtype))
    assert torch.equal(manifold.reconstruct(ae, x), x)


def test_constant_decoder_distance_is_norm_to_the_constant(float64):
    c = torch.full(SHAPE, 0.25)
    ae = _AE(_Encoder(), _Const(c), z_dim=16)
    x = _images()
    want = (x - c).flatten(1).norm(dim=1)
    torch.testing.assert_close(manifold.manifold_distance(ae, x), want)
    # the decoder ignores z, so the stochastic projection gives the same distance
    torch.testing.assert_close(manifold.manifold_distance(ae, x, stochastic=True), want)


def test_stochastic_projection_adds_sigma_eps(float64):
    # identity decoder, σ = e^(log σ² / 2) = 0.5: d_π = ‖σ·ε‖ with ε drawn from the generator for all of x at once
    ae = _AE(_Encoder(logvar=2 * torch.log(torch.tensor(0.5)).item()), _Reshape(SHAPE), z_dim=16)
    x = _images()
    eps = torch.randn(len(x), 16, generator=torch.Generator().manual_seed(3))
    got = manifold.manifold_distance(ae, x, stochastic=True, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(got, (0.5 * eps.to(x.dtype)).norm(dim=1))


@pytest.fixture(scope="module")
def tiny_vaegan():
    torch.manual_seed(0)
    m = models.build("kim_vaegan", z_dim=4, width=0.125)
    # a few training-mode passes so that the BatchNorm running statistics are not the identity
    with torch.no_grad():
        for _ in range(3):
            m.encoder(torch.rand(16, 1, 28, 28))
            m.decoder(torch.randn(16, 4))
    return m.eval()


def test_batched_equals_one_at_a_time(tiny_vaegan):
    x = torch.rand(9, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    d = manifold.manifold_distance(tiny_vaegan, x, batch_size=4)
    single = torch.cat([manifold.manifold_distance(tiny_vaegan, x[i:i + 1]) for i in range(len(x))])
    torch.testing.assert_close(d, single)
    torch.testing.assert_close(d, manifold.manifold_distance(tiny_vaegan, x, batch_size=500))
    assert (d > 0).all()
    # stochastic: the same generator gives the same answer whatever the batch size
    ds = [manifold.manifold_distance(tiny_vaegan, x, stochastic=True, generator=torch.Generator().manual_seed(5),
                                     batch_size=b) for b in (1, 4, 500)]
    torch.testing.assert_close(ds[0], ds[1])
    torch.testing.assert_close(ds[0], ds[2])
    assert not torch.allclose(ds[0], d)  # it is stochastic
    # and the model's mode is left as it was
    assert not tiny_vaegan.training


def test_sample_and_reconstruct_shapes_and_range(tiny_vaegan):
    s = manifold.sample(tiny_vaegan, 5, generator=torch.Generator().manual_seed(0))
    s2 = manifold.sample(tiny_vaegan, 5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 28, 28) and torch.equal(s, s2) and 0 <= s.min() and s.max() <= 1
    x = torch.rand(3, 1, 28, 28)
    r = manifold.reconstruct(tiny_vaegan, x)
    assert r.shape == x.shape
    torch.testing.assert_close(manifold.manifold_distance(tiny_vaegan, x), (x - r).flatten(1).norm(dim=1))


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class _FirstLayerOnly:
    """Cross-entropy, but only the first layer is ``trainable``."""

    def __call__(self, model, x, y, *extra):
        logits = model(x)
        return nn.functional.cross_entropy(logits, y), logits

    def trainable(self, model):
        return list(model[0].parameters())


def test_fit_optimises_only_what_the_regime_calls_trainable():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    first, last = _state(net[0]), _state(net[2])
    fit(net, x, y, _FirstLayerOnly(), epochs=2, batch_size=10, progress=False, device="cpu")
    assert all(torch.equal(v, last[k]) for k, v in net[2].state_dict().items())  # it had gradients, yet stays
    assert all(not torch.equal(v, first[k]) for k, v in net[0].state_dict().items())


def test_fit_leaves_the_discriminator_to_the_regime(monkeypatch):
    x, y = _data()
    torch.manual_seed(0)
    m = models.build("kim_vaegan", z_dim=4, width=0.125)
    reg = VAEGAN()
    assert {id(p) for p in reg.trainable(m)} == {id(p) for p in [*m.encoder.parameters(), *m.decoder.parameters()]}
    # without its own step, nothing touches D: not fit's optimizer, not the generator's (frozen) pass through D,
    # which uses batch statistics without updating the running ones
    monkeypatch.setattr(VAEGAN, "discriminator_step", lambda self, model, x, *fakes: torch.zeros(len(x)))
    d0, e0 = _state(m.discriminator), _state(m.encoder)
    fit(m, x, y, reg, epochs=1, batch_size=32, progress=False, device="cpu")
    for k, v in m.discriminator.state_dict().items():
        assert torch.equal(v, d0[k]), k
    assert any(not torch.equal(v, e0[k]) for k, v in m.encoder.state_dict().items())

    m.train()
    loss, _ = VAEGAN()(m, x[:8], y[:8])
    loss.backward()
    assert all(p.grad is None for p in m.discriminator.parameters())
    assert all(p.requires_grad for p in m.discriminator.parameters())


def test_discriminator_step_changes_only_the_discriminator():
    x, y = _data(16)
    torch.manual_seed(0)
    m = models.build("kim_vaegan", z_dim=4, width=0.125).train()
    enc_dec = _state(m.encoder) | {f"dec.{k}": v for k, v in _state(m.decoder).items()}
    d0 = _state(m.discriminator)
    reg = VAEGAN()
    reg(m, x, y)  # one call: one D step, the E/D loss is returned (not applied)
    after = _state(m.encoder) | {f"dec.{k}": v for k, v in _state(m.decoder).items()}
    assert all(torch.equal(after[k], v) for k, v in enc_dec.items() if "running" not in k and "num_batches" not in k)
    assert any(not torch.equal(v, d0[k]) for k, v in m.discriminator.named_parameters())
    assert reg.d_optimizer(m) is reg.d_optimizer(m)  # one optimizer per model
    assert reg == VAEGAN() and hash(reg) == hash(VAEGAN())  # the optimizer is not part of the regime's identity


def test_regime_rejects_a_model_without_the_three_parts():
    with pytest.raises(TypeError, match="discriminator"):
        VAEGAN()(_AE(_Encoder(), _Reshape(SHAPE), 16), torch.rand(2, *SHAPE), torch.zeros(2, dtype=torch.long))


def _ci_spec(n_train=200):
    spec = manifold.vaegan_spec("mnist", "ci")
    return dataclasses.replace(spec, data_kwargs={"n_train": n_train, "n_test": 50})


def test_two_trainings_with_the_same_seed_are_identical():
    x, y = _data(96)
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        m = models.build("kim_vaegan", z_dim=4, width=0.125)
        fit(m, x, y, VAEGAN(), epochs=1, batch_size=32, seed=3, progress=False, device="cpu",
            optimizer={"name": "adam", "lr": 5e-4, "betas": [0.5, 0.999]})
        states.append(m.state_dict())
    assert all(torch.equal(v, states[1][k]) for k, v in states[0].items())


def test_vaegan_trains_through_the_zoo_and_loads_from_cache(cache_root):
    spec = _ci_spec()
    assert spec.arch == "kim_vaegan" and spec.regime == "vaegan" and spec.optimizer["betas"] == [0.5, 0.999]
    a = zoo.get(spec, device="cpu", progress=False)
    b = zoo.get(spec, device="cpu", progress=False)
    assert not a.loaded and b.loaded
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(v, sb[k]) for k, v in sa.items())
    assert len(b.meta["train_loss"]) == spec.epochs
    x = zoo.load_data(spec).x_test[:10]
    torch.testing.assert_close(manifold.manifold_distance(a.model, x), manifold.manifold_distance(b.model, x))


def test_vaegan_spec_sizes_and_errors():
    for profile in ("ci", "default", "paper"):
        for ds in ("mnist", "fashion-mnist", "Fashion_MNIST"):
            s = manifold.vaegan_spec(ds, profile)
            assert s.profile == profile and s.arch_kwargs["z_dim"] == 10
    paper = manifold.vaegan_spec("fashion-mnist", "paper")
    assert paper.arch_kwargs["width"] == 1.0 and paper.epochs == 60 and paper.data_kwargs == {}
    assert manifold.vaegan_spec("mnist", "paper").epochs == 30
    assert paper.optimizer == {"name": "adam", "lr": 5e-4, "betas": [0.5, 0.999]}
    with pytest.raises(ValueError, match="cifar"):
        manifold.vaegan_spec("cifar10", "default")
    with pytest.raises(ValueError, match="profile"):
        manifold.vaegan_spec("mnist", "huge")


def test_architecture_shapes_follow_the_appendix():
    m = models.build("kim_vaegan")  # the paper's widths
    enc_convs = [l.out_channels for l in m.encoder.modules() if isinstance(l, nn.Conv2d)]
    dec_convs = [l.out_channels for l in m.decoder.modules() if isinstance(l, nn.ConvTranspose2d)]
    dis_convs = [l.out_channels for l in m.discriminator.modules() if isinstance(l, nn.Conv2d)]
    assert enc_convs == [64, 128, 256] and dec_convs == [256, 128, 32, 1] and dis_convs == [32, 128, 256, 256]
    assert m.encoder.head[1].out_features == 20 and m.decoder.dense[0].out_features == 1024
    m.eval()
    x = torch.rand(2, 1, 28, 28)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (2, 10) and m.decode(mu).shape == x.shape and m(x).shape == (2, 2)
    with pytest.raises(ValueError, match="28"):
        models.build("kim_vaegan", image_size=32)
