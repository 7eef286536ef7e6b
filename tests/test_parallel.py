"""Worker pool: results in job order, failures named, the worker count read from the environment, progress lines;
plans whose jobs depend on earlier jobs."""
from __future__ import annotations

import math
import os
import operator
import shutil

import pytest
import torch

from rilib import parallel


@pytest.mark.parametrize("n_workers", [1, 2])
def test_map_jobs_keeps_job_order(n_workers):
    jobs = [(2, k) for k in range(7)]
    assert parallel.map_jobs(operator.pow, jobs, n_workers=n_workers, progress=False) == [2 ** k for k in range(7)]


@pytest.mark.parametrize("n_workers", [1, 2])
def test_failing_job_is_reported_with_its_arguments(n_workers):
    """One worker (jobs in this process) and a pool raise the same error, naming the job."""
    with pytest.raises(RuntimeError, match=r"^roots: job sqrt\(-1.0,\) failed: math domain error$") as info:
        parallel.map_jobs(math.sqrt, [(4.0,), (-1.0,), (9.0,)], desc="roots", n_workers=n_workers, progress=False)
    assert isinstance(info.value.__cause__, ValueError)


def _copy_plan(folder, edges):
    """A plan of file copies ``src -> dst``: a copy is ready once its source exists; the result, once every file
    exists, is the sorted file names."""
    def plan():
        ready = [(str(folder / a), str(folder / b)) for a, b in edges
                 if (folder / a).exists() and not (folder / b).exists()]
        names = sorted(p.name for p in folder.iterdir())
        return ready, (names if len(names) == len({n for e in edges for n in e}) else None)
    return plan


@pytest.mark.parametrize("n_workers", [1, 2])
def test_run_plan_runs_each_job_once_after_what_it_needs(tmp_path, monkeypatch, n_workers):
    """A chain a → b → c → e and a branch a → d: every copy runs exactly once, after its source exists."""
    log = tmp_path / "progress.txt"
    monkeypatch.setenv("RILIB_PROGRESS", str(log))
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a").write_text("payload")
    edges = [("a", "b"), ("b", "c"), ("a", "d"), ("c", "e")]
    result = parallel.run_plan(_copy_plan(folder, edges), shutil.copyfile, desc="copies", n_workers=n_workers)
    assert result == ["a", "b", "c", "d", "e"]
    assert all((folder / n).read_text() == "payload" for n in result)
    done = [line for line in log.read_text().splitlines() if " done (" in line]
    assert len(done) == 4  # one line per job: nothing ran twice
    # a second call finds everything done: no job, no pool, the same result
    log.unlink()
    assert parallel.run_plan(_copy_plan(folder, edges), shutil.copyfile, n_workers=n_workers) == result
    assert not log.exists()


@pytest.mark.parametrize("n_workers", [1, 2])
def test_run_plan_refuses_a_job_that_leaves_nothing(tmp_path, n_workers):
    """A job that returns without producing what the plan waits for is an error, not an endless loop."""
    (tmp_path / "a").write_text("x")
    plan = _copy_plan(tmp_path, [("a", "b")])
    with pytest.raises(RuntimeError, match=r"ran but the plan still asks for it"):
        parallel.run_plan(plan, operator.eq, desc="copies", n_workers=n_workers, progress=False)


@pytest.mark.parametrize("n_workers", [1, 2])
def test_run_plan_names_a_failing_job_and_a_stalled_plan(tmp_path, n_workers):
    job = (str(tmp_path / "missing"), str(tmp_path / "b"))
    with pytest.raises(RuntimeError, match=r"^copies: job copyfile\('.*missing', '.*b'\) failed") as info:
        parallel.run_plan(lambda: ([job], None), shutil.copyfile, desc="copies", n_workers=n_workers,
                          progress=False)
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(RuntimeError, match="no job left to run and no result"):
        parallel.run_plan(lambda: ([], None), shutil.copyfile, desc="copies", n_workers=n_workers, progress=False)


def test_worker_count_from_environment(monkeypatch):
    monkeypatch.setenv("RILIB_WORKERS", "3")
    assert parallel.workers() == 3
    monkeypatch.setenv("RILIB_WORKERS", "0")
    assert parallel.workers() == 1
    monkeypatch.setenv("RILIB_WORKERS", "two")
    with pytest.raises(ValueError, match="RILIB_WORKERS"):
        parallel.workers()


@pytest.mark.parametrize("n_workers", [1, 2])
def test_progress_file_gets_one_line_per_job(tmp_path, monkeypatch, capsys, n_workers):
    log = tmp_path / "progress.txt"
    monkeypatch.setenv("RILIB_PROGRESS", str(log))
    assert parallel.map_jobs(operator.pow, [(2, k) for k in range(5)], desc="powers", n_workers=n_workers) \
        == [1, 2, 4, 8, 16]
    header, *done = log.read_text().splitlines()
    assert header.startswith("powers: 5 jobs")
    assert len(done) == 5
    assert [line.split()[1] for line in done] == [f"{k}/5" for k in range(1, 6)]
    assert all(line.startswith("powers: ") and "elapsed" in line for line in done)
    assert "left" in done[0] and "left" not in done[-1]
    assert "powers" not in capsys.readouterr().err  # no tqdm bar while the runner collects progress


def test_no_progress_file_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("RILIB_PROGRESS", raising=False)
    monkeypatch.chdir(tmp_path)
    parallel.report("nothing")
    parallel.map_jobs(operator.pow, [(2, 1)], n_workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_fit_reports_its_last_epoch(tmp_path, monkeypatch):
    from rilib.train import CrossEntropy, fit

    log = tmp_path / "progress.txt"
    monkeypatch.setenv("RILIB_PROGRESS", str(log))
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    fit(model, torch.randn(20, 2), torch.randint(0, 2, (20,)), CrossEntropy(), epochs=2, batch_size=10, desc="toy")
    lines = log.read_text().splitlines()
    assert lines and lines[-1].startswith("train toy: epoch 2/2, loss ")


def test_durations_read_well():
    assert [parallel.duration(s) for s in (4.4, 75.2, 3725)] == ["4s", "1m15s", "1h02m"]


def _script(tmp_path, body: str, name: str):
    p = tmp_path / name
    p.write_text(body)
    return p


def test_a_script_without_main_guard_runs_its_jobs_in_process_with_one_sentence(tmp_path):
    """A new user's plain script (no ``if __name__ == "__main__":``) calling rilib at top level: spawned workers
    would re-run it, so the jobs run in the calling process, with a warning that says what to change."""
    import subprocess
    import sys

    progress = tmp_path / "progress.txt"
    body = ("from rilib import parallel\n"
            "print(parallel.map_jobs(abs, [(-1,), (-2,), (-3,)], n_workers=2, progress=False))\n")
    plain = _script(tmp_path, body, "plain.py")
    env = {**os.environ, "RILIB_PROGRESS": str(progress)}
    r = subprocess.run([sys.executable, str(plain)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "[1, 2, 3]" in r.stdout
    assert "if __name__ == " in r.stderr and "plain.py" in r.stderr and "bootstrapping" not in r.stderr
    assert "in this process" in progress.read_text()
    indented = "".join("    " + line + "\n" for line in body.splitlines())
    guarded = _script(tmp_path, "if __name__ == \"__main__\":\n" + indented, "guarded.py")
    progress.write_text("")
    r = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "[1, 2, 3]" in r.stdout and "2 workers" in progress.read_text() and "RuntimeWarning" not in r.stderr
