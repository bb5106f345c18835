"""The sandbox's fault knobs: Clever's rate limit, and the failures a Clever client must survive
(errors, revoked tokens, slow answers, dropped connections), plus the control endpoints that
switch them while the sandbox runs."""

from __future__ import annotations

import time
from dataclasses import asdict

import httpx
import pytest

from homeroom.sandbox.faults import Faults, FaultSettings
from homeroom.sandbox.runner import make_app, sandbox_thread

from .conftest import CLIENT, TOKEN, client_for

SCHOOLS = "/v3.0/schools"
# Far longer than a test takes, so a burst of requests never straddles two rate-limit windows.
LONG_WINDOW = 3600


def _app(store, **knobs):
    return make_app(store, token=TOKEN, faults=FaultSettings(**knobs))


def _statuses(app, count: int, path: str = SCHOOLS + "?limit=1") -> list[int]:
    with client_for(app) as client:
        return [client.get(path).status_code for _ in range(count)]


def _assert_message(response: httpx.Response) -> None:
    body = response.json()
    assert set(body) == {"message"}
    assert isinstance(body["message"], str) and body["message"]


def _rate_headers(response: httpx.Response) -> dict[str, str]:
    return {
        k.lower(): v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit")
    }


# -- rate limit ------------------------------------------------------------------------------------
def test_rate_limit_counts_down_then_answers_429(demo_store):
    app = _app(demo_store, rate_limit=3, rate_window=LONG_WINDOW)
    before = time.time()
    with client_for(app) as client:
        # When: three requests fit in the limit …
        allowed = [client.get(SCHOOLS) for _ in range(3)]
        # … and a fourth does not.
        refused = client.get(SCHOOLS)
    after = time.time()

    # Then: each allowed answer says how many requests are left.
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["X-RateLimit-Limit"] for r in allowed] == ["3", "3", "3"]
    assert [r.headers["X-RateLimit-Remaining"] for r in allowed] == ["2", "1", "0"]
    # And: the refused one is a 429 with Clever's error body and a reset time in the future.
    assert refused.status_code == 429
    _assert_message(refused)
    reset = refused.headers["X-RateLimit-Reset"]
    assert reset.isdigit(), reset
    assert before < int(reset) <= after + LONG_WINDOW
    assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_rate_limit_window_resets_after_the_window_passes():
    faults = Faults(FaultSettings(rate_limit=2, rate_window=60))
    start = 6000.0  # a multiple of 60: the start of a window

    # Given: the limit is used up early in a window.
    assert faults.judge(TOKEN, is_list=True, now=start).status == 200
    assert faults.judge(TOKEN, is_list=True, now=start + 1).status == 200
    refused = faults.judge(TOKEN, is_list=True, now=start + 2)
    assert refused.status == 429
    assert ("X-RateLimit-Reset", str(int(start) + 60)) in refused.headers

    # When/then: still refused at the very end of the window …
    assert faults.judge(TOKEN, is_list=True, now=start + 59.9).status == 429
    # … and allowed again, with a fresh count, once the next window begins.
    fresh = faults.judge(TOKEN, is_list=True, now=start + 60)
    assert fresh.status == 200
    assert ("X-RateLimit-Remaining", "1") in fresh.headers
    assert ("X-RateLimit-Reset", str(int(start) + 120)) in fresh.headers


def test_rate_limit_is_counted_per_token():
    faults = Faults(FaultSettings(rate_limit=1, rate_window=60))
    now = 6000.0

    # Given: token "a" has used its only request.
    assert faults.judge("a", is_list=True, now=now).status == 200
    assert faults.judge("a", is_list=True, now=now + 1).status == 429

    # Then: token "b" still has its own full allowance.
    first_b = faults.judge("b", is_list=True, now=now + 2)
    assert first_b.status == 200
    assert ("X-RateLimit-Remaining", "0") in first_b.headers
    assert faults.judge("b", is_list=True, now=now + 3).status == 429


