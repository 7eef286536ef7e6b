"""Benchmark rilib.geometry.geometry against a naive per-example, per-class autograd loop.

Model: a randomly initialised network shaped like Etmann et al.'s (2019) MNIST model (appendix "MNIST Model
Architecture": conv32-pool-conv64-pool-conv128-pool-fc128-dropout-fc10, ReLU, 3×3 'same' convolutions), in eval
mode. Inputs: MNIST test images from ``rilib.data.load_mnist()`` when that works, otherwise uniform noise in [0, 1].

Both paths compute α (eq. 7), α† (eq. 11), ρ̃ (eq. 9), β (Theorem 1) and the right-hand sides of eqs. (14), (15)
and (16) (Theorem 3, ``theorem3=True``); the script checks that they agree and prints both times and the speed-up.

Usage::

    python benchmarks/bench_geometry.py [--n 1000] [--batch-size 256] [--dtype float32] [--device cpu]
"""
from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from rilib.geometry import Geometry, bias_term, geometry

COMPARED = [
    "pred", "j_star", "alpha", "alpha_dagger", "rho_tilde", "beta", "beta_dagger", "psi_dagger", "linear_dagger",
    "x_norm", "beta_term", "rhs14", "angle_term", "rhs15", "xi_alignment", "xi_angle_term", "rhs16", "pred_xi",
]


def small_net() -> nn.Module:
    """Etmann's MNIST SmallNet (:class:`rilib.models.EtmannSmallNet`) with random weights."""
    from rilib.models import EtmannSmallNet

    return EtmannSmallNet()


def load_inputs(n: int, seed: int) -> tuple[torch.Tensor, str]:
    """``n`` MNIST test images if rilib.data can provide them, else uniform noise; plus a description."""
    try:
        from rilib.data import load_mnist

        data = load_mnist()
        x = data.x_test if hasattr(data, "x_test") else data[0]
        x = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, 28, 28)
        if x.shape[0] >= 1 and float(x.max()) <= 1.0 and float(x.min()) >= 0.0:
            if x.shape[0] < n:
                x = x.repeat(math.ceil(n / x.shape[0]), 1, 1, 1)
            return x[:n].clone(), f"MNIST test images ({getattr(data, 'source', 'rilib.data.load_mnist')})"
        reason = "unexpected shape or range"
    except Exception as err:  # the data module may be missing or broken: the benchmark does not depend on it
        reason = f"{type(err).__name__}: {err}"
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((n, 1, 28, 28), generator=gen), f"uniform noise in [0, 1] (MNIST unavailable: {reason})"


