"""A full sync of the demo district: what it writes, that a re-sync writes nothing, and that a
re-sync after roster changes ends where a first sync of the changed roster does."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from homeroom.directory.models import (
    Enrollment,
    GuardianLink,
    Student,
)
from homeroom.rostering.models import SyncRun
from homeroom.rostering.sync.reconcile import WARN_NO_REACH
from homeroom.rostering.sync.state import MODELS
from homeroom.sandbox.mutate import mutate
from homeroom.sandbox.store import Store
from tests.rostering.conftest import (
    completed,
    new_district,
    snapshot,
    sync_from,
    users_with_role,
)

EMPLOYEE_ROLES = ("teacher", "staff", "district_admin")
# Django records an executemany as "<n> times: <sql>"; apply writes with executemany.
WRITE_TO_DIRECTORY = re.compile(
    r"^\s*(\S+ times: )?(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?directory_", re.IGNORECASE
)


def _unreachable(contact: dict) -> bool:
    return not contact.get("email") and not contact["roles"]["contact"].get("phone")


def _expected(store: Store) -> dict:
    """What the sandbox's records say the directory should hold, read from its store."""
    stats = store.stats()
    employees = {u["id"] for role in EMPLOYEE_ROLES for u in users_with_role(store, role)}
    contacts = users_with_role(store, "contact")
    unreachable = {c["id"] for c in contacts if _unreachable(c)}
    sections = list(store.iter_records("sections"))
    staff_schools = set()
    for user_id in employees:
        roles = store.get("users", user_id)["roles"]
        for role in ("teacher", "staff"):
            if role in roles:
                found = [roles[role].get("school"), *(roles[role].get("schools") or [])]
                staff_schools |= {(user_id, s) for s in found if s}
    return {
        "counts": {
            "schools": stats["objects"]["schools"],
            "terms": stats["objects"]["terms"],
            "courses": stats["objects"]["courses"],
            "sections": stats["objects"]["sections"],
            "staff": len(employees),
            "students": stats["users_by_role"]["student"],
            "contacts": stats["users_by_role"]["contact"] - len(unreachable),
        },
        "unreachable": unreachable,
        "enrollments": {(s["id"], st) for s in sections for st in s["students"]},
        "section_teachers": {
            (s["id"], t, t == s.get("teacher")) for s in sections for t in s["teachers"]
        },
        "staff_schools": staff_schools,
        "guardian_links": {
            (c["id"], r["student"], r.get("relationship") or "", r.get("type") or "")
            for c in contacts
            if c["id"] not in unreachable
            for r in c["roles"]["contact"]["student_relationships"]
        },
    }


def test_first_sync_writes_the_roster_as_the_sandbox_holds_it(db, synced_demo, demo_store):
    district, run = synced_demo
    expected = _expected(demo_store)

    # Counts per entity: the sandbox's, less the contacts that cannot be reached.
    for name, model in MODELS.items():
        assert model.objects.filter(district=district).count() == expected["counts"][name], name
        assert run.counts[name]["created"] == expected["counts"][name], name
    assert expected["unreachable"], "the demo district has contacts without e-mail and phone"
    assert run.counts["contacts"]["skipped"] == len(expected["unreachable"])
    no_reach = {w["external_id"] for w in run.warnings if w["reason"] == WARN_NO_REACH}
    assert no_reach == expected["unreachable"]
    assert all(w["entity"] == "contacts" for w in run.warnings if w["reason"] == WARN_NO_REACH)

    # Links, all of them, by external ids.
    links = snapshot(district)
    assert links["enrollments"] == expected["enrollments"]
    assert links["section_teachers"] == expected["section_teachers"]
    assert sum(1 for *_, primary in links["section_teachers"] if primary) == 94
    assert links["staff_schools"] == expected["staff_schools"]
    assert links["guardian_links"] == expected["guardian_links"]