def test_rate_limit_zero_means_no_limit_and_no_headers(demo_store):
    app = _app(demo_store, rate_limit=0)
    with client_for(app) as client:
        responses = [client.get(SCHOOLS + "?limit=1") for _ in range(30)]
    assert {r.status_code for r in responses} == {200}
    assert all(_rate_headers(r) == {} for r in responses)


# -- injected errors ---------------------------------------------------------------------------
def test_fail_next_fails_exactly_that_many_requests(demo_store):
    app = _app(demo_store, fail_next=2, fail_status=502)
    with client_for(app) as client:
        responses = [client.get(SCHOOLS) for _ in range(3)]
    assert [r.status_code for r in responses] == [502, 502, 200]
    _assert_message(responses[0])
    _assert_message(responses[1])
    assert responses[2].json()["data"]


def test_error_rate_one_fails_every_request(demo_store):
    app = _app(demo_store, error_rate=1.0, error_statuses=[500])
    with client_for(app) as client:
        responses = [client.get(SCHOOLS) for _ in range(20)]
    assert [r.status_code for r in responses] == [500] * 20
    _assert_message(responses[0])


def test_error_rate_fails_about_that_share_and_is_repeatable_with_the_same_seed(demo_store):
    statuses = _statuses(_app(demo_store, error_rate=0.3, seed=7), 200)

    failed = [s for s in statuses if s != 200]
    assert 0.2 <= len(failed) / len(statuses) <= 0.4
    assert set(failed) <= {500, 502, 503}
    # The same knobs on a new sandbox give the very same answers, in the same order.
    assert _statuses(_app(demo_store, error_rate=0.3, seed=7), 200) == statuses


# -- tokens ------------------------------------------------------------------------------------
def test_revoke_after_lets_that_many_requests_through_then_401(demo_store):
    app = _app(demo_store, revoke_after=2)
    with client_for(app) as client:
        responses = [client.get(SCHOOLS) for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 401, 401, 401]
    _assert_message(responses[2])


def test_token_revoked_answers_401_at_once(demo_store):
    app = _app(demo_store, token_revoked=True)
    with client_for(app) as client:
        response = client.get(SCHOOLS)
    assert response.status_code == 401
    _assert_message(response)


@pytest.mark.parametrize(
    "knobs",
    [
        {},
        {"rate_limit": 0},
        {"fail_next": 3, "fail_status": 502},
        {"error_rate": 1.0, "error_statuses": [503]},
        {"token_revoked": True},
        {"revoke_after": 5},
        {"truncate_next": 2},
    ],
    ids=lambda knobs: ",".join(knobs) or "defaults",
)
@pytest.mark.parametrize("token", ["wrong-token", None], ids=["wrong", "missing"])
def test_a_wrong_or_missing_token_is_always_401(demo_store, knobs, token):
    app = _app(demo_store, **knobs)
    with client_for(app, token=token) as client:
        responses = [client.get(SCHOOLS) for _ in range(3)]
    assert [r.status_code for r in responses] == [401, 401, 401]
    _assert_message(responses[0])


def test_requests_with_a_wrong_token_do_not_use_up_the_counted_faults(demo_store):
    app = _app(demo_store, fail_next=1, fail_status=502)
    # Given: a client with a wrong token knocks first.
    with client_for(app, token="wrong-token") as stranger:
        assert stranger.get(SCHOOLS).status_code == 401
    # Then: the one injected failure is still waiting for the real client.
    with client_for(app) as client:
        assert [client.get(SCHOOLS).status_code for _ in range(2)] == [502, 200]


# -- slow answers and dropped connections ------------------------------------------------------
def test_slow_ms_delays_the_answer(demo_store):
    app = _app(demo_store, slow_ms=150)
    with client_for(app) as client:
        started = time.perf_counter()
        response = client.get(SCHOOLS)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed >= 0.15


