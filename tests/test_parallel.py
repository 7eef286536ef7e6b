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


# ---------------------------------------------------------------------------------------------------------------
# the Dask cluster: the same keys and numbers as a serial run, a killed worker, a failing job, a shared cache
# ---------------------------------------------------------------------------------------------------------------
def _toy_specs(epochs=1, seeds=(0, 1)):
    from rilib import zoo

    return [zoo.ModelSpec(dataset="gaussian-toy", arch="toy_mlp", regime="ce", epochs=epochs, batch_size=50, seed=s,
                          profile="test", data_kwargs={"n_per_class": 100, "n_test_per_class": 20, "seed": 0})
            for s in seeds]


def _weights(folder, specs):
    import json

    return {s.key: json.loads((folder / s.key / "meta.json").read_text())["weights_sha256"] for s in specs}


def test_local_cluster_gives_the_same_keys_and_weights_as_a_serial_run(tmp_path, monkeypatch):
    from rilib import zoo

    specs = _toy_specs()
    runs = {}
    for n in (1, 2):
        monkeypatch.setenv("RILIB_CACHE", str(tmp_path / f"w{n}"))
        monkeypatch.setenv("RILIB_WORKERS", str(n))
        assert zoo.prefetch(specs, progress=False) == 2
        runs[n] = _weights(tmp_path / f"w{n}", specs)
    assert runs[1] == runs[2] and len(runs[1]) == 2


def _die_once(marker: str, out: str) -> int:
    """Dies (as a killed worker does) the first time, half-way through writing ``out``; completes the second."""
    import tempfile
    from pathlib import Path

    from rilib import cache

    if not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        fd, _ = tempfile.mkstemp(prefix=cache._tmp_prefix(Path(out).name), dir=Path(out).parent)
        os.write(fd, b"half")
        os._exit(1)
    cache.atomic_write(out, b"complete")
    return os.getpid()


def test_a_job_whose_worker_dies_runs_again_elsewhere_and_the_cache_stays_intact(tmp_path):
    import cloudpickle

    from rilib import cache

    cloudpickle.register_pickle_by_value(__import__(__name__))  # the workers need not import this test module
    marker, out = tmp_path / "marker", tmp_path / "result.bin"
    calm = tmp_path / "calm"
    calm.write_text("0")  # the second job finds its marker: it does not die
    pid, _ = parallel.map_jobs(_die_once, [(str(marker), str(out)), (str(calm), str(tmp_path / "other.bin"))],
                               n_workers=2, progress=False)
    assert pid != int(marker.read_text())  # another worker process finished the job
    assert out.read_bytes() == b"complete"
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1 and leftovers[0].read_bytes() == b"half"  # never under the final name
    import time

    dead = int(marker.read_text())
    deadline = time.time() + 60
    while cache._pid_alive(dead) and time.time() < deadline:  # until the nanny has reaped the dead worker
        time.sleep(0.2)
    assert cache.sweep(tmp_path, min_age=0) == leftovers  # its writer is gone: swept


def test_a_failing_job_on_the_cluster_names_its_spec(tmp_path, monkeypatch):
    from rilib import zoo

    monkeypatch.setenv("RILIB_CACHE", str(tmp_path))
    bad = zoo.ModelSpec(dataset="gaussian-toy", arch="no_such_net", regime="ce", seed=3)
    with pytest.raises(RuntimeError, match=r"^train: job _train_job\(ModelSpec\(.*arch='no_such_net'.*seed=3") as e:
        parallel.map_jobs(zoo._train_job, [(s, "cpu") for s in _toy_specs(seeds=(0,))] + [(bad, "cpu")],
                          desc="train", n_workers=2, progress=False)
    assert "no_such_net" in str(e.value.__cause__)


def _get_loaded(spec) -> bool:
    from rilib import zoo

    return zoo.get(spec, device="cpu", progress=False).loaded


def test_two_workers_asked_for_one_model_train_it_once(tmp_path, monkeypatch):
    """Without the per-key lock both workers would find no entry and both train; with it, one trains and the
    other, having waited, loads what the first wrote."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(__import__(__name__))
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path))
    spec, = _toy_specs(epochs=20, seeds=(5,))
    loaded = parallel.map_jobs(_get_loaded, [(spec,), (spec,)], n_workers=2, progress=False)
    assert sorted(loaded) == [False, True]
    assert [p.name for p in (tmp_path / ".locks").iterdir()] == [f"{spec.key}.lock"]


def _env(name: str) -> str | None:
    return os.environ.get(name)


def _worker_setting(name: str):
    import dask

    return dask.config.get(name)


def test_local_workers_run_single_threaded_without_dask_s_malloc_trimming(monkeypatch):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which doubles a torch training step's time
    (rilib.parallel.WORKER_ENV_UNSET); rilib's local workers run without it, with one OpenMP thread, and without
    Dask's statistical profiler (rilib.parallel.WORKER_CONFIG), which Dask's own default has on."""
    import dask
    import distributed  # noqa: F401 -- loads Dask's distributed settings

    assert dask.config.get("distributed.worker.profile.enabled") is True  # Dask's default, in this process
    parallel.close()
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # as another cluster's nanny leaves it in this process
    try:
        got = parallel.map_jobs(_env, [("MALLOC_TRIM_THRESHOLD_",), ("OMP_NUM_THREADS",)], n_workers=2,
                                progress=False)
        profiling = parallel.map_jobs(_worker_setting, [("distributed.worker.profile.enabled",)] * 2, n_workers=2,
                                      progress=False)
    finally:
        parallel.close()
    assert got == [None, "1"]
    assert profiling == [False, False]
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # the caller's own environment is left as it was


def test_an_existing_scheduler_runs_the_jobs_with_the_callers_settings(tmp_path, monkeypatch):
    from distributed import LocalCluster

    log = tmp_path / "progress.txt"
    monkeypatch.setenv("RILIB_PROGRESS", str(log))
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path / "zoo"))
    monkeypatch.setenv("RILIB_EXAMPLE", "from the caller")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster:
        monkeypatch.setenv("RILIB_SCHEDULER", cluster.scheduler_address)
        try:
            assert parallel.map_jobs(_env, [("RILIB_EXAMPLE",), ("RILIB_CACHE",)], progress=False) \
                == ["from the caller", str(tmp_path / "zoo")]
        finally:
            parallel.close()
    assert f"2 jobs, scheduler {cluster.scheduler_address}" in log.read_text()


def test_an_unreachable_scheduler_says_what_to_do(monkeypatch):
    monkeypatch.setenv("RILIB_SCHEDULER", "tcp://127.0.0.1:9")
    monkeypatch.setattr(parallel, "_CONNECT_TIMEOUT", "2s")
    with pytest.raises(RuntimeError, match=r"RILIB_SCHEDULER=tcp://127.0.0.1:9: no Dask scheduler answers there"):
        parallel.map_jobs(abs, [(-1,)], progress=False)
