# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: rilib
#     language: python
#     name: rilib
# ---

# %% [markdown]
# # Etmann et al. 2019, poster — "a simple toy example"
#
# For a binary **linear** classifier F(x) = sgn(Ψ(x)), Ψ(x) = ⟨x, z⟩, the robustness (distance to the decision
# boundary, Definition 1) *is* the alignment between the image and its saliency map {cite}`etmann2019`:
#
# $$\rho(x) = \frac{|\langle x, \nabla\Psi(x)\rangle|}{\|\nabla\Psi(x)\|_2} = \|x\|_2\,|\cos\delta| = \alpha(x)
# \qquad\text{(eq. 2)}$$
#
# "… but already wrong for **affine** models" Ψ(x) = ⟨x, z⟩ + b: then ρ(x) = |⟨x, z⟩ + b| / ‖z‖ ≠ α(x), and only the
# triangle inequality ρ(x) ≤ α(x) + |b|/‖z‖ (ineq. 4) and the shifted identity ρ(x) = α(ξ), ξ = x + b z/‖z‖²
# (eq. 5) remain. This page checks all of it numerically with the book's geometry kernel (α, ρ̃ from all class
# gradients) and measures ρ independently with Foolbox attacks, which must find the closed-form distance.
#
# The classifier is written as two logits (Ψ, −Ψ) so that the multi-class definitions apply unchanged. Points are
# "images" x uniform in [0, 1]^d; z is a unit vector along i.i.d. N(0.2, 1) entries (the positive mean makes
# ⟨x, z⟩ large, so the affine bias matters); the affine model's b = −median⟨x, z⟩ puts its boundary through the data. Attacks run with
# wide bounds (−10, 10): the closed form is for the unconstrained space, not the pixel box.

# %% tags=["parameters"]
profile = "default"

# %% tags=["hide-input"]
import numpy as np
import torch
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from rilib import attacks, geometry, plotting, profiles, results

plotting.setup()
P = profiles.get(profile).etmann_toy
rec = results.Recorder("etmann2019/poster_toy", profile=profile)
plotting.page_header(profile, "etmann_toy")
torch.set_default_dtype(torch.float64)  # the identities are exact: check them at float64
g = torch.Generator().manual_seed(0)
d, n = P.dim, P.n_points
x = torch.rand(n, d, generator=g)
z = torch.randn(d, generator=g) + 0.2
z = z / z.norm()  # unit z keeps the logits O(1): a saturated softmax would zero the attacks' loss gradient
b = float(-(x @ z).median())
linear, affine = geometry.AffineBinary(z, 0.0), geometry.AffineBinary(z, b)
print(f"d = {d}, n = {n}, ‖z‖ = {z.norm():.3f}, b = {b:.3f}, |b|/‖z‖ = {abs(b) / z.norm():.4f}")

# %% [markdown]
# ## Linear model: ρ = α = ‖x‖·|cos δ| exactly

# %% tags=["hide-input"]
geo_lin = geometry.geometry(linear, x)
rho_lin = geometry.affine_distance(linear.weight, linear.bias, x)
cos_delta = (x @ z) / (x.norm(dim=1) * z.norm())
checks = {
    "α vs closed-form ρ": (geo_lin.alpha - rho_lin).abs().max() / rho_lin.abs().max(),
    "ρ̃ vs closed-form ρ": (geo_lin.rho_tilde - rho_lin).abs().max() / rho_lin.abs().max(),
    "α† vs α": (geo_lin.alpha_dagger - geo_lin.alpha).abs().max() / rho_lin.abs().max(),
    "‖x‖|cos δ| vs ρ": (x.norm(dim=1) * cos_delta.abs() - rho_lin).abs().max() / rho_lin.abs().max(),
    "|β| (homogeneous: no remainder)": geo_lin.beta.abs().max(),
}
display(pd.DataFrame({"max relative deviation": {k: float(v) for k, v in checks.items()}}))
rec("linear_max_rel_err", max(float(v) for v in checks.values()), fmt="{:.2e}")