def test_first_sync_spot_check_one_student(db, synced_demo, demo_store):
    district, _ = synced_demo
    # given a student of the sandbox with sections and reachable contacts
    record = next(
        s
        for s in users_with_role(demo_store, "student")
        if demo_store.count("SELECT count(*) FROM contact_student WHERE student = ?", (s["id"],))
        >= 2
    )
    sections = {
        row[0]
        for row in demo_store.db.execute(
            "SELECT section FROM section_user WHERE user = ?", (record["id"],)
        )
    }
    contacts = [
        demo_store.get("users", row[0])
        for row in demo_store.db.execute(
            "SELECT contact FROM contact_student WHERE student = ?", (record["id"],)
        )
    ]
    # then the directory holds the student with those sections and contacts
    student = Student.objects.get(district=district, external_id=record["id"])
    assert (student.first_name, student.last_name) == (
        record["name"]["first"],
        record["name"]["last"],
    )
    assert student.sis_id == student.student_id == record["roles"]["student"]["sis_id"]
    assert student.school.external_id == record["roles"]["student"]["school"]
    held_sections = set(
        Enrollment.objects.filter(student=student).values_list("section__external_id", flat=True)
    )
    assert sections and held_sections == sections
    held_contacts = {
        link.contact.external_id: link
        for link in GuardianLink.objects.filter(student=student).select_related("contact")
    }
    assert set(held_contacts) == {c["id"] for c in contacts if not _unreachable(c)}
    for contact in contacts:
        if contact["id"] in held_contacts:
            rel = next(
                r
                for r in contact["roles"]["contact"]["student_relationships"]
                if r["student"] == record["id"]
            )
            link = held_contacts[contact["id"]]
            assert link.relationship == (rel.get("relationship") or "")
            assert link.contact_type == (rel.get("type") or "")
            assert link.contact.email == (contact.get("email") or "").strip().lower()


def test_first_sync_run_report_and_row_bookkeeping(db, synced_demo):
    district, run = synced_demo
    run.refresh_from_db()
    assert run.status == SyncRun.Status.COMPLETED
    assert run.kind == SyncRun.Kind.FULL
    assert run.started_at is not None and run.finished_at is not None
    assert run.started_at <= run.finished_at
    assert run.error_code == "" and run.error_message == ""
    assert run.warning_count == len(run.warnings) > 0
    assert set(run.counts) == set(MODELS)
    for name, model in MODELS.items():
        rows = model.objects.filter(district=district)
        assert rows.exists()
        assert not rows.filter(external_id="").exists(), name
        assert not rows.filter(sync_managed=False).exists(), name
        assert not rows.exclude(changed_by_run=run).exists(), name
        assert not rows.filter(sync_hash=None).exists(), name
        assert not rows.exclude(archived_at=None).exists(), name


def test_resync_without_change_writes_nothing(db, demo_store):
    # given a district synced once
    district = new_district()
    first = completed(sync_from(district, demo_store))
    before = snapshot(district)
    # when it is synced again from the same roster
    with CaptureQueriesContext(connection) as queries:
        second = completed(sync_from(district, demo_store))
    # then no statement wrote to a directory table (the run's own row is written)
    statements = [q["sql"] for q in queries.captured_queries]
    assert any("rostering_syncrun" in sql for sql in statements), "queries were captured"
    writes = [sql[:120] for sql in statements if WRITE_TO_DIRECTORY.match(sql)]
    assert writes == []
    for name, counts in second.counts.items():
        written = {k: v for k, v in counts.items() if k not in ("unchanged", "skipped") and v}
        assert written == {}, name
        assert counts["unchanged"] == first.counts[name]["created"], name
    assert snapshot(district) == before
    assert not Student.objects.filter(district=district).exclude(changed_by_run=first).exists()


def test_resync_after_changes_equals_a_first_sync_of_the_changed_roster(db, fresh_store):
    # given a district synced from the demo roster (departed guardians removed, so that a
    # contact who left is archived rather than kept)
    district = new_district("Before", remove_departed_guardians=True)
    completed(sync_from(district, fresh_store))
    before = snapshot(district)
    # when 30 changes happen in the SIS and the district is synced again
    summary = mutate(fresh_store, changes=30, seed=11)
    assert summary["changes"] >= 25
    resynced = completed(sync_from(district, fresh_store))
    # and the changed roster is synced into a new, empty district
    fresh = new_district("After", remove_departed_guardians=True)
    completed(sync_from(fresh, fresh_store))
    # then both hold the same active rows and links
    after, expected = snapshot(district), snapshot(fresh)
    assert after != before
    for name in expected:
        assert after[name] == expected[name], name
    # and the rows that left the roster are archived, not deleted
    for name, model in MODELS.items():
        all_ids = set(model.objects.filter(district=district).values_list("external_id", flat=True))
        active = {row[0] for row in after[name]}
        archived = set(
            model.objects.filter(district=district)
            .exclude(archived_at=None)
            .values_list("external_id", flat=True)
        )
        assert all_ids - active == archived, name
    assert resynced.counts["students"]["archived"] == len(
        Student.objects.filter(district=district).exclude(archived_at=None)
    )
    assert summary["by_kind"].get("student_withdrawn", 0) == resynced.counts["students"]["archived"]
