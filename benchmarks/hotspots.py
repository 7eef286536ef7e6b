"""The book's hot spots against their references, on one thread, with the fidelity of each faster path.

1. **Etmann's per-model evaluation** (``rilib.papers.etmann2019.measure``) on the middle-λ model of the default MNIST
   cohort and its evaluation points, part by part: the geometry kernel, the gradient attack, L2 BIM, Carlini–Wagner
   at the book's setting. Then the minimal-norm attacks on the first 64 of those points, each against a long CW run
   (500 steps × 5 binary steps, stepsize 0.01) *on the same points*: Foolbox CW at the book's setting, DDN (100 and
   300 steps) and FMN-L2 — time, median L2 and the ratio of each to the long run. And the book's CW with the
   model's parameters out of autograd (as every attack runs) against the same CW with them in autograd.
2. **The geometry kernel** (α, α†, ρ̃, β, Theorems 2/3, batched) against the per-example, per-class autograd loop of
   ``benchmarks/bench_geometry.py`` on 256 points of the same model.
3. **ROAR/KAR retraining** (``rilib.retrain.evaluate_roar_kar``, one process) against the same number of plain
   ``rilib.train.fit`` runs of the retrained net on the same data: the pipeline's overhead (occlusion, staging,
   caching) per retraining.

The models come from the zoo (``$RILIB_CACHE``; trained first if missing). Results go to the terminal and, with
``--out``, to a JSON file that the book's Performance page reads (``benchmarks/results/``).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/hotspots.py [--profile default] [--out benchmarks/results/hotspots.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def machine(checkout: Path = HERE) -> dict:
    """This machine, and the commit of ``checkout`` (the build that was measured)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True,
                                timeout=10).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "torch": torch.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads(), "commit": commit,
            "date": time.strftime("%Y-%m-%d", time.gmtime())}


