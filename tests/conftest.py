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


@pytest.fixture(params=[0, 1, 2])
def seed(request):
    return request.param