def test_truncate_next_drops_the_connection_mid_list_then_recovers(demo_store):
    app = _app(demo_store, truncate_next=1)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with sandbox_thread(app) as sandbox:
        url = sandbox.url + "/v3.0/users?limit=50"
        # When: the first list answer is cut off half-way, the client sees a broken connection.
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url, headers=headers, timeout=10)
        # Then: the same request again gets the whole page.
        again = httpx.get(url, headers=headers, timeout=10)
    assert again.status_code == 200
    assert len(again.json()["data"]) == 50


def test_single_record_answers_are_never_truncated(demo_store):
    app = _app(demo_store, truncate_rate=1.0, truncate_next=1, rate_limit=0)
    user_id = demo_store.db.execute("SELECT id FROM users ORDER BY id LIMIT 1").fetchone()[0]
    school_id = demo_store.db.execute("SELECT id FROM schools ORDER BY id LIMIT 1").fetchone()[0]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        sandbox_thread(app) as sandbox,
        httpx.Client(base_url=sandbox.url, headers=headers, timeout=10) as client,
    ):
        # When: single records are fetched while every list answer would be cut off …
        for path in (f"/v3.0/users/{user_id}", f"/v3.1/schools/{school_id}", "/v3.0/me"):
            response = client.get(path)
            # Then: each arrives whole.
            assert response.status_code == 200, path
            assert response.json()["data"]["id"], path
        # And: the counted truncation was not spent on them: a list answer is still cut off.
        assert app.faults.snapshot()["truncate_next"] == 1
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v3.0/users?limit=50")


# -- control endpoints -------------------------------------------------------------------------
@pytest.fixture
def control(demo_store):
    """A sandbox and a client that sends no bearer token (control endpoints use HTTP Basic)."""
    app = _app(demo_store, rate_limit=7, slow_ms=0, seed=4)
    with client_for(app, token=None) as client:
        yield app, client


@pytest.mark.parametrize(
    "auth",
    [None, ("sandbox-client", "wrong-secret"), ("someone-else", "sandbox-secret")],
    ids=["none", "wrong-secret", "wrong-id"],
)
def test_control_endpoints_need_the_client_credentials(control, auth):
    app, client = control
    for method, path in [
        ("GET", "/sandbox/faults"),
        ("POST", "/sandbox/faults"),
        ("POST", "/sandbox/faults/reset"),
        ("GET", "/sandbox/stats"),
        ("POST", "/sandbox/mutate"),
    ]:
        kwargs = {"json": {"rate_limit": 1}} if method == "POST" else {}
        response = client.request(method, path, auth=auth, **kwargs)
        assert response.status_code == 401, (method, path)
        _assert_message(response)
    # Nothing was changed by the refused requests.
    assert app.faults.snapshot()["rate_limit"] == 7


def test_control_endpoints_refuse_the_district_token_in_place_of_basic_auth(control):
    _, client = control
    response = client.get("/sandbox/faults", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 401


def test_get_faults_shows_the_knobs(control):
    _, client = control
    response = client.get("/sandbox/faults", auth=CLIENT)
    assert response.status_code == 200
    assert response.json() == asdict(FaultSettings(rate_limit=7, seed=4))


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"error_rate": 2}, "error_rate"),
        ({"error_rate": -0.1}, "error_rate"),
        ({"bogus": 1}, "bogus"),
        ({"rate_limit": 5, "bogus": 1}, "bogus"),
        ({"rate_limit": -1}, "rate_limit"),
        ({"rate_window": 0}, "rate_window"),
        ({"revoke_after": -2}, "revoke_after"),
        ({"token_revoked": "yes"}, "token_revoked"),
    ],
)
def test_post_faults_rejects_bad_knobs_and_names_them(control, changes, named):
    _, client = control
    before = client.get("/sandbox/faults", auth=CLIENT).json()

    response = client.post("/sandbox/faults", json=changes, auth=CLIENT)

    assert response.status_code == 400
    _assert_message(response)
    assert named in response.json()["message"]
    # A rejected change leaves every knob as it was, even the valid ones sent with it.
    assert client.get("/sandbox/faults", auth=CLIENT).json() == before


