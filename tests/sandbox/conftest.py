"""Sandbox fixtures: generated districts (once per test run) and clients for them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeroom.sandbox.faults import FaultSettings
from homeroom.sandbox.generator import generate
from homeroom.sandbox.runner import make_app
from homeroom.sandbox.server import SandboxApp
from homeroom.sandbox.store import Store

TOKEN = "test-district-token"
CLIENT = ("sandbox-client", "sandbox-secret")


def _generated(tmp_path_factory: pytest.TempPathFactory, size: str, seed: int) -> Path:
    path = tmp_path_factory.mktemp(f"sandbox-{size}") / f"{size}-{seed}.sqlite3"
    store = Store(path)
    generate(store, size=size, seed=seed)
    store.close()
    return path


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generated(tmp_path_factory, "tiny", 1)


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generated(tmp_path_factory, "demo", 1)


@pytest.fixture(scope="session")
def demo_store(demo_path: Path) -> Store:
    """The demo district, read-only: tests that change a district use `fresh_store`."""
    return Store(demo_path)


@pytest.fixture
def fresh_store(demo_path: Path, tmp_path: Path) -> Store:
    """A private copy of the demo district that a test may change."""
    copy = tmp_path / "district.sqlite3"
    source = Store(demo_path)
    source.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(demo_path, copy)
    return Store(copy)


def client_for(app: SandboxApp, *, token: str | None = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.WSGITransport(app=app)
    return httpx.Client(transport=transport, base_url="http://sandbox", headers=headers)


@pytest.fixture
def demo_app(demo_store: Store) -> SandboxApp:
    # The rate limit is off here so that walking every endpoint is not throttled; the rate
    # limit has tests of its own.
    return make_app(demo_store, token=TOKEN, faults=FaultSettings(rate_limit=0))


@pytest.fixture
def api(demo_app: SandboxApp) -> Iterator[httpx.Client]:
    with client_for(demo_app) as client:
        yield client
