"""The benchmark readers behind the Performance page: job lines of both progress formats are parsed with their
own times, and the page renders the newest results (or says there are none)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rilib import parallel, runner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import chapter_profile  # noqa: E402


def test_job_lines_of_map_jobs_and_run_plan_are_read_with_their_own_times(tmp_path, monkeypatch):
    log = tmp_path / "progress.txt"
    monkeypatch.setenv("RILIB_PROGRESS", str(log))
    parallel.map_jobs(abs, [(-1,), (-2,)], desc="etmann measure (default)", n_workers=1, progress=False)
    runner_log = tmp_path / "nb.log"
    lines = log.read_text().splitlines() + ["Noack: nets and evaluations: 3 done (mnist noack_mnist_cnn/ce seed 0) in "
                                            "1m05s, 1 running, 2m00s elapsed"]
    runner_log.write_text("".join(f"{k}.0\t{line}\n" for k, line in enumerate(lines)))
    jobs = chapter_profile.jobs(runner_log)
    assert jobs["etmann measure"]["n"] == 2 and jobs["etmann measure"]["seconds"] < 1
    assert jobs["Noack: nets and evaluations"] == {"n": 1, "seconds": 65.0, "max": 65.0}
    assert chapter_profile.seconds("1h02m") == 3720 and chapter_profile.seconds("3m05s") == 185
    assert chapter_profile.seconds("0.4s") == pytest.approx(0.4)


def test_the_performance_page_shows_the_newest_results(tmp_path):
    assert "No benchmark results yet" in runner.performance_markdown(tmp_path)
    machine = {"cpu": "Test CPU", "cores": 2, "gpu": None, "date": "2026-01-01", "commit": "abc"}
    row = {"chapter": "kim2019", "notebook": "fig3_toy", "profile": "default", "seconds": 61.0,
           "cells": {"compute": 50.0, "figures": 5.0}, "slowest_cell": {"seconds": 40.0, "first_line": "x = f()"},
           "jobs": {"train": {"n": 9, "seconds": 80.0, "max": 10.0}}}
    (tmp_path / "old.json").write_text(json.dumps({"kind": "chapters", "label": "cold", "machine": machine,
                                                   "rows": [dict(row, seconds=999.0)]}))
    new = dict(machine, date="2026-02-01")
    (tmp_path / "new.json").write_text(json.dumps({"kind": "chapters", "label": "cold", "machine": new, "rows": [row]}))
    hot = {"chapter": "etmann2019", "hot spot": "minimal-norm attack: DDN 100 steps", "on": "64 points",
           "seconds": 4.9, "median_l2": 1.61, "time_ratio": 0.05, "distance_ratio": 0.89}
    (tmp_path / "hot.json").write_text(json.dumps({"kind": "hotspots", "profile": "default", "machine": new,
                                                   "rows": [hot]}))
    page = runner.performance_markdown(tmp_path)
    assert "| kim2019 | 1.0 min | 25 min | 1 |" in page and "999" not in page
    assert "| kim2019/fig3_toy | 61 | 50 / 5 / 0 / 0 | 40 s: `x = f()` | train × 9, 80 |" in page
    assert "DDN 100 steps" in page and "| 0.05 | 1.61 | 0.89 |" in page and "Test CPU, 2 cores, no GPU" in page


def test_a_build_is_profiled_from_its_terminal_output_alone(tmp_path):
    out = tmp_path / "build.log"
    out.write_text("plan at profile 'default': 2 model(s) to train\n"
                   "executing 2 notebooks at profile 'default' (kernel rilib, 7200 s per cell)\n"
                   "[1/2] kim2019/models ...\n"
                   "  [    8s] kim2019/models: train: 2 jobs, 2 workers\n"
                   "  [ 2m18s] kim2019/models: train: 1/2 done (mnist kim_cnn/adversarial seed 0, None) in 2m16s, "
                   "2m18s elapsed, ~2m18s left\n"
                   "  [ 4m16s] kim2019/models: train: 2/2 done (mnist kim_cnn/adversarial seed 0, None) in 4m13s, "
                   "4m16s elapsed\n"
                   "[1/2] kim2019/models: ok in 5m51s (total 5m51s)\n"
                   "[2/2] kim2019/vaegan ...\n"
                   "[2/2] kim2019/vaegan: ok in 12s (total 6m03s)\n")
    rows = chapter_profile.from_runner_output(out, None)
    assert [(r["notebook"], r["seconds"], r["profile"]) for r in rows] == [("models", 351.0, "default"),
                                                                           ("vaegan", 12.0, "default")]
    assert rows[0]["jobs"] == {"train": {"n": 2, "seconds": 389.0, "max": 253.0}} and rows[1]["jobs"] == {}
    assert chapter_profile.from_runner_output(out, ["vaegan"])[0]["notebook"] == "vaegan"
    page = runner.performance_markdown(_write(tmp_path / "results", rows))
    assert "| kim2019/models | 351 | – | – | train × 2, 389 |" in page


def test_a_warm_build_profiles_its_kept_notebooks_as_zero(tmp_path):
    out = tmp_path / "warm.log"
    out.write_text("executing 2 notebooks at profile 'default' (kernel rilib, 7200 s per cell)\n"
                   "[1/2] kim2019/models: up to date (executed 2026-12-06 13:00 UTC in 5m51s), kept; --rerun executes it\n"
                   "[2/2] kim2019/vaegan ... (changed since it was executed: its source)\n"
                   "[2/2] kim2019/vaegan: ok in 12s (total 12s)\n")
    rows = chapter_profile.from_runner_output(out, None)
    assert [(r["notebook"], r["seconds"], r.get("kept")) for r in rows] == [("models", 0.0, True),
                                                                            ("vaegan", 12.0, None)]
    page = runner.performance_markdown(_write(tmp_path / "results", rows))
    assert "| kim2019/models | 0 | kept: up to date, not executed | – | – |" in page
    assert "| kim2019/vaegan | 12 | – | – | – |" in page


def _write(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir()
    (folder / "cold.json").write_text(json.dumps({"kind": "chapters", "label": "cold", "rows": rows,
                                                  "machine": {"cpu": "Test CPU", "cores": 2, "date": "2026-01-01"}}))
    return folder


def test_cells_are_split_by_what_they_do():
    assert chapter_profile.cell_kind("import numpy as np\nfrom rilib.train import fit\nplotting.setup()") == "setup"
    assert chapter_profile.cell_kind("import numpy as np\nfrom rilib import plotting\n\njobs.prepare(profile)\n"
                                     "r = jobs.randomisation(profile)") == "compute"
    assert chapter_profile.cell_kind("fig, ax = plt.subplots()\nax.plot(x)") == "figures"
    assert chapter_profile.cell_kind("m = zoo.get(spec)") == "compute"
    assert chapter_profile.cell_kind("rec('x', 1.0)") == "other"