# %% [markdown]
# ## Affine model: ρ ≠ α, but ρ ≤ α + |b|/‖z‖ (ineq. 4) and ρ(x) = α(ξ) (eq. 5)

# %% tags=["hide-input"]
geo_aff = geometry.geometry(affine, x)
rho_aff = geometry.affine_distance(affine.weight, affine.bias, x)
bound4 = geo_aff.alpha + abs(b) / z.norm()
xi = x + b * z / z.norm() ** 2
alpha_xi = geometry.geometry(affine, xi).alpha
gap = (rho_aff - geo_aff.alpha).abs()
rec("affine_max_abs_gap", float(gap.max()), fmt="{:.3f}")
rec("affine_median_abs_gap", float(gap.median()), fmt="{:.3f}")
rec("affine_bound_violations", int((rho_aff > bound4 + 1e-9).sum()))
rec("affine_eq5_max_abs_err", float((rho_aff - alpha_xi).abs().max()), fmt="{:.2e}")
rec("affine_rho_tilde_max_abs_err", float((geo_aff.rho_tilde - rho_aff).abs().max()), fmt="{:.2e}")
rec("affine_theorem2_beta_term", float(geo_aff.beta_term.max()), fmt="{:.4f}")
display(pd.DataFrame({"value": {
    "max |ρ − α|": float(gap.max()), "median |ρ − α|": float(gap.median()),
    "points violating ineq. (4)": int((rho_aff > bound4 + 1e-9).sum()),
    "max |ρ(x) − α(ξ)| (eq. 5)": float((rho_aff - alpha_xi).abs().max()),
    "max |ρ̃ − ρ| (linearisation is exact)": float((geo_aff.rho_tilde - rho_aff).abs().max()),
    "|β†|/‖g†‖ of Theorem 2 = |b|/‖z‖": float(geo_aff.beta_term.max()), "|b|/‖z‖": float(abs(b) / z.norm()),
}}))

# %% [markdown]
# ## Attacks find the closed-form distance
# Two Foolbox-based attacks against the predicted class on the first points: the **gradient attack** (Foolbox 1's
# GradientAttack, the attack of Etmann et al.'s code: a line search along the loss gradient, here the direction of
# Foolbox 3's L2 fast-gradient attack, refined by bisection) and the minimal-norm **DDN** attack. Errors are
# absolute distance errors divided by the median ρ (a relative error is undefined at the point the affine
# boundary passes through, where ρ = 0).

# %% tags=["hide-input"]
torch.set_default_dtype(torch.float32)
xa = x[: P.n_attacked].float()
att = {}
for name, bb, rho in (("linear", 0.0, rho_lin), ("affine", b, rho_aff)):
    m = geometry.AffineBinary(z.float(), bb)
    r = rho[: P.n_attacked].float()
    grad_att = attacks.attack(m, xa, method="gradient", bounds=(-10.0, 10.0))
    ddn = attacks.attack(m, xa, method="ddn", bounds=(-10.0, 10.0), steps=P.attack_steps)
    att[name] = (r, grad_att.l2, ddn.l2)
    err_g = float((grad_att.l2 - r).abs().max() / r.median())
    err_d = (ddn.l2 - r).abs() / r.median()
    rec(f"{name}_gradient_max_err", err_g, fmt="{:.2e}")
    rec(f"{name}_ddn_median_err", float(err_d.median()), fmt="{:.2e}")
    rec(f"{name}_ddn_max_err", float(err_d.max()), fmt="{:.2e}")
    rec(f"{name}_attack_failures", int((~grad_att.success).sum() + (~ddn.success).sum()))
    print(f"{name}: gradient attack max |d − ρ|/M[ρ] = {err_g:.2e}; DDN ({P.attack_steps} steps) median "
          f"{float(err_d.median()):.2e}, max {float(err_d.max()):.2e}; failures {rec.values[f'{name}_attack_failures']}")
rec("attack_max_rel_err", max(rec.values["linear_gradient_max_err"], rec.values["affine_gradient_max_err"]),
    fmt="{:.2e}")