def test_post_faults_rejects_a_body_that_is_not_a_json_object(control):
    _, client = control
    for content in (b"[1, 2]", b"not json"):
        response = client.post("/sandbox/faults", content=content, auth=CLIENT)
        assert response.status_code == 400, content
        _assert_message(response)


def test_post_faults_changes_only_the_knobs_sent(control):
    _, client = control
    response = client.post("/sandbox/faults", json={"error_rate": 0.5}, auth=CLIENT)
    assert response.status_code == 200
    expected = asdict(FaultSettings(rate_limit=7, seed=4, error_rate=0.5))
    assert response.json() == expected
    assert client.get("/sandbox/faults", auth=CLIENT).json() == expected


def test_faults_reset_restores_a_healthy_clever(control):
    _, client = control
    # Given: some knobs are turned.
    client.post("/sandbox/faults", json={"fail_next": 4, "token_revoked": True}, auth=CLIENT)

    # When
    response = client.post("/sandbox/faults/reset", auth=CLIENT)

    # Then
    assert response.status_code == 200
    assert response.json()["rate_limit"] == 1200
    assert response.json() == asdict(FaultSettings())
    assert client.get("/sandbox/faults", auth=CLIENT).json() == asdict(FaultSettings())


def test_a_fault_set_while_running_applies_to_the_next_api_request(control):
    app, control_client = control
    with client_for(app) as api:
        assert api.get(SCHOOLS).status_code == 200

        # When: one failure is asked for while the sandbox runs.
        response = control_client.post("/sandbox/faults", json={"fail_next": 1}, auth=CLIENT)
        assert response.status_code == 200

        # Then: exactly the next API request fails, with the default fail status.
        assert [api.get(SCHOOLS).status_code for _ in range(2)] == [503, 200]


def test_oauth_tokens_gives_the_district_token(control, demo_store):
    _, client = control
    response = client.get("/oauth/tokens", params={"owner_type": "district"}, auth=CLIENT)
    assert response.status_code == 200
    tokens = response.json()["data"]
    assert len(tokens) == 1
    assert tokens[0]["access_token"] == TOKEN
    assert tokens[0]["owner"] == {"type": "district", "id": demo_store.meta("district")}


@pytest.mark.parametrize("auth", [None, ("sandbox-client", "wrong-secret")], ids=["none", "wrong"])
def test_oauth_tokens_needs_the_client_credentials(control, auth):
    _, client = control
    response = client.get("/oauth/tokens", params={"owner_type": "district"}, auth=auth)
    assert response.status_code == 401
    _assert_message(response)
    assert TOKEN not in response.text


# -- mutate ------------------------------------------------------------------------------------
@pytest.fixture
def mutable(fresh_store):
    app = _app(fresh_store, rate_limit=0)
    with client_for(app, token=None) as client:
        yield fresh_store, client


def test_mutate_applies_changes_and_records_events(mutable):
    store, client = mutable
    events_before = store.stats()["events"]

    response = client.post("/sandbox/mutate", json={"changes": 3}, auth=CLIENT)

    assert response.status_code == 200
    summary = response.json()
    assert summary["events"] > 0
    assert 1 <= summary["changes"] <= 3
    stats = client.get("/sandbox/stats", auth=CLIENT).json()
    assert stats["events"] == events_before + summary["events"]


@pytest.mark.parametrize("changes", [-1, "x", 1.5, None, 100_001])
def test_mutate_rejects_a_bad_number_of_changes(mutable, changes):
    store, client = mutable
    events_before = store.stats()["events"]

    response = client.post("/sandbox/mutate", json={"changes": changes}, auth=CLIENT)

    assert response.status_code == 400
    assert "changes" in response.json()["message"]
    assert store.stats()["events"] == events_before
