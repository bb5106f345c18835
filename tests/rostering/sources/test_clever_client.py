"""CleverClient against the Clever sandbox: paging, retries, rate limits and errors."""

from __future__ import annotations

import logging
import re
import time

import httpx
import orjson
import pytest

from homeroom.rostering.sources.base import (
    AUTH_FAILED,
    BAD_RESPONSE,
    NOT_FOUND,
    RATE_LIMITED,
    UNAVAILABLE,
    SourceError,
)
from homeroom.rostering.sources.clever.client import MAX_WAIT, MSG_AUTH_FAILED
from homeroom.sandbox.runner import sandbox_thread
from homeroom.sandbox.store import Store

from .conftest import (
    SANDBOX_URL,
    TOKEN,
    EditingTransport,
    Waits,
    clever_client,
    edit_json,
    sandbox_app,
)


def all_ids(client, path: str = "/users", *, limit: int = 10_000) -> list[str]:
    return [item["id"] for page in client.pages(path, limit=limit) for item in page]


def test_pages_follow_next_links_to_the_end(demo_app, demo_store: Store) -> None:
    transport = EditingTransport(demo_app)
    client = clever_client(transport)

    ids = all_ids(client, limit=37)

    assert len(ids) == demo_store.stats()["objects"]["users"]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    # 1,362 users in pages of 37: every page after the first was asked for by its next link,
    # whose own query (limit and cursor) must survive.
    assert len(transport.requests) == -(-len(ids) // 37)
    assert all(url.params["limit"] == "37" for url in transport.requests)
    assert all("starting_after" in url.params for url in transport.requests[1:])


def test_get_returns_the_body(demo_app, demo_store: Store) -> None:
    doc = clever_client(demo_app, version="v3.1").get("/districts")

    assert doc["data"][0]["data"]["id"] == demo_store.meta("district")


def test_503s_are_retried_and_the_data_is_complete(demo_store: Store) -> None:
    waits = Waits()
    client = clever_client(sandbox_app(demo_store, fail_next=3), sleep=waits)

    ids = all_ids(client, limit=500)

    assert len(ids) == demo_store.stats()["objects"]["users"]
    assert len(waits) == 3
    # exponential backoff with jitter: 0.5 s, 1 s, 2 s, each between half and all of it
    for wait, full in zip(waits, (0.5, 1, 2), strict=True):
        assert full / 2 <= wait <= full


def test_a_429_storm_is_survived_by_waiting_for_the_reset(demo_store: Store) -> None:
    # given Clever's fixed window, shrunk to 2 requests a second
    app = sandbox_app(demo_store, rate_limit=2, rate_window=1)
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the window is real time, so really wait (< 1.2 s)
        waits.append(seconds)
        time.sleep(seconds)

    client = clever_client(app, sleep=sleep)
    # when six pages are read
    ids = all_ids(client, limit=250)
    # then it waited for the window to turn, never longer than a window, and read everything
    assert len(ids) == demo_store.stats()["objects"]["users"]
    assert waits, "the rate limit was never hit"
    assert all(0 < wait <= 1.3 for wait in waits)


def test_the_429_wait_is_the_reset_time_and_capped() -> None:
    now = 1_000_000.0
    answers = iter([str(now + 3), str(now + 3600), None])

    def handler(request: httpx.Request) -> httpx.Response:
        reset = next(answers)
        if reset is None:
            return httpx.Response(200, json={"data": {"id": "x"}, "links": []})
        return httpx.Response(429, headers={"X-RateLimit-Reset": reset}, json={"message": "slow"})

    waits = Waits()
    client = clever_client(httpx.MockTransport(handler), sleep=waits, clock=lambda: now)

    assert client.get("/districts/x")["data"]["id"] == "x"
    assert 3 < waits[0] < 3.5  # until the reset, and a moment after
    assert waits[1] == MAX_WAIT  # an hour away is a bad header or clock: capped


def test_a_429_without_reset_honours_retry_after() -> None:
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})]
    )
    waits = Waits()
    client = clever_client(httpx.MockTransport(lambda request: next(answers)), sleep=waits)

    client.get("/districts")

    assert waits == [7.0]


def test_429_until_the_retries_run_out_is_rate_limited() -> None:
    waits = Waits()
    client = clever_client(
        httpx.MockTransport(lambda request: httpx.Response(429, json={"message": "slow"})),
        sleep=waits,
        max_retries=2,
    )

    with pytest.raises(SourceError) as raised:
        client.get("/users")

    assert raised.value.code == RATE_LIMITED
    assert "3 attempts" in raised.value.message
    assert len(waits) == 2


def test_errors_every_time_end_as_unavailable_after_max_retries(demo_store: Store) -> None:
    waits = Waits()
    transport = EditingTransport(sandbox_app(demo_store, error_rate=1.0))
    client = clever_client(transport, sleep=waits, max_retries=6)

    with pytest.raises(SourceError) as raised:
        all_ids(client)

    assert raised.value.code == UNAVAILABLE
    assert len(transport.requests) == 7
    assert len(waits) == 6  # no wait after the last attempt
    message = raised.value.message
    assert "7 attempts" in message and "/v3.0/users" in message and "last: HTTP 50" in message
    seconds = float(re.search(r"over ([0-9.]+) s", message).group(1))
    assert seconds >= round(sum(waits), 1)  # the time a run spent: waits and requests


