"""Independent jobs (train one model, attack one model) on a Dask cluster: by default a local one of worker
processes, one per CPU core; with ``$RILIB_SCHEDULER`` an existing cluster anywhere.

On a small CPU box, PyTorch's intra-op threads do not keep the cores busy with our small networks: on the 2-core
reference machine two single-threaded processes train about twice and attack about 1.5 times as many SmallNets per
second as one process with two threads. :func:`map_jobs` therefore runs a list of independent jobs on a
``distributed.LocalCluster`` of processes with one thread each (started on first use and kept for the life of the
calling process, so the workers' imports and loaded datasets are paid once), and shows one progress bar in the
caller. :func:`run_plan` does the same for jobs that depend on earlier jobs.

Where the jobs run:

* ``$RILIB_SCHEDULER=<address>`` (e.g. ``tcp://10.0.0.5:8786``; the runner's ``--scheduler``) sends every job to
  the Dask scheduler there — e.g. one made with dask-jobqueue's ``SLURMCluster``, one GPU per worker. The workers
  must see the same cache and data folders (a shared file system): each job runs with the caller's ``RILIB_*``
  variables, ``RILIB_CACHE`` resolved to the caller's absolute cache folder. Give the workers one thread each (the
  job sets those variables in its process).
* otherwise ``$RILIB_WORKERS`` local worker processes if set, else 1 when CUDA is available (one GPU is shared
  badly by several processes) and the number of CPU cores otherwise. With one worker, jobs run in the calling
  process — and so they do, with one warning, when the caller is a script without an
  ``if __name__ == "__main__":`` guard (every spawned worker would run the script again; see
  :func:`_main_is_guarded`). A remote scheduler needs no guard.

Jobs communicate only through the caches of :mod:`rilib.zoo` (atomic writes, and a lock per model key so that two
workers never train the same model), so a job must be a module-level function whose result is cheap to pickle; the
caller reloads the heavy results from the cache afterwards. A worker that dies mid-job (killed, out of memory) is
replaced and the scheduler runs its job again elsewhere (up to three times, Dask's ``allowed-failures``); what the
dead job had half-written is a temporary file that never reaches a final name. Results are reproducible for a given
machine and thread count per worker (thread count changes float summation order), whichever worker runs a job.

Progress outside the notebook: when ``$RILIB_PROGRESS`` names a file (:mod:`rilib.runner` sets it for every
papermill kernel), :func:`report` appends one short line to it per finished job (here) and per training epoch
(:func:`rilib.train.fit`), and the tqdm bars are switched off so that executed notebooks stay free of them; the
runner prints those lines in the terminal while the notebook runs.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["workers", "scheduler", "client", "close", "map_jobs", "run_plan", "report", "reporting", "duration",
           "progress_bar"]

#: environment variable naming the file that :func:`report` appends progress lines to
PROGRESS_ENV = "RILIB_PROGRESS"
#: environment variable with the address of an existing Dask scheduler that runs the jobs
SCHEDULER_ENV = "RILIB_SCHEDULER"


def reporting() -> bool:
    """Whether progress goes to a ``$RILIB_PROGRESS`` file (then callers show no tqdm bar)."""
    return bool(os.environ.get(PROGRESS_ENV))


def report(line: str) -> None:
    """Append ``line`` to the file named by ``$RILIB_PROGRESS``; does nothing when the variable is unset.

    One ``O_APPEND`` write per line, so worker processes may report concurrently. Never raises: progress is
    cosmetic and must not break a computation.
    """
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    data = (" ".join(line.split()) + "\n").encode("utf-8", "replace")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError:
        pass


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(*, total: int, desc: str, show: bool = True, **kwargs: Any):
    """A ``tqdm.auto`` bar, or — when ``show`` is false or ``$RILIB_PROGRESS`` is set — an object with the same
    ``update`` / ``set_postfix`` / ``close`` that shows nothing (and tqdm is not even imported: in a kernel without
    ipywidgets, importing ``tqdm.auto`` writes a warning into the notebook)."""
    if not show or reporting():
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, **kwargs)


def duration(seconds: float) -> str:
    """``75.2`` → ``"1m15s"``; ``3725`` → ``"1h02m"``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _took(seconds: float) -> str:
    """A job's own time: tenths of a second below a minute (short jobs add up), else :func:`duration`."""
    return f"{seconds:.1f}s" if seconds < 60 else duration(seconds)


def _eta(done: int, total: int, elapsed: float) -> str:
    left = f", ~{duration(elapsed / done * (total - done))} left" if 0 < done < total else ""
    return f"{duration(elapsed)} elapsed{left}"