# %% [markdown]
# ## Figure

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
# (a) the 2-D picture: ρ = ‖x‖|cos δ| for the linear model, and the affine shift
ax = axes[0]
g2 = torch.Generator().manual_seed(1)
p2 = torch.randn(40, 2, generator=g2) * torch.tensor([1.0, 0.6]) + torch.tensor([0.6, 0.9])
z2 = torch.tensor([1.0, -0.6])
t = np.linspace(-3, 3, 2)
for bb, style, lab in ((0.0, "-", "linear: ⟨x, z⟩ = 0"), (-0.8, "--", "affine: ⟨x, z⟩ + b = 0")):
    # points on ⟨x, z⟩ + bb = 0: x = s·z⊥ − bb z/‖z‖²
    perp = torch.tensor([0.6, 1.0])
    base = -bb * z2 / z2.norm() ** 2
    ax.plot(base[0] + t * perp[0].item(), base[1] + t * perp[1].item(), style, c="k", lw=1, label=lab)
ax.scatter(*p2.T, s=10, c=plotting.PALETTE["class0"])
for p in p2[:8]:
    foot = p - (p @ z2) * z2 / z2.norm() ** 2
    ax.plot([p[0], foot[0]], [p[1], foot[1]], c=plotting.PALETTE["strong"], lw=0.8)
ax.quiver([0.0], [0.0], [z2[0].item()], [z2[1].item()], angles="xy", scale_units="xy", scale=1, width=0.008)
ax.text(z2[0].item() + 0.05, z2[1].item() - 0.3, "z = ∇Ψ")
ax.set_aspect("equal"); ax.set_xlim(-2, 3); ax.set_ylim(-1.5, 3)
ax.set_title("(a) 2-D sketch: red = ρ(x), the projection on z")
ax.legend(loc="upper right", fontsize=8)
# (b) ρ vs α in d dimensions
ax = axes[1]
ax.scatter(geo_lin.alpha, rho_lin, s=6, label="linear: ρ = α", c=plotting.PALETTE["standard"])
ax.scatter(geo_aff.alpha, rho_aff, s=6, label="affine", c=plotting.PALETTE["weak"])
lo, hi = 0, float(max(geo_lin.alpha.max(), geo_aff.alpha.max())) * 1.05
ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
ax.plot([lo, hi], [lo + abs(b) / z.norm(), hi + abs(b) / z.norm()], "k--", lw=0.8, label="ineq. (4): α + |b|/‖z‖")
ax.set_xlabel("alignment α(x)"); ax.set_ylabel("robustness ρ(x)")
ax.set_title(f"(b) d = {d}: ρ vs α"); ax.legend(fontsize=8)
# (c) attack distance vs closed form
ax = axes[2]
for name, c in (("linear", plotting.PALETTE["standard"]), ("affine", plotting.PALETTE["weak"])):
    r, l2_grad, l2_ddn = att[name]
    ax.scatter(r, l2_grad, s=8, c=c, label=f"{name}: gradient attack")
    ax.scatter(r, l2_ddn, s=14, c=c, marker="x", lw=0.6, label=f"{name}: DDN")
m_ = float(max(att["linear"][0].max(), att["affine"][0].max())) * 1.05
ax.plot([0, m_], [0, m_], "k-", lw=0.8)
ax.set_xlabel("closed-form ρ(x)"); ax.set_ylabel("attack distance ‖x_adv − x‖₂")
ax.set_title("(c) Foolbox attacks find ρ"); ax.legend(fontsize=8)
fig.tight_layout()
plotting.save(fig, "etmann2019_poster_toy")
plt.show()

# %% tags=["hide-input"]
assert rec.values["affine_bound_violations"] == 0
display(pd.Series({k: f"{v:.3g}" if isinstance(v, float) else str(v) for k, v in rec.values.items()
                 if not isinstance(v, list)}, name="recorded"))

# %% tags=["remove-input"]
rec.show_claims()
