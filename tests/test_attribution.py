"""Attribution entry point: hand-computed loss gradients of a linear model, GX on a mapped input, the random
baseline, batch independence (as Captum's generated batch-vs-single checks) and the registry."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from rilib import attribution
from rilib.attribution import attribute


def _linear(float64, c=2, h=3, w=3, k=4, seed=0):
    torch.manual_seed(seed)
    lin = nn.Linear(c * h * w, k)
    return nn.Sequential(nn.Flatten(), lin).eval(), lin


def _hand_loss_grad(lin: nn.Linear, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """∇ₓ CE(Wx + b, t) = (softmax(Wx + b) − onehot(t))ᵀ W, per example."""
    z = x.flatten(1) @ lin.weight.T + lin.bias
    p = torch.softmax(z, 1) - nn.functional.one_hot(target, z.shape[1]).to(z.dtype)
    return (p @ lin.weight).reshape(x.shape)


def test_loss_gradient_of_a_linear_model_by_hand(float64):
    model, lin = _linear(float64)
    x = torch.rand(7, 2, 3, 3)
    pred = model(x).argmax(1)
    hand = _hand_loss_grad(lin, x, pred)
    signed = attribute(model, x, method="loss_gradient", abs=False, channel_sum=False)
    torch.testing.assert_close(signed, hand, rtol=1e-10, atol=1e-12)
    g = attribute(model, x, method="loss_gradient")  # Kim's G: |∇ₓ ℓ| at the predicted class, summed over channels
    torch.testing.assert_close(g, hand.abs().sum(1, keepdim=True), rtol=1e-10, atol=1e-12)
    assert g.shape == (7, 1, 3, 3)
    # an explicit target: per example, or one class for all
    t = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    torch.testing.assert_close(attribute(model, x, method="loss_gradient", target=t, abs=False, channel_sum=False),
                               _hand_loss_grad(lin, x, t), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(attribute(model, x, method="loss_gradient", target=3, abs=False, channel_sum=False),
                               _hand_loss_grad(lin, x, torch.full((7,), 3)), rtol=1e-10, atol=1e-12)


def test_gradient_times_input_on_the_mapped_input(float64):
    model, lin = _linear(float64)
    x = torch.rand(6, 2, 3, 3)
    hand = _hand_loss_grad(lin, x, model(x).argmax(1))
    gx = attribute(model, x, method="loss_input_x_gradient", input_map=(2, -1), channel_sum=False)
    torch.testing.assert_close(gx, ((2 * x - 1) * hand / 2).abs(), rtol=1e-10, atol=1e-12)
    # the chain rule: the same as the gradient of the network seen as a function of x̃ = 2x − 1, times x̃
    xt = (2 * x - 1).requires_grad_(True)
    logits = model((xt + 1) / 2)
    loss = nn.functional.cross_entropy(logits, logits.argmax(1), reduction="sum")
    (g_t,) = torch.autograd.grad(loss, xt)
    torch.testing.assert_close(gx, (xt * g_t).detach().abs(), rtol=1e-10, atol=1e-12)
    # default map (1, 0): plain x ⊙ ∇ₓ ℓ, signed
    torch.testing.assert_close(attribute(model, x, method="loss_input_x_gradient", abs=False, channel_sum=False),
                               x * hand, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="a != 0"):
        attribute(model, x, method="loss_input_x_gradient", input_map=(0, 1))


def test_random_is_seeded_and_independent_of_the_model(float64):
    m1, _ = _linear(float64, seed=1)
    m2, _ = _linear(float64, seed=2)
    x = torch.rand(5, 2, 3, 3)
    r1 = attribute(m1, x, method="random", generator=torch.Generator().manual_seed(7))
    r2 = attribute(m2, x, method="random", generator=torch.Generator().manual_seed(7))
    r3 = attribute(None, x, method="random", generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(r1, r2, rtol=0, atol=0)
    torch.testing.assert_close(r1, r3, rtol=0, atol=0)
    assert r1.shape == (5, 1, 3, 3) and r1.dtype == x.dtype
    r4 = attribute(m1, x, method="random", generator=torch.Generator().manual_seed(8))
    assert not torch.equal(r1, r4)
    raw = attribute(None, x, method="random", channel_sum=False, generator=torch.Generator().manual_seed(7))
    assert raw.shape == x.shape and float(raw.min()) >= 0 and float(raw.max()) < 1


@pytest.mark.parametrize("method,options", [
    ("loss_gradient", {}),
    ("loss_input_x_gradient", {"input_map": (2, -1)}),
    ("random", {}),
])
def test_batched_equals_one_at_a_time(float64, method, options):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 25, 5)).eval()
    x = torch.rand(9, 3, 5, 5)
    t = torch.randint(0, 5, (9,))

    def opts():
        return dict(options, generator=torch.Generator().manual_seed(3)) if method == "random" else dict(options)

    for target in (None, t):
        whole = attribute(model, x, method=method, target=target, batch_size=4, **opts())
        big = attribute(model, x, method=method, target=target, batch_size=100, **opts())
        torch.testing.assert_close(whole, big, rtol=0, atol=1e-14)
        if method != "random":  # the random baseline is drawn for the whole input at once, not per example
            single = torch.cat([attribute(model, x[i:i + 1], method=method,
                                          target=None if target is None else target[i:i + 1], **opts())
                                for i in range(9)])
            torch.testing.assert_close(whole, single, rtol=0, atol=1e-14)


def test_flat_inputs_have_no_channel_axis(float64):
    model = nn.Linear(6, 3).eval()
    x = torch.rand(4, 6)
    g = attribute(model, x, method="loss_gradient")
    assert g.shape == (4, 6)


def test_refuses_batchnorm_in_training_mode_and_unknown_options():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2, 2))
    x = torch.rand(3, 1, 3, 3)
    with pytest.raises(ValueError, match="training mode"):
        attribute(model, x, method="loss_gradient")
    attribute(model.eval(), x, method="loss_gradient")
    with pytest.raises(TypeError, match="input_map"):
        attribute(model, x, method="loss_gradient", input_map=(2, -1))
    with pytest.raises(ValueError, match="unknown attribution method"):
        attribute(model, x, method="nope")
    with pytest.raises(ValueError, match="one class per example"):
        attribute(model, x, method="loss_gradient", target=torch.tensor([0, 1]))


def test_registry_is_extensible():
    name = "_test_signed_logit"
    try:
        @attribution.register(name)
        def _logit_grad(model, x, target, *, scale: float = 1.0):
            from rilib.gradients import input_grad

            return scale * input_grad(model, x, target, objective="logit")

        assert name in attribution.available() and attribution.get_method(name).options == ("scale",)
        model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).eval()
        x = torch.rand(3, 1, 2, 2)
        a = attribute(model, x, method=name, target=1, abs=False, channel_sum=False, scale=2.0)
        torch.testing.assert_close(a, 2 * model[1].weight[1].detach().reshape(1, 1, 2, 2).expand(3, 1, 2, 2))
        with pytest.raises(ValueError, match="already registered"):
            attribution.register(name)(_logit_grad)
    finally:
        attribution.METHODS.pop(name, None)


# ---------------------------------------------------------------------------------------- Wang et al. (2022)
def _softplus_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.Softplus(), nn.Linear(16, 16), nn.Softplus(),
                         nn.Linear(16, 3)).eval()


def _logit(model, x, c):
    with torch.no_grad():
        return model(x).gather(1, c[:, None]).squeeze(1)


@pytest.mark.parametrize("method", ["integrated_gradients", "big"])
def test_ig_and_big_are_complete_to_the_quadratures_error(float64, method):
    """Σ IG = z_c(x) − z_c(x′) (Wang et al. Table 4, completeness), the gap shrinking with the number of points."""
    model = _softplus_net()
    x = torch.rand(6, 2, 2, 2)
    start = torch.rand(6, 2, 2, 2) if method == "big" else torch.zeros(6, 2, 2, 2)
    c = model(x).argmax(1)
    opt = {"boundary": start} if method == "big" else {"baseline": start}
    want = _logit(model, x, c) - _logit(model, start, c)
    gaps = [(attribute(model, x, method=method, abs=False, n_steps=n, **opt).flatten(1).sum(1) - want).abs().max()
            for n in (5, 20, 200)]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-4 * float(want.abs().max())


def test_big_and_bsm_on_a_linear_model(float64):
    """BIG = (x − x′) ⊙ w_c exactly for any number of points; BSM = w_c wherever x′ is."""
    model, lin = _linear(float64)
    x, xb = torch.rand(5, 2, 3, 3), torch.rand(5, 2, 3, 3)
    c = model(x).argmax(1)
    w = lin.weight[c].reshape(x.shape)
    out = attribute(model, x, method="big", abs=False, channel_sum=False, boundary=xb, n_steps=3)
    torch.testing.assert_close(out, (x - xb) * w, rtol=1e-7, atol=1e-10)  # Captum's step sizes are float32
    out = attribute(model, x, method="bsm", abs=False, channel_sum=False, boundary=xb)
    torch.testing.assert_close(out, w, rtol=0, atol=1e-12)
    # Captum's grad×input and DeepLIFT (rescale) on a linear model: x ⊙ w and (x − b) ⊙ w
    torch.testing.assert_close(attribute(model, x, method="input_x_gradient", abs=False, channel_sum=False), x * w)
    torch.testing.assert_close(attribute(model, x, method="deeplift", abs=False, channel_sum=False, baseline=xb),
                               (x - xb) * w)


def test_agi_by_hand_on_a_two_class_linear_model(float64):
    """z = (x₁, x₂), x = (0.6, 0.4), class 0, walk to class 1 with ε = 0.1: sign ∇p₁ = (−1, +1), so the path is
    (0.6, 0.4) → (0.5, 0.5) (a tie: argmax stays 0) → (0.4, 0.6) (class 1: stop). ∇p₀ = p₀(1 − p₀)(1, −1), so
    each step adds −∇p₀(x_k) ⊙ (−0.1, 0.1) = 0.1·p₀(1 − p₀)·(1, 1): p₀ = σ(0.2) first, then 1/2."""
    model = nn.Linear(2, 2, bias=False).eval()
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    x = torch.tensor([[0.6, 0.4]])
    out = attribute(model, x, method="agi", target=0, abs=False, eps=0.1, max_iter=15)
    p0 = torch.sigmoid(torch.tensor(0.2))
    each = 0.1 * (p0 * (1 - p0) + 0.25)
    torch.testing.assert_close(out, torch.stack([each, each]).view(1, 2), rtol=0, atol=1e-12)
    # one iteration only: the first step alone
    out = attribute(model, x, method="agi", target=0, abs=False, eps=0.1, max_iter=1)
    torch.testing.assert_close(out, torch.full((1, 2), float(0.1 * p0 * (1 - p0))), rtol=0, atol=1e-12)


def test_agi_targets_are_the_other_classes_evenly_spaced():
    from rilib.attribution.paths import agi_targets

    c = torch.tensor([0, 4, 9])
    assert agi_targets(c, 10, None).tolist() == [[1, 2, 3, 4, 5, 6, 7, 8, 9], [0, 1, 2, 3, 5, 6, 7, 8, 9],
                                                 [0, 1, 2, 3, 4, 5, 6, 7, 8]]
    assert agi_targets(c, 10, 3).tolist() == [[1, 5, 9], [0, 5, 9], [0, 4, 8]]
    with pytest.raises(ValueError, match="n_targets"):
        agi_targets(c, 10, 10)


def test_symmetry_on_min(float64):
    """App. C: f(x, y) = min(x, y) = (x + y − |x − y|)/2 at (1, 1) from (0, 0): the straight path (IG) gives both
    inputs the same share, 1/2 each (completeness: they sum to f(1, 1) − f(0, 0) = 1)."""
    class Min(nn.Module):
        def forward(self, v):
            f = (v[:, 0] + v[:, 1] - (v[:, 0] - v[:, 1]).abs()) / 2
            return torch.stack([f, torch.zeros_like(f)], 1)

    out = attribute(Min(), torch.ones(1, 2), method="integrated_gradients", target=0, abs=False, n_steps=20)
    torch.testing.assert_close(out, torch.full((1, 2), 0.5))


@pytest.mark.parametrize("method,options", [
    ("integrated_gradients", {"n_steps": 5}),
    ("big", {"n_steps": 5, "boundary": "per-example"}),
    ("bsm", {"boundary": "per-example"}),
    ("input_x_gradient", {}),
    ("deeplift", {"baseline": 0.0}),
    ("agi", {"eps": 0.05, "max_iter": 4, "n_targets": 2}),
])
def test_boundary_methods_batched_equal_one_at_a_time(float64, method, options):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 25, 5)).eval()
    x = torch.rand(9, 3, 5, 5)
    xb = torch.rand(9, 3, 5, 5)
    opts = {k: (xb if v == "per-example" else v) for k, v in options.items()}
    whole = attribute(model, x, method=method, abs=False, batch_size=4, **opts)
    single = torch.cat([attribute(model, x[i:i + 1], method=method, abs=False,
                                  **{k: (v[i:i + 1] if k == "boundary" else v) for k, v in opts.items()})
                        for i in range(9)])
    torch.testing.assert_close(whole, single, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="one row per example") if "boundary" in opts else _nothing():
        if "boundary" in opts:
            attribute(model, x, method=method, **dict(opts, boundary=xb[:4]))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_captum_trapezoid_weights_sum_to_n_minus_one_over_n(float64):
    """Captum's riemann_trapezoid as is (the paper's code) is short by the factor (n − 1)/n on a linear model;
    ours is exact."""
    model, lin = _linear(float64)
    x = torch.rand(3, 2, 3, 3)
    c = model(x).argmax(1)
    exact = x * lin.weight[c].reshape(x.shape)
    for n in (2, 5, 20):
        raw = attribute(model, x, method="integrated_gradients", abs=False, channel_sum=False, n_steps=n,
                        captum_weights=True)
        torch.testing.assert_close(raw, exact * (n - 1) / n, rtol=1e-7, atol=1e-10)  # Captum's steps: float32
        torch.testing.assert_close(attribute(model, x, method="integrated_gradients", abs=False, channel_sum=False,
                                             n_steps=n), exact, rtol=1e-7, atol=1e-10)