def _short(arg: Any) -> str:
    if hasattr(arg, "arch") and hasattr(arg, "regime"):  # a rilib.zoo.ModelSpec
        return f"{getattr(arg, 'dataset', '?')} {arg.arch}/{arg.regime} seed {getattr(arg, 'seed', '?')}"
    if arg is None or isinstance(arg, (str, int, float, bool)):
        return repr(arg)
    return type(arg).__name__


def _label(job: tuple, result: Any) -> str:
    """What a finished job was, for its progress line: its result if that is a short description (a string with a
    space, such as ``"measure mnist[3]"``), else its arguments."""
    if isinstance(result, str) and " " in result.strip() and len(result) <= 60:
        return result.strip()
    text = ", ".join(_short(a) for a in job)
    return text if len(text) <= 60 else text[:57] + "..."


_GUARD_WARNED: set[str] = set()


def _main_is_guarded() -> bool:
    """Can ``spawn``-ed workers start? Each worker imports the caller's main module again: a script whose top level
    starts the work itself (no ``if __name__ == "__main__":`` guard) would start it once more in every worker, and
    multiprocessing stops that with a bootstrapping error. True in the REPL, a notebook (its kernel's launcher is
    guarded) and for a script or ``python -m`` module whose source has the guard."""
    import sys

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path or not os.path.isfile(path):
        return True
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            src = f.read()
    except OSError:
        return True
    guarded = "__name__" in src and ("'__main__'" in src or '"__main__"' in src)
    if not guarded and path not in _GUARD_WARNED:
        _GUARD_WARNED.add(path)
        import warnings

        warnings.warn(f"rilib runs its jobs in this process, one at a time: worker processes would re-run {path} "
                      "from the top; put the script's work under `if __name__ == \"__main__\":` to use every core",
                      RuntimeWarning, stacklevel=3)
    return guarded


def scheduler() -> str | None:
    """The address of the Dask scheduler named by ``$RILIB_SCHEDULER``, or None (jobs run on this machine)."""
    address = os.environ.get(SCHEDULER_ENV, "").strip()
    return address or None


def workers() -> int:
    """How many local worker processes :func:`map_jobs` uses (see the module docstring; with
    ``$RILIB_SCHEDULER`` the remote cluster's size counts instead)."""
    env = os.environ.get("RILIB_WORKERS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"RILIB_WORKERS={env!r} is not an integer; set it to the number of worker processes "
                             "(1 runs everything in the calling process)") from None
        return max(1, n)
    import torch

    if torch.cuda.is_available():
        return 1
    return max(1, os.cpu_count() or 1)


_CLIENTS: dict[Any, tuple[Any, Any]] = {}  # scheduler address or local worker count -> (Client, LocalCluster | None)
_CLIENTS_LOCK = threading.Lock()
_CONNECT_TIMEOUT = "30s"  # how long to try to reach $RILIB_SCHEDULER
#: variables Dask's nanny sets in its workers by default that rilib's local workers must not get:
#: MALLOC_TRIM_THRESHOLD_=65536 makes glibc hand freed memory back to the system at once, and every torch step
#: then faults its activations in again — one double-backprop training step of Etmann's SmallNet (batch 100, one
#: thread) takes 363–374 ms with it and 171–173 ms without (measured on the 2-core box). Give a cluster of your own
#: the same setting (``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_: null``).
WORKER_ENV_UNSET = ("MALLOC_TRIM_THRESHOLD_",)
#: Dask settings of rilib's local workers: no statistical profiler (it samples the running job's stack every 10 ms;
#: an interpretation-regularised training step of Noack's MNIST net, batch 64, one thread, two workers at once, took
#: 183 ms on average with it and 171 ms without — a plain process pool 176 ms — measured on the 2-core box)
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


def client(n_workers: int | None = None):
    """The ``distributed.Client`` the jobs go to: connected to ``$RILIB_SCHEDULER`` when set, else to a
    ``LocalCluster`` of ``n_workers`` (default :func:`workers`) processes with one thread each, started on first
    use and kept until :func:`close` or the end of the process. Not made Dask's default client, so a user's own
    Dask code is not redirected."""
    address = scheduler()
    ident = address or max(1, n_workers or workers())
    with _CLIENTS_LOCK:
        got = _CLIENTS.get(ident)
        if got is not None and got[0].status == "running":
            return got[0]
        from distributed import Client, LocalCluster

        if address:
            try:
                c = Client(address, timeout=_CONNECT_TIMEOUT, set_as_default=False)
            except OSError as e:
                raise RuntimeError(f"{SCHEDULER_ENV}={address}: no Dask scheduler answers there ({e}); start one "
                                   "(`dask scheduler`, or dask-jobqueue's SLURMCluster) or unset the variable to "
                                   "use this machine's cores") from e
            cluster = None
        else:
            import dask

            # memory_limit=0: no nanny restarts a worker for its memory (as with the plain process pool before);
            # the scheduler's HTTP server on a free port of localhost only (never a fixed port another cluster
            # holds); no MALLOC_TRIM_THRESHOLD_ in the workers (WORKER_ENV_UNSET) and no profiler (WORKER_CONFIG)
            # (a nanny leaks its pre-spawn variables into the process that runs it, e.g. from another cluster)
            leaked = {k: os.environ.pop(k) for k in WORKER_ENV_UNSET if k in os.environ}
            try:
                with dask.config.set({**{f"distributed.nanny.pre-spawn-environ.{k}": None for k in WORKER_ENV_UNSET},
                                      **WORKER_CONFIG}):
                    cluster = LocalCluster(n_workers=ident, threads_per_worker=1, processes=True,
                                           dashboard_address="127.0.0.1:0", memory_limit=0,
                                           silence_logs=logging.ERROR)
            finally:
                os.environ.update(leaked)
            c = Client(cluster, set_as_default=False)
        if not _CLIENTS:
            atexit.register(close)
        _CLIENTS[ident] = (c, cluster)
        return c