def test_a_wrong_token_fails_at_once_without_retries(demo_app) -> None:
    waits = Waits()
    transport = EditingTransport(demo_app)
    client = clever_client(transport, token="not-the-token", sleep=waits)

    with pytest.raises(SourceError) as raised:
        all_ids(client)

    assert raised.value.code == AUTH_FAILED
    assert raised.value.message == MSG_AUTH_FAILED.format(status=401)
    assert len(transport.requests) == 1
    assert waits == []


def test_a_token_revoked_mid_run_stops_the_stream(demo_store: Store) -> None:
    client = clever_client(sandbox_app(demo_store, revoke_after=3))
    pages = client.pages("/users", limit=100)
    read = [next(pages), next(pages), next(pages)]

    with pytest.raises(SourceError) as raised:
        next(pages)

    assert raised.value.code == AUTH_FAILED
    assert sum(len(page) for page in read) == 300


def test_404_names_the_path(demo_app) -> None:
    client = clever_client(demo_app)

    with pytest.raises(SourceError) as raised:
        client.get("/users/0123456789abcdef01234567")

    assert raised.value.code == NOT_FOUND
    assert "/v3.0/users/0123456789abcdef01234567" in raised.value.message


def test_other_4xx_are_bad_responses_without_retries(demo_app) -> None:
    waits = Waits()
    client = clever_client(demo_app, sleep=waits)

    with pytest.raises(SourceError) as raised:
        all_ids(client, limit=10_001)  # Clever answers 413

    assert raised.value.code == BAD_RESPONSE
    assert "413" in raised.value.message
    assert waits == []


def test_a_truncated_body_on_a_real_socket_is_retried(demo_store: Store, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="homeroom.rostering.sources.clever")
    app = sandbox_app(demo_store, truncate_next=1)
    waits = Waits()
    with sandbox_thread(app) as sandbox:
        client = clever_client(None, base_url=sandbox.url, sleep=waits)
        ids = all_ids(client, limit=500)
        client.close()

    assert len(ids) == demo_store.stats()["objects"]["users"]
    assert len(set(ids)) == len(ids)
    assert len(waits) == 1
    assert "RemoteProtocolError, attempt 1 of 7" in caplog.text  # the connection, not the JSON


def test_a_connection_refused_is_retried_then_unavailable() -> None:
    waits = Waits()
    # port 9 (discard) is closed on the test machine: a connect error every time
    client = clever_client(None, base_url="http://127.0.0.1:9", sleep=waits, max_retries=2)

    with pytest.raises(SourceError) as raised:
        client.get("/districts")

    assert raised.value.code == UNAVAILABLE
    assert "ConnectError" in raised.value.message
    assert len(waits) == 2


def test_a_body_that_is_not_json_is_retried(demo_app, demo_store: Store) -> None:
    broken = {"left": 2}

    def edit(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes]:
        if broken["left"]:
            broken["left"] -= 1
            return 200, b"<html><body>Bad gateway</body></html>"
        return status, body

    waits = Waits()
    client = clever_client(EditingTransport(demo_app, edit), sleep=waits)

    ids = all_ids(client)

    assert len(ids) == demo_store.stats()["objects"]["users"]
    assert len(waits) == 2


def test_a_body_that_is_never_json_is_a_bad_response(demo_app) -> None:
    waits = Waits()
    edit = lambda request, status, body: (200, body[: len(body) // 2])  # noqa: E731
    client = clever_client(EditingTransport(demo_app, edit), sleep=waits, max_retries=3)

    with pytest.raises(SourceError) as raised:
        all_ids(client)

    assert raised.value.code == BAD_RESPONSE
    assert "4 times" in raised.value.message
    assert len(waits) == 3


def test_an_empty_page_with_a_next_link_ends_paging(demo_app, demo_store: Store) -> None:
    # Clever may link to empty pages: here every page, the empty ones too, gets a next link,
    # each to another empty page.
    def add_next(request: httpx.Request, doc: dict) -> None:
        if not any(link["rel"] == "next" for link in doc["links"]):
            after = "f" * 23 + ("e" if doc["data"] == [] else "f")
            uri = f"{request.url.path}?limit=37&starting_after={after}"
            doc["links"].append({"rel": "next", "uri": uri})

    transport = EditingTransport(demo_app, edit_json(add_next))
    client = clever_client(transport)

    ids = all_ids(client, limit=37)

    assert len(ids) == demo_store.stats()["objects"]["users"]
    assert transport.requests[-1].params["starting_after"] == "f" * 24
    assert len(transport.requests) == -(-len(ids) // 37) + 1  # the empty page, then stop


def test_the_token_goes_in_the_bearer_header_only(demo_app) -> None:
    seen: list[httpx.Request] = []

    def edit(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes]:
        seen.append(request)
        return status, body

    clever_client(EditingTransport(demo_app, edit)).get("/districts")

    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(seen[0].url)
    assert str(seen[0].url).startswith(f"{SANDBOX_URL}/v3.0/districts")


def test_a_list_answer_in_another_shape_is_not_accepted() -> None:
    waits = Waits()
    body = orjson.dumps({"users": []})
    client = clever_client(
        httpx.MockTransport(lambda request: httpx.Response(200, content=body)),
        sleep=waits,
        max_retries=1,
    )

    with pytest.raises(SourceError) as raised:
        list(client.pages("/users"))

    assert raised.value.code == BAD_RESPONSE
