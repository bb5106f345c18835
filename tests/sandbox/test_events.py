"""Mutations and the Events API: changes are recorded as Clever events that a client can replay
to reach exactly the state the Data API serves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from homeroom.sandbox.faults import FaultSettings
from homeroom.sandbox.mutate import mutate
from homeroom.sandbox.runner import make_app
from homeroom.sandbox.spec import load_spec
from homeroom.sandbox.store import COLLECTIONS, Store

from .conftest import TOKEN, client_for


def _snapshot(store: Store) -> dict[str, dict[str, dict]]:
    return {c: {r["id"]: r for r in store.iter_records(c)} for c in COLLECTIONS}


def _events(client, version="v3.1", **params) -> list[dict]:
    events, url, query = [], f"/{version}/events", {"limit": 7, **params}
    while url:
        response = client.get(url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert load_spec(version).validate(f"/{version}/events", 200, body) == []
        events += [item["data"] for item in body["data"]]
        url = next((link["uri"] for link in body["links"] if link["rel"] == "next"), None)
        query = None
    return events


@pytest.fixture
def app(fresh_store):
    return make_app(fresh_store, token=TOKEN, faults=FaultSettings(rate_limit=0))


def test_replaying_the_events_reaches_the_data_apis_state(app, fresh_store):
    # Given a snapshot of the district before any change
    before = _snapshot(fresh_store)
    # When the district changes and a client replays every event in order
    summary = mutate(fresh_store, changes=60, seed=5)
    with client_for(app) as client:
        events = _events(client)
    assert len(events) == summary["events"] > 60
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    state = before
    for event in events:
        collection, action = event["type"].split(".")
        record = event["data"]["object"]
        if action == "deleted":
            del state[collection][record["id"]]
        else:
            assert (record["id"] in state[collection]) == (action == "updated")
            state[collection][record["id"]] = record
    # Then it holds exactly what the Data API now serves
    assert state == _snapshot(fresh_store)


def test_every_kind_of_change_happens(fresh_store):
    summary = mutate(fresh_store, changes=60, seed=5)
    assert set(summary["by_kind"]) == {
        "student_enrolled",
        "student_withdrawn",
        "contact_phone_changed",
        "contact_email_changed",
        "student_moved_section",
        "teacher_replaced",
    }
    types = {row[0] for row in fresh_store.db.execute("SELECT DISTINCT type FROM events")}
    assert {"users.created", "users.updated", "users.deleted", "sections.updated"} <= types


def test_updates_carry_previous_attributes(app, fresh_store):
    mutate(fresh_store, changes=30, seed=8)
    with client_for(app) as client:
        events = _events(client)
    updates = [e for e in events if e["type"].endswith(".updated")]
    assert updates and all(e["previous_attributes"] for e in updates)
    phone = next(
        e
        for e in updates
        if "phone" in e["previous_attributes"].get("roles", {}).get("contact", {})
    )
    old = phone["previous_attributes"]["roles"]["contact"]["phone"]
    assert old != phone["data"]["object"]["roles"]["contact"]["phone"]


def test_deleted_records_are_gone_from_the_data_api(app, fresh_store):
    mutate(fresh_store, changes=30, seed=9)
    with client_for(app) as client:
        deleted = [e for e in _events(client) if e["type"] == "users.deleted"]
        assert deleted
        for event in deleted:
            assert client.get(f"/v3.0/users/{event['data']['object']['id']}").status_code == 404


def test_starting_after_filters_and_newest_event(app, fresh_store):
    mutate(fresh_store, changes=10, seed=1)
    with client_for(app) as client:
        events = _events(client)
        later = _events(client, starting_after=events[2]["id"])
        assert [e["id"] for e in later] == [e["id"] for e in events[3:]]
        newest = client.get("/v3.0/events", params={"ending_before": "f" * 24, "limit": 1})
        assert [item["data"]["id"] for item in newest.json()["data"]] == [events[-1]["id"]]
        one = client.get(f"/v3.0/events/{events[0]['id']}").json()["data"]
        assert one["id"] == events[0]["id"]


def test_record_type_filter(app, fresh_store):
    mutate(fresh_store, changes=20, seed=2)
    with client_for(app) as client:
        sections = _events(client, record_type="sections")
        both = _events(client, record_type=["sections", "users"])
        everything = _events(client)
    assert sections and all(e["type"].startswith("sections.") for e in sections)
    assert len(both) == len(everything) > len(sections)


def test_events_older_than_30_days_are_gone(app, fresh_store):
    # Given changes made 40 days ago and changes made now
    old = mutate(fresh_store, changes=5, seed=1, now=datetime.now(UTC) - timedelta(days=40))
    new = mutate(fresh_store, changes=5, seed=2)
    with client_for(app) as client:
        events = _events(client)
        # Then only the recent ones are listed, and a cursor at an old one is refused
        assert events[0]["id"] == new["first_event"]
        response = client.get("/v3.0/events", params={"starting_after": old["last_event"]})
        assert response.status_code == 404
        assert "30-day" in response.json()["message"]
        assert client.get(f"/v3.0/events/{old['first_event']}").status_code == 404


def test_v30_events_leave_out_v31_fields(app, fresh_store):
    mutate(fresh_store, changes=40, seed=4)
    with client_for(app) as client:
        old = _events(client, version="v3.0", record_type="users")
    students = [e for e in old if "student" in e["data"]["object"]["roles"]]
    assert students
    assert all("frl_status" not in e["data"]["object"]["roles"]["student"] for e in students)


def test_mutations_are_deterministic_and_persist(demo_path, tmp_path):
    import shutil

    Store(demo_path).db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    bodies = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.sqlite3"
        shutil.copy(demo_path, path)
        mutate(Store(path), changes=15, seed=11, now=now)
        reopened = Store(path)  # a new connection: what a restarted sandbox would see
        bodies.append(
            [row[0] for row in reopened.db.execute("SELECT body FROM events ORDER BY id")]
        )
    assert bodies[0] and bodies[0] == bodies[1]


def test_new_ids_sort_after_existing_ones(fresh_store):
    newest_before = fresh_store.db.execute("SELECT max(id) FROM users").fetchone()[0]
    summary = mutate(fresh_store, changes=20, seed=6)
    created = [
        row[0]
        for row in fresh_store.db.execute(
            "SELECT body FROM events WHERE type = 'users.created' ORDER BY id"
        )
    ]
    assert created and summary["first_event"] > newest_before
    newest_after = fresh_store.db.execute("SELECT max(id) FROM users").fetchone()[0]
    assert newest_after > newest_before