def close() -> None:
    """Close the clients and local clusters this process started (at exit, automatically)."""
    with _CLIENTS_LOCK:
        items = list(_CLIENTS.values())
        _CLIENTS.clear()
    for c, cluster in items:
        for obj in (c, cluster):
            try:
                if obj is not None:
                    obj.close()
            except Exception:  # noqa: BLE001 -- closing at exit must not raise
                pass


def _n_slots(c, local: int) -> int:
    """How many jobs to keep running at once: the local worker count, or the remote cluster's threads now."""
    if scheduler() is None:
        return local
    try:
        return max(1, sum(w.get("nthreads", 1) for w in c.scheduler_info()["workers"].values()))
    except Exception:  # noqa: BLE001 -- an adaptive cluster may have no worker yet: run one job
        return 1


def _job_env() -> dict[str, str]:
    """The ``RILIB_*`` variables a job runs with: the caller's, ``RILIB_CACHE`` resolved to its absolute folder."""
    from .cache import cache_dir

    env = {k: v for k, v in os.environ.items() if k.startswith("RILIB_") and k != SCHEDULER_ENV}
    env["RILIB_CACHE"] = str(cache_dir())
    return env


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(1)


def _call(fn: Callable[..., Any], job: tuple, env: dict[str, str]) -> Any:
    """``(seconds, fn(*job))`` in a worker with exactly the caller's ``RILIB_*`` variables (restored afterwards):
    a worker started under other settings (an earlier caller, a cluster's job script) must not leak them."""
    _init_worker()
    saved = {k: v for k, v in os.environ.items() if k.startswith("RILIB_")}
    for k in saved:
        if k not in env:
            del os.environ[k]
    os.environ.update(env)
    try:
        return _timed(fn, job)
    finally:
        for k in [k for k in os.environ if k.startswith("RILIB_")]:
            del os.environ[k]
        os.environ.update(saved)


def _timed(fn: Callable[..., Any], job: tuple) -> tuple[float, Any]:
    """``(seconds, fn(*job))``: the job's own time, for its progress line (the chapter profiles read it)."""
    t0 = time.perf_counter()
    out = fn(*job)
    return time.perf_counter() - t0, out


def _failure(desc: str, fn: Callable[..., Any], job: tuple, e: BaseException) -> RuntimeError:
    return RuntimeError(f"{desc}: job {getattr(fn, '__name__', fn)}{job!r} failed: {e}")


def _local(n: int) -> int:
    """``n`` local workers, or 1 (in-process) for a script whose workers could not start (see the docstring)."""
    if scheduler() is None and n > 1 and not _main_is_guarded():
        return 1
    return n


