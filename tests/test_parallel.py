"""Worker pool: results in job order, failures named, the worker count read from the environment."""
from __future__ import annotations

import math
import operator

import pytest

from rilib import parallel


@pytest.mark.parametrize("n_workers", [1, 2])
def test_map_jobs_keeps_job_order(n_workers):
    jobs = [(2, k) for k in range(7)]
    assert parallel.map_jobs(operator.pow, jobs, n_workers=n_workers, progress=False) == [2 ** k for k in range(7)]


def test_failing_job_is_reported_with_its_arguments():
    with pytest.raises(RuntimeError, match=r"sqrt\(-1.0,\) failed: math domain error"):
        parallel.map_jobs(math.sqrt, [(4.0,), (-1.0,), (9.0,)], n_workers=2, progress=False)


def test_worker_count_from_environment(monkeypatch):
    monkeypatch.setenv("RILIB_WORKERS", "3")
    assert parallel.workers() == 3
    monkeypatch.setenv("RILIB_WORKERS", "0")
    assert parallel.workers() == 1
    monkeypatch.setenv("RILIB_WORKERS", "two")
    with pytest.raises(ValueError, match="RILIB_WORKERS"):
        parallel.workers()
