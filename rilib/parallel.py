"""Independent jobs (train one model, attack one model) in worker processes, one per CPU core.

On a small CPU box, PyTorch's intra-op threads do not keep the cores busy with our small networks: on the 2-core
reference machine two single-threaded processes train about twice and attack about 1.5 times as many SmallNets per
second as one process with two threads. :func:`map_jobs` therefore runs a list of independent jobs in a pool of
``spawn``-ed workers, each with one torch thread, and shows one progress bar in the caller.

The number of workers is ``$RILIB_WORKERS`` if set, else 1 when CUDA is available (one GPU is shared badly by
several processes) and the number of CPU cores otherwise. With one worker, jobs run in the calling process.

Jobs communicate only through the caches of :mod:`rilib.zoo` (atomic writes), so a job must be a module-level
function whose result is cheap to pickle; the caller reloads the heavy results from the cache afterwards.
Results are reproducible for a given machine and worker count (thread count changes float summation order).
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

__all__ = ["workers", "map_jobs"]


def workers() -> int:
    """How many worker processes :func:`map_jobs` uses (see the module docstring)."""
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


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(1)


def map_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], *, desc: str = "jobs", progress: bool = True,
             n_workers: int | None = None) -> list[Any]:
    """``[fn(*job) for job in jobs]``, run in worker processes; results in the order of ``jobs``.

    A job that raises stops the map: the remaining jobs are cancelled and the exception is re-raised in the caller
    with the job's arguments in its message.
    """
    from tqdm.auto import tqdm

    jobs = list(jobs)
    n = min(n_workers or workers(), len(jobs))
    if n <= 1:
        return [fn(*job) for job in tqdm(jobs, desc=desc, disable=not progress, leave=False)]
    out: list[Any] = [None] * len(jobs)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker) as pool:
        futures = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
        with tqdm(total=len(jobs), desc=f"{desc} ({n} workers)", disable=not progress, leave=False) as bar:
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    out[i] = fut.result()
                except BaseException as e:
                    for f in futures:
                        f.cancel()
                    raise RuntimeError(f"{desc}: job {getattr(fn, '__name__', fn)}{jobs[i]!r} failed: {e}") from e
                bar.update(1)
    return out