def map_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], *, desc: str = "jobs", progress: bool = True,
             n_workers: int | None = None) -> list[Any]:
    """``[fn(*job) for job in jobs]``, run on the cluster (:func:`client`); results in the order of ``jobs``.

    A job that raises stops the map: the remaining jobs are cancelled and a :class:`RuntimeError` naming the job
    (function and arguments) is raised in the caller, with the original exception as its ``__cause__`` — the same
    with one worker (jobs in the calling process) as on a cluster. With ``$RILIB_PROGRESS`` set, one line per
    finished job goes to that file (:func:`report`) instead of a tqdm bar.
    """
    jobs = list(jobs)
    out: list[Any] = [None] * len(jobs)
    if not jobs:
        return out
    remote = scheduler() is not None
    size = n_workers or workers()  # the local cluster's size (one per size, kept for the process)
    n = 0 if remote else _local(min(size, len(jobs)))
    where = f"scheduler {scheduler()}" if remote else (f"{n} workers" if n > 1 else "in this process")
    report(f"{desc}: {len(jobs)} jobs, {where}")
    t0 = time.perf_counter()

    def finished(k: int, i: int, took: float) -> None:
        report(f"{desc}: {k}/{len(jobs)} done ({_label(jobs[i], out[i])}) in {_took(took)}, "
               f"{_eta(k, len(jobs), time.perf_counter() - t0)}")

    if not remote and n <= 1:
        with progress_bar(total=len(jobs), desc=desc, show=progress) as bar:
            for i, job in enumerate(jobs):
                try:
                    took, out[i] = _timed(fn, job)
                except Exception as e:  # KeyboardInterrupt stays what it is
                    raise _failure(desc, fn, job, e) from e
                finished(i + 1, i, took)
                bar.update(1)
        return out
    from distributed import as_completed

    c = client(size)
    env = _job_env()
    futures = {c.submit(_call, fn, job, env, pure=False): i
               for i, job in enumerate(jobs)}
    with progress_bar(total=len(jobs), desc=f"{desc} ({where})", show=progress) as bar, c.as_current():
        for k, fut in enumerate(as_completed(list(futures)), 1):
            i = futures[fut]
            try:
                took, out[i] = fut.result()
            except BaseException as e:
                c.cancel(list(futures))
                raise _failure(desc, fn, jobs[i], e) from e
            finished(k, i, took)
            bar.update(1)
    return out


def run_plan(plan: Callable[[], tuple[list[tuple], Any]], fn: Callable[..., Any], *, desc: str = "jobs",
             progress: bool = True, n_workers: int | None = None) -> Any:
    """Run the jobs of a plan whose later jobs depend on the results of earlier ones, keeping every worker busy.

    ``plan()`` looks at what is cached and returns ``(ready, result)``: the jobs ``fn(*job)`` whose inputs exist
    now, most urgent first, and the plan's result once nothing is left to do (``ready`` empty; ``result`` is
    ignored otherwise). It is called again after every finished job, so a job is submitted as soon as the jobs it
    needs have finished, and a free worker takes the most urgent job that is ready — instead of waiting at a
    barrier for the slowest job of a batch. Jobs talk only through the caches (as in :func:`map_jobs`); a job is
    never run twice in one call (jobs are told apart by ``repr``), and one that finishes without leaving what the
    plan looks for, or a plan left with nothing to run and no result, raises :class:`RuntimeError`. Returns
    ``plan()``'s result. With one worker the jobs run in the calling process, most urgent first.
    """
    remote = scheduler() is not None
    n = 0 if remote else _local(max(1, n_workers or workers()))
    started: set[str] = set()
    t0 = time.perf_counter()
    n_done = 0

    def fresh(ready: list[tuple]) -> list[tuple]:
        out = []
        for job in ready:
            ident = repr(job)
            if ident in started:
                if ident not in running_ids:
                    raise RuntimeError(f"{desc}: job {getattr(fn, '__name__', fn)}{job!r} ran but the plan still "
                                       "asks for it (its result did not reach the cache)")
                continue
            out.append(job)
        return out

    def finished(job: tuple, result: Any, took: float) -> None:
        nonlocal n_done
        n_done += 1
        report(f"{desc}: {n_done} done ({_label(job, result)}) in {_took(took)}, {len(running)} running, "
               f"{duration(time.perf_counter() - t0)} elapsed")
        bar.update(1)

    running: dict[Any, tuple] = {}
    running_ids: set[str] = set()
    c = None
    bar = _NoBar()  # a real bar once there is something to run
    try:
        while True:
            ready, result = plan()
            todo = fresh(list(ready))
            if not todo and not running:
                if n_done:
                    report(f"{desc}: all {n_done} jobs done in {duration(time.perf_counter() - t0)}")
                if result is None:
                    raise RuntimeError(f"{desc}: the plan has no job left to run and no result")
                return result
            if n_done == 0 and not started:
                bar = progress_bar(total=None, desc=desc, show=progress)
            if not remote and n == 1:
                job = todo[0]
                started.add(repr(job))
                try:
                    took, out = _timed(fn, job)
                except Exception as e:
                    raise _failure(desc, fn, job, e) from e
                finished(job, out, took)
                continue
            if c is None:
                from distributed import wait

                c = client(n or None)
                env = _job_env()
                report(f"{desc}: scheduler {scheduler()}" if remote else f"{desc}: {n} workers")
            for job in todo[: max(0, _n_slots(c, n) - len(running))]:
                started.add(repr(job))
                running_ids.add(repr(job))
                running[c.submit(_call, fn, job, env, pure=False)] = job
            with c.as_current():
                done, _ = wait(list(running), return_when="FIRST_COMPLETED")
            for fut in done:
                job = running.pop(fut)
                running_ids.discard(repr(job))
                try:
                    took, out = fut.result()
                except BaseException as e:
                    c.cancel(list(running))
                    raise _failure(desc, fn, job, e) from e
                finished(job, out, took)
    finally:
        bar.close()
