"""The runner's preflight: every missing dataset and weight file in one message before anything starts, the plan
(models to train vs cached), the training-time estimate's arithmetic, and the confirmation a CPU-only paper run
asks for."""
from __future__ import annotations

import math

import pytest
import torch

from rilib import preflight, runner, zoo
from rilib.papers.kim2019 import toy


def test_missing_imagenet_and_weights_are_listed_together_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RILIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path / "zoo"))
    started = []
    monkeypatch.setattr(runner, "execute", lambda *a, **k: started.append(a))
    assert runner.main(["--profile", "paper", "--only", "etmann2019/fig2_fig3", "--no-book"]) == 2
    err = capsys.readouterr().err
    assert "2 thing(s) missing (nothing was started)" in err
    assert str(tmp_path / "data" / "imagenet") in err  # the folder searched, from the loader's own message
    assert str(tmp_path / "data" / "weights" / "resnet50.pth") in err
    assert started == []


def test_the_plan_counts_cached_models_and_a_cpu_paper_run_asks_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path / "zoo"))
    monkeypatch.delenv("RILIB_SCHEDULER", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(preflight, "_probe", lambda spec, device: 0.01)
    plan = preflight.check(["kim2019/fig3_toy"], "ci", needs=runner.paper_needs)
    assert plan.ok and plan.cached == 0 and len(plan.to_train) == 3  # standard, ε 0.25, ε 0.5 at ci's one seed
    zoo.get(plan.to_train[0], device="cpu", progress=False)
    again = preflight.check(["kim2019/fig3_toy"], "ci", needs=runner.paper_needs, estimate=False)
    assert (again.cached, len(again.to_train), again.seconds) == (1, 2, None)

    started = []
    monkeypatch.setattr(runner, "execute", lambda *a, **k: started.append(a))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert runner.main(["--profile", "paper", "--only", "kim2019/fig3_toy", "--no-book"]) == 2
    out = capsys.readouterr()
    assert "model(s) to train" in out.out and "estimated training time" in out.out
    assert "add --yes" in out.err and started == []


def test_the_estimate_is_the_measured_step_times_steps_times_epochs(monkeypatch):
    s = toy.spec("eps025", 0, "ci")
    n = zoo.load_data(s).x_train.shape[0]
    monkeypatch.setattr(preflight, "_probe", lambda spec, device: 0.25)
    assert preflight.estimate_seconds([s, s], device="cpu") == pytest.approx(2 * 0.25 * math.ceil(n / s.batch_size)
                                                                            * s.epochs)
    supplied = zoo.ModelSpec(dataset="gaussian-toy", arch="toy_mlp", epochs=0)  # weights used as supplied
    assert preflight.estimate_seconds([supplied], device="cpu") == 0


def test_a_probe_times_a_real_training_step():
    s = toy.spec("eps025", 0, "ci")
    t = preflight._probe(s, torch.device("cpu"))
    assert 0 < t < 5 and math.isfinite(t)
