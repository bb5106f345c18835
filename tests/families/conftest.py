"""Fixtures for families: the sandbox districts of tests/rostering."""

from tests.rostering.conftest import (  # noqa: F401
    demo_path,
    demo_store,
    tiny_path,
    tiny_store,
)
