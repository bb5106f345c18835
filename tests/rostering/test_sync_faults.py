"""Bad input: the sandbox's fault knobs, and answers edited to stage what Clever may send."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest

from homeroom.directory.models import GuardianContact, GuardianLink, Student
from homeroom.rostering.models import SyncRun
from homeroom.rostering.services import district_sync
from homeroom.rostering.sync.reconcile import WARN_DUPLICATE, WARN_NO_STUDENT
from homeroom.sandbox.mutate import mutate
from tests.rostering.conftest import (
    EditingTransport,
    completed,
    new_district,
    sandbox_app,
    snapshot,
    source_for_app,
    sync_from,
    table_dump,
    users_with_role,
)


def _sync(district, app, **options) -> SyncRun:
    district.refresh_from_db()
    return district_sync(district=district, source=source_for_app(app, **options))


def test_two_failed_requests_are_retried_and_the_run_completes(db, tiny_store):
    app = sandbox_app(tiny_store, fail_next=2)
    district = new_district()
    waits: list[float] = []
    completed(_sync(district, app, sleep=waits.append))
    assert len(waits) == 2
    assert Student.objects.filter(district=district).count() == 30
    assert app.faults.settings.fail_next == 0


def test_a_429_storm_is_waited_out(db, tiny_store, monkeypatch):
    # given a sandbox allowing 3 requests a second, on a clock that the client's waits advance
    clock = SimpleNamespace(now=1_800_000_000.0)
    monkeypatch.setattr("homeroom.sandbox.faults.time", SimpleNamespace(time=lambda: clock.now))
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    app = sandbox_app(tiny_store, rate_limit=3, rate_window=1)
    district = new_district()
    # when a sync makes more requests than that
    run = _sync(district, app, sleep=sleep, clock=lambda: clock.now, limit=10)
    # then it waited for the window to reset and completed
    completed(run)
    assert waits and all(0 < w <= 1.3 for w in waits)
    assert Student.objects.filter(district=district).count() == 30


def test_source_down_fails_the_run_and_writes_nothing(db, tiny_store):
    district = new_district()
    run = _sync(district, sandbox_app(tiny_store, error_rate=1.0), max_retries=2)
    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == "source_unavailable"
    assert "Clever did not answer" in run.error_message and "3 attempts" in run.error_message
    assert run.finished_at is not None
    assert all(rows == [] for rows in table_dump(district).values())


def test_wrong_token_fails_the_run_with_auth_failed(db, tiny_store):
    district = new_district()
    run = _sync(district, sandbox_app(tiny_store), token="not-the-token")
    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == "auth_failed"
    assert "refused the district token (401)" in run.error_message
    assert all(rows == [] for rows in table_dump(district).values())


def test_token_revoked_mid_run_keeps_the_previous_data(db, tiny_store):
    # given a district synced once, and a roster that changed since
    district = new_district()
    completed(sync_from(district, tiny_store))
    before = table_dump(district)
    mutate(tiny_store, changes=10, seed=3)
    # when the token stops working after three requests of the next run
    app = sandbox_app(tiny_store, revoke_after=3)
    run = _sync(district, app, limit=10)
    # then the run failed on the token and the directory is exactly as it was
    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == "auth_failed"
    assert app.faults.settings.token_revoked
    assert table_dump(district) == before
    # and a run with a working token then applies the changes
    assert completed(sync_from(district, tiny_store)).counts["sections"]["updated"] > 0


def test_contact_linked_to_a_student_not_shared(db, tiny_store):
    # given a contact of two students, one of whom is not shared with Homeroom
    contact = next(
        c
        for c in users_with_role(tiny_store, "contact")
        if c.get("email")
        and len({r["student"] for r in c["roles"]["contact"]["student_relationships"]}) >= 2
    )
    students = [r["student"] for r in contact["roles"]["contact"]["student_relationships"]]
    hidden = students[0]
    tiny_store.delete("users", hidden)
    # when the district syncs
    district = new_district()
    run = completed(sync_from(district, tiny_store))
    # then the contact is synced with its other links, and the run warns about the hidden one
    warning = {"entity": "contacts", "external_id": contact["id"], "reason": WARN_NO_STUDENT}
    assert warning in run.warnings
    held = GuardianContact.objects.get(district=district, external_id=contact["id"])
    linked = set(held.links.values_list("student__external_id", flat=True))
    assert linked == set(students) - {hidden}
    assert not Student.objects.filter(district=district, external_id=hidden).exists()


def test_a_record_listed_twice_is_synced_once_with_a_warning(db, tiny_store):
    # given a sandbox answer that lists a student a second time on a later page
    student = users_with_role(tiny_store, "student")[0]
    item = {"data": student, "uri": f"/v3.0/users/{student['id']}"}
    pages: list[str] = []

    def duplicate(request: httpx.Request, doc: dict) -> None:
        if request.url.path.endswith("/users"):
            pages.append(str(request.url))
            if len(pages) == 3:
                doc["data"].append(item)

    transport = EditingTransport(sandbox_app(tiny_store), duplicate)
    district = new_district()
    # when the district syncs
    run = completed(_sync(district, transport, limit=20))
    # then the student is one row and the run warns about the duplicate
    assert len(pages) >= 3
    assert Student.objects.filter(district=district, external_id=student["id"]).count() == 1
    assert Student.objects.filter(district=district).count() == 30
    assert {"entity": "students", "external_id": student["id"], "reason": WARN_DUPLICATE} in (
        run.warnings
    )
    assert run.counts["students"]["skipped"] == 1


@pytest.mark.parametrize("collection", ["users", "sections"])
def test_an_empty_page_with_a_next_link_ends_the_list(db, tiny_store, collection):
    # given answers where an empty page links to yet another page (back to the first one)
    def empty_page_links_on(request: httpx.Request, doc: dict) -> None:
        if request.url.path.endswith(f"/{collection}") and not doc["data"]:
            first = f"/v3.0/{collection}?limit=5"
            doc["links"] = [{"rel": "self", "uri": str(request.url)}, {"rel": "next", "uri": first}]

    transport = EditingTransport(sandbox_app(tiny_store), empty_page_links_on)
    district = new_district()
    reference = new_district("Reference")
    completed(sync_from(reference, tiny_store))
    # when the district syncs in pages of five, whose last link leads to an empty page
    run = completed(_sync(district, transport, limit=5))
    # then the run ends and holds the whole roster
    assert len(transport.requests) < 60
    assert snapshot(district) == snapshot(reference)
    assert run.counts["students"]["created"] == 30
    assert GuardianLink.objects.filter(contact__district=district).exists()
