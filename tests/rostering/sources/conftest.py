"""Fixtures for the roster sources: the Clever sandbox's demo district (tests/sandbox/conftest.py),
clients on it, and a transport that edits the sandbox's answers to stage what Clever may send."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import orjson
import pytest

from homeroom.rostering.sources.clever import CleverClient, CleverSource
from homeroom.sandbox.faults import FaultSettings
from homeroom.sandbox.runner import make_app
from homeroom.sandbox.server import SandboxApp
from homeroom.sandbox.store import Store
from tests.sandbox.conftest import TOKEN, demo_path, demo_store, fresh_store  # noqa: F401

SANDBOX_URL = "http://sandbox"
MAX_REQUESTS = 500


class Waits(list):
    """A `sleep` that records what the client asked for, and waits for nothing."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class EditingTransport(httpx.BaseTransport):
    """The sandbox in-process, with a hook that may rewrite each answer (status, body) and a log
    of the requests, to stage answers the sandbox itself never gives."""

    def __init__(
        self,
        app: SandboxApp,
        edit: Callable[[httpx.Request, int, bytes], tuple[int, bytes]] | None = None,
    ) -> None:
        self.inner = httpx.WSGITransport(app=app)
        self.edit = edit
        self.requests: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url)
        if len(self.requests) > MAX_REQUESTS:  # a client that pages in circles fails, not hangs
            raise RuntimeError(f"more than {MAX_REQUESTS} requests")
        response = self.inner.handle_request(request)
        body = response.read()
        if self.edit is None:
            return httpx.Response(response.status_code, headers=response.headers, content=body)
        status, body = self.edit(request, response.status_code, body)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(status, headers=headers, content=body)


def edit_json(change: Callable[[httpx.Request, dict], None]):
    """An edit that changes a 200 list answer as JSON."""

    def edit(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes]:
        if status != 200:
            return status, body
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:  # a body the sandbox cut off: the client's to handle
            return status, body
        change(request, doc)
        return status, orjson.dumps(doc)

    return edit


def sandbox_app(store: Store, **faults) -> SandboxApp:
    """The sandbox, with the rate limit off unless a test sets it."""
    return make_app(store, token=TOKEN, faults=FaultSettings(**{"rate_limit": 0, **faults}))


def clever_client(
    transport: httpx.BaseTransport | SandboxApp,
    *,
    base_url: str = SANDBOX_URL,
    token: str = TOKEN,
    sleep: Callable[[float], None] | None = None,
    **options,
) -> CleverClient:
    if isinstance(transport, SandboxApp):
        transport = httpx.WSGITransport(app=transport)
    return CleverClient(
        base_url,
        token,
        transport=transport,
        sleep=sleep if sleep is not None else Waits(),
        rng=random.Random(0),
        **options,
    )


def read_all(source: CleverSource) -> dict[str, list]:
    """Every record of the district, by collection."""
    return {
        "district": [source.district()],
        "schools": list(source.schools()),
        "terms": list(source.terms()),
        "courses": list(source.courses()),
        "sections": list(source.sections()),
        "users": list(source.users()),
    }


def staff_count(store: Store) -> int:
    """Users holding any employee role, each counted once."""
    return store.count(
        "SELECT count(DISTINCT user) FROM user_role"
        " WHERE role IN ('teacher', 'staff', 'district_admin')"
    )


@pytest.fixture
def demo_app(demo_store: Store) -> SandboxApp:  # noqa: F811
    return sandbox_app(demo_store)
