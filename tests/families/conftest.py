"""Fixtures for families: the sandbox districts of tests/rostering, and an empty cache (the
portal's rate-limit counters) for each test."""

import pytest
from django.core.cache import cache

from tests.rostering.conftest import (  # noqa: F401
    demo_path,
    demo_store,
    tiny_path,
    tiny_store,
)


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()