def naive_geometry(model: nn.Module, x: torch.Tensor, *, eps: float = 1e-12) -> dict[str, torch.Tensor]:
    """The same quantities, one example and one class at a time, straight from the paper's formulas."""
    out: dict[str, list[torch.Tensor]] = {name: [] for name in COMPARED}
    for i in range(x.shape[0]):
        xi = x[i : i + 1].clone().requires_grad_(True)
        logits = model(xi)[0]
        n_classes = logits.shape[0]
        grads = [torch.autograd.grad(logits[c], xi, retain_graph=c < n_classes - 1)[0].flatten()
                 for c in range(n_classes)]
        logits = logits.detach()
        xf = xi.detach().flatten()
        beta = torch.stack([logits[c] - xf @ grads[c] for c in range(n_classes)])  # Theorem 1 remainder
        i_star = int(logits.argmax())
        g = grads[i_star]
        best, j_star = math.inf, -1
        for j in range(n_classes):  # eq. (9)
            if j == i_star:
                continue
            ratio = float((logits[i_star] - logits[j]) / max(float((g - grads[j]).norm()), eps))
            if ratio < best:
                best, j_star = ratio, j
        g_dag = g - grads[j_star]
        g_norm, gd_norm = max(float(g.norm()), eps), max(float(g_dag.norm()), eps)
        alpha = (xf @ g).abs() / g_norm
        alpha_dagger = (xf @ g_dag).abs() / gd_norm
        beta_dagger = beta[i_star] - beta[j_star]
        beta_term = beta_dagger.abs() / gd_norm
        angle_term = xf.norm() * (g_dag / gd_norm - g / g_norm).norm()
        # Theorem 3
        xi_vec = xf + beta_dagger / gd_norm * g_dag / gd_norm
        xi_in = xi_vec.reshape(xi.shape).clone().requires_grad_(True)
        logits_xi = model(xi_in)[0]
        gamma = torch.autograd.grad(logits_xi[i_star], xi_in)[0].flatten()
        gamma_bar = gamma / max(float(gamma.norm()), eps)
        xi_alignment = (xi_vec @ gamma_bar).abs()
        xi_angle_term = xi_vec.norm() * (g_dag / gd_norm - gamma_bar).norm()
        values = {
            "pred": torch.tensor(i_star), "j_star": torch.tensor(j_star), "alpha": alpha,
            "alpha_dagger": alpha_dagger, "rho_tilde": torch.tensor(best, dtype=x.dtype), "beta": beta,
            "beta_dagger": beta_dagger, "psi_dagger": logits[i_star] - logits[j_star],
            "linear_dagger": xf @ g_dag, "x_norm": xf.norm(), "beta_term": beta_term,
            "rhs14": alpha_dagger + beta_term, "angle_term": angle_term, "rhs15": alpha + angle_term + beta_term,
            "xi_alignment": xi_alignment, "xi_angle_term": xi_angle_term, "rhs16": xi_alignment + xi_angle_term,
            "pred_xi": logits_xi.detach().argmax(),
        }
        for name, value in values.items():
            out[name].append(value.detach().to(x.device))
    return {name: torch.stack(values) for name, values in out.items()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compare(fast: Geometry, slow: dict[str, torch.Tensor], *, rtol: float, atol: float) -> dict[str, torch.Tensor]:
    """Per field, a (B,) mask of the examples on which both paths agree.

    Integer fields must be equal; float fields must be close with ``atol`` relative to the field's largest
    magnitude (so fields of any scale are compared alike).
    """
    masks = {}
    for name in COMPARED:
        a = getattr(fast, name)
        b = slow[name].to(device=a.device, dtype=a.dtype)
        if a.dtype == torch.int64:
            ok = a == b
        else:
            scale = max(float(b.abs().max()), 1.0)
            ok = torch.isclose(a, b, rtol=rtol, atol=atol * scale)
            ok = ok.reshape(ok.shape[0], -1).all(dim=1)
        masks[name] = ok.cpu()
    return masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of inputs (default 1000)")
    parser.add_argument("--batch-size", type=int, default=256, help="geometry() chunk size (default 256)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings of geometry()")
    args = parser.parse_args()

    dtype = getattr(torch, args.dtype)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    model = small_net().to(device=device, dtype=dtype).eval()
    x, source = load_inputs(args.n, args.seed)
    x = x.to(device=device, dtype=dtype)
    print(f"torch {torch.__version__}, device {device}, dtype {args.dtype}, threads {torch.get_num_threads()}")
    print(f"model: Etmann MNIST SmallNet layout, random weights; inputs: {args.n} × 1×28×28, {source}")

    geometry(model, x[:8], theorem3=True)  # warm-up (allocator, kernels)
    naive_geometry(model, x[:2])
    bias_term(model, x[:8])
    times = []
    for _ in range(max(args.repeats, 1)):
        _sync(device)
        start = time.perf_counter()
        fast = geometry(model, x, theorem3=True, batch_size=args.batch_size)
        _sync(device)
        times.append(time.perf_counter() - start)
    t_fast = min(times)

    _sync(device)
    start = time.perf_counter()
    slow = naive_geometry(model, x)
    _sync(device)
    t_slow = time.perf_counter() - start

    rtol, atol = (1e-4, 1e-5) if dtype == torch.float32 else (1e-9, 1e-11)
    masks = compare(fast, slow, rtol=rtol, atol=atol)
    agree = torch.stack(list(masks.values())).all(dim=0)
    n_bad = int((~agree).sum())
    bad_fields = [name for name, ok in masks.items() if not bool(ok.all())]
    # Theorem 1 checked against the parameters (bias_term) as well
    start = time.perf_counter()
    beta_direct = torch.cat([bias_term(model, xb) for xb in torch.split(x, args.batch_size)])
    _sync(device)
    t_bias = time.perf_counter() - start
    theorem1 = float((beta_direct - fast.beta).abs().max() / fast.logits.abs().max())
    print(f"geometry(theorem3=True), batch_size={args.batch_size}: {t_fast:8.3f} s (best of {len(times)})")
    print(f"naive per-example, per-class loop:        {t_slow:8.3f} s")
    print(f"speed-up:                                 {t_slow / t_fast:8.1f} ×")
    print(f"bias_term() for all inputs:               {t_bias:8.3f} s; "
          f"max |β_direct − β_remainder| / max|Ψ| = {theorem1:.2e}")
    print(f"agree (allclose rtol={rtol:g}, atol={atol:g}·scale; pred/j*/F(ξ) exactly): "
          f"{args.n - n_bad}/{args.n} examples" + (f"; differing fields: {', '.join(bad_fields)}" if n_bad else ""))
    if n_bad:
        print("  (in float32 a batched and a one-example kernel can round a near-tie inside a max-pool window "
              "differently and so pick a different, equally valid subgradient; float64 agrees exactly)")
    inequality_ok = bool((fast.rho_tilde <= fast.rhs14 * (1 + rtol) + atol).all()
                         and (fast.rhs14 <= fast.rhs15 * (1 + rtol) + atol).all()
                         and (fast.rho_tilde <= fast.rhs16 * (1 + rtol) + atol).all())
    print(f"Theorems 2 and 3 hold pointwise: {inequality_ok}; "
          f"median ρ̃ {float(fast.rho_tilde.median()):.4g}, α {float(fast.alpha.median()):.4g}, "
          f"α† {float(fast.alpha_dagger.median()):.4g}")
    allowed = 0 if dtype == torch.float64 else max(1, args.n // 50)
    if n_bad > allowed or not inequality_ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
