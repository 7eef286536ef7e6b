"""Shared pytest fixtures (float64 where exactness matters, as in zennit's test-suite)."""
from __future__ import annotations

import os

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if os.environ.get("RILIB_EXTENDED"):
        return
    skip = pytest.mark.skip(reason="extended test: set RILIB_EXTENDED=1")
    for item in items:
        if "extended" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def float64():
    """Run the test body with float64 as default dtype."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield torch.float64
    finally:
        torch.set_default_dtype(old)


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """A fresh, empty rilib cache folder (``$RILIB_CACHE``) for the test."""
    monkeypatch.setenv("RILIB_CACHE", str(tmp_path / "zoo"))
    return tmp_path / "zoo"


@pytest.fixture(params=[0, 1, 2])
def seed(request):
    return request.param


@pytest.fixture(scope="session")
def ci_book(tmp_path_factory):
    """Every notebook executed with papermill at profile ``ci`` into a temporary copy of the book sources.

    Returns ``(root, exit_code)``; the user's own ``book/generated`` and ``_build`` are never touched. Trained
    models go to the normal zoo cache (``$RILIB_CACHE`` or ``data/zoo``), so a second test run is fast.
    """
    import shutil
    from pathlib import Path

    from rilib import runner

    repo = Path(__file__).resolve().parents[1]
    root = tmp_path_factory.mktemp("book")
    for f in ("_config.yml", "_toc.yml"):
        shutil.copy2(repo / f, root / f)
    shutil.copytree(repo / "book", root / "book", ignore=shutil.ignore_patterns("generated"))
    old = os.environ.get("RILIB_RECORDS")
    try:
        rc = runner.main(["--profile", "ci", "--book-root", str(root), "--no-book"])
    finally:
        if old is None:
            os.environ.pop("RILIB_RECORDS", None)
        else:
            os.environ["RILIB_RECORDS"] = old
    return root, rc