def write_results(path: Path, head: dict, rows: list[dict], *, checkout: Path = HERE) -> None:
    """``head`` + this machine (with the commit of ``checkout``) + ``rows`` as the JSON the Performance page reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**head, "machine": machine(checkout), "rows": rows}, indent=1) + "\n")
    print(f"wrote {path}")


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_l2(res) -> float:
    return float(np.median(res.l2.numpy()))  # a failed point is +inf and counts, as in the book


def etmann(profile: str, n_attack: int) -> list[dict]:
    from rilib import attacks, geometry, profiles
    from rilib.papers.etmann2019 import cohorts
    from rilib.papers.etmann2019.jobs import _cw_options

    P = profiles.get(profile)
    A = P.etmann_attacks
    index = P.etmann_mnist.n_models // 2
    cm = cohorts.member("mnist", profile, index)
    _, x, _ = cohorts.eval_data("mnist", profile)
    model = cm.model.cpu().eval()
    bounds = cohorts.BOUNDS
    what = f"Etmann MNIST cohort model {index + 1}/{P.etmann_mnist.n_models} (λ = {cm.lam_paper:.3g}), {len(x)} points"
    rows = []
    t_geo, _ = timed(lambda: geometry.geometry(model, x, theorem3=True))
    t_grad, _ = timed(lambda: attacks.attack(model, x, method="gradient", bounds=bounds))
    t_bim, _ = timed(lambda: attacks.attack(model, x, method="bim", bounds=bounds, refine=A.bim_refine,
                                            epsilons=np.geomspace(*A.bim_eps_range, A.bim_n_eps).tolist(),
                                            steps=A.bim_steps))
    t_cw, _ = timed(lambda: attacks.attack(model, x, method="cw", bounds=bounds, **_cw_options(A)))
    total = t_geo + t_grad + t_bim + t_cw
    for part, t in (("geometry kernel", t_geo), ("gradient attack", t_grad), ("L2 BIM (ε grid, refined)", t_bim),
                    ("CW L2 (book setting)", t_cw)):
        rows.append({"chapter": "etmann2019", "hot spot": f"measure: {part}", "on": what, "seconds": round(t, 2),
                     "share": round(t / total, 3)})

    xs = x[:n_attack]
    long_opts = dict(steps=500, binary_search_steps=5, stepsize=0.01, initial_const=A.cw_initial_const)
    t_long, long = timed(lambda: attacks.attack(model, xs, method="cw", bounds=bounds, **long_opts))
    ref = median_l2(long)
    on = f"the same model, its first {len(xs)} evaluation points; reference: CW 500 × 5 steps, stepsize 0.01"
    rows.append({"chapter": "etmann2019", "hot spot": "minimal-norm attack: CW 500×5 (reference)", "on": on,
                 "seconds": round(t_long, 2), "median_l2": round(ref, 4), "time_ratio": 1.0, "distance_ratio": 1.0})
    for label, method, opts in (("CW, book setting", "cw", _cw_options(A)), ("DDN 100 steps", "ddn", {"steps": 100}),
                                ("DDN 300 steps", "ddn", {"steps": 300}), ("FMN-L2, defaults", "fmn", {})):
        t, res = timed(lambda: attacks.attack(model, xs, method=method, bounds=bounds, **opts))
        m = median_l2(res)
        rows.append({"chapter": "etmann2019", "hot spot": f"minimal-norm attack: {label}", "on": on,
                     "seconds": round(t, 2), "median_l2": round(m, 4), "time_ratio": round(t / t_long, 3),
                     "distance_ratio": round(m / ref, 4), "failures": int((~res.success).sum())})

    # every attack runs with the model's parameters out of autograd (rilib.attacks.result.frozen); the reference is
    # the same attack with them in autograd, as before (Foolbox's loss.backward() then computes their gradients too)
    import contextlib
    from unittest import mock

    with mock.patch.object(attacks, "frozen", lambda m: contextlib.nullcontext(m)):
        t_in, res_in = timed(lambda: attacks.attack(model, xs, method="cw", bounds=bounds, **_cw_options(A)))
    t_out, res_out = timed(lambda: attacks.attack(model, xs, method="cw", bounds=bounds, **_cw_options(A)))
    same = bool(torch.equal(res_in.x_adv, res_out.x_adv))
    rows.append({"chapter": "etmann2019", "hot spot": "CW (book setting): parameters out of autograd vs in",
                 "on": f"the same model, its first {len(xs)} evaluation points; adversarial examples "
                       f"{'identical bit for bit' if same else 'NOT identical'}",
                 "seconds": round(t_out, 2), "reference_seconds": round(t_in, 2), "time_ratio": round(t_out / t_in, 3),
                 "median_l2": round(median_l2(res_out), 4),
                 "distance_ratio": round(median_l2(res_out) / median_l2(res_in), 4), "identical": same})

    from bench_geometry import naive_geometry

    xg = x[:256]
    geometry.geometry(model, xg[:8], theorem3=True)
    t_fast, _ = timed(lambda: geometry.geometry(model, xg, theorem3=True))
    t_slow, _ = timed(lambda: naive_geometry(model, xg))
    rows.append({"chapter": "etmann2019", "hot spot": "geometry kernel vs per-example, per-class loop",
                 "on": f"the same model, {len(xg)} points", "seconds": round(t_fast, 3),
                 "reference_seconds": round(t_slow, 2), "time_ratio": round(t_fast / t_slow, 4)})
    return rows


def roar(profile: str, n_retrain: int) -> list[dict]:
    from rilib import data, models, profiles, retrain, train

    R = profiles.get(profile).kim_roar
    ds = data.load(str(R.dataset)).subset(n_train=R.n_train, n_test=R.n_test, seed=0)
    kw = R.retrain_kwargs
    cfg = {"arch": str(R.retrain_arch), "arch_kwargs": kw.to_dict() if hasattr(kw, "to_dict") else dict(kw or {}),
           "epochs": int(R.epochs), "batch_size": int(R.batch_size)}
    g = torch.Generator().manual_seed(0)
    maps = {"random": (torch.rand(ds.x_train.shape, generator=g), torch.rand(ds.x_test.shape, generator=g))}
    fractions = list(R.fractions)[:n_retrain]

    def plain():
        for k in range(len(fractions)):
            torch.manual_seed(k)
            net = models.build(cfg["arch"], **cfg["arch_kwargs"])
            train.fit(net, ds.x_train, ds.y_train, train.CrossEntropy(), epochs=cfg["epochs"],
                      batch_size=cfg["batch_size"], seed=k, progress=False)

    warm = models.build(cfg["arch"], **cfg["arch_kwargs"])  # one-time costs (first autograd call) paid by neither
    train.fit(warm, ds.x_train[:64], ds.y_train[:64], train.CrossEntropy(), epochs=1, batch_size=32, progress=False)
    t_plain, _ = timed(plain)
    old = {k: os.environ.get(k) for k in ("RILIB_CACHE", "RILIB_WORKERS")}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(RILIB_CACHE=tmp, RILIB_WORKERS="1")
        try:
            t_pipe, _ = timed(lambda: retrain.evaluate_roar_kar(
                ds.x_train, ds.y_train, ds.x_test, ds.y_test, maps, arch=cfg["arch"], arch_kwargs=cfg["arch_kwargs"],
                epochs=cfg["epochs"],
                batch_size=cfg["batch_size"], seeds=(0,), fractions=fractions, modes=("roar",), progress=False))
        finally:
            for k, v in old.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return [{"chapter": "kim2019", "hot spot": "ROAR/KAR retraining vs plain training loop",
             "on": f"{len(fractions)} retrainings of {cfg['arch']} on {len(ds.x_train)} Fashion-MNIST images × "
                   f"{cfg['epochs']} epochs, one process", "seconds": round(t_pipe, 2),
             "reference_seconds": round(t_plain, 2), "time_ratio": round(t_pipe / t_plain, 3)}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--n-attack", type=int, default=64, help="points of the minimal-norm attack comparison")
    ap.add_argument("--n-retrain", type=int, default=5)
    ap.add_argument("--out", type=Path, help="write the rows and the machine as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = etmann(args.profile, args.n_attack) + roar(args.profile, args.n_retrain)
    for r in rows:
        extra = ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("chapter", "hot spot", "on"))
        print(f"{r['chapter']:<11} {r['hot spot']:<55} {extra}")
    if args.out:
        write_results(args.out, {"kind": "hotspots", "profile": args.profile}, rows)


if __name__ == "__main__":
    main()
