"""Re-syncs that skip users whose wire bytes did not change: which users are read again, and that
skipping them ends in exactly the database a full reading of the roster gives."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from homeroom.directory.models import District, GuardianContact, GuardianLink, Student
from homeroom.rostering.models import SyncRun
from homeroom.rostering.services import district_settings_update
from homeroom.rostering.sources.clever import source as clever_source
from homeroom.rostering.sync.reconcile import WARN_NO_REACH, WARN_NO_STUDENT
from homeroom.rostering.sync.state import MODELS, USERS
from homeroom.sandbox.mutate import mutate
from homeroom.sandbox.store import Store
from tests.rostering.conftest import completed, new_district, snapshot, sync_from, users_with_role
from tests.rostering.test_sync import WRITE_TO_DIRECTORY


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The external ids of the users the Clever source decodes into records, in order."""
    ids: list[str] = []
    convert = clever_source.user_from_struct

    def counting(raw: Any) -> Any:
        ids.append(raw.id)
        return convert(raw)

    monkeypatch.setattr(clever_source, "user_from_struct", counting)
    return ids


def _resync(district: District, store: Store, decoded: list[str]) -> SyncRun:
    decoded.clear()
    return completed(sync_from(district, store))


def _warned_users(run: SyncRun) -> set[str]:
    return {w["external_id"] for w in run.warnings if w["entity"] in USERS}


def _warnings(run: SyncRun) -> list[tuple[str, str, str]]:
    return sorted((w["entity"], w["external_id"], w["reason"]) for w in run.warnings)


def _state(district: District) -> dict[str, Any]:
    """Every column of every row of the district, keyed by external ids (two districts synced
    alike compare equal): the run that last changed a row and its timestamps are told apart
    only as "the last run or not", the links come from `snapshot`."""
    district.refresh_from_db()
    last_run = SyncRun.objects.filter(district=district).latest("pk")
    external = {
        f"{name[:-1] if name != 'staff' else name}_id": dict(
            model.objects.filter(district=district).values_list("pk", "external_id")
        )
        for name, model in MODELS.items()
    }
    out: dict[str, Any] = {"wire_basis": district.wire_basis}
    for name, model in MODELS.items():
        rows = {}
        for row in model.objects.filter(district=district).values():
            row.pop("id"), row.pop("district_id")
            for column in ("school_id", "term_id", "course_id"):
                if column in row and row[column] is not None:
                    row[column] = external[column][row[column]]
            row["changed_by_run_id"] = row["changed_by_run_id"] == last_run.pk
            for column in ("created_at", "updated_at", "archived_at"):
                if row[column] is not None:
                    row[column] = row[column] >= last_run.started_at
            rows[row["external_id"]] = row
        out[name] = rows
    out.update(snapshot(district, active_only=False))
    return out


def test_a_no_change_resync_decodes_only_the_users_that_warned(db, demo_store, decoded):
    # given a district synced once
    district = new_district()
    first = completed(sync_from(district, demo_store))
    users = len(decoded)
    # when it is synced again from the same roster
    second = _resync(district, demo_store, decoded)
    # then only the users whose records warned (they have no confirmed row) were decoded, and
    # they warned again
    warned = _warned_users(first)
    assert warned, "the demo district has contacts with neither e-mail nor phone"
    assert set(decoded) == warned and len(decoded) == len(warned) < users / 10
    assert _warnings(second) == _warnings(first)
    assert second.counts == {
        name: {**counts, "created": 0, "unchanged": first.counts[name]["created"]}
        for name, counts in first.counts.items()
    }


def _departure(store: Store) -> tuple[str, set[str]]:
    """A student who leaves the roster while the records of the contacts who name them stay as
    they are (the SIS sends them unchanged); the student and those contacts' ids."""
    contacts = users_with_role(store, "contact")
    student = next(
        r["student"]
        for c in contacts
        if c.get("email")
        for r in c["roles"]["contact"]["student_relationships"]
    )
    store.delete("users", student)
    naming = {
        c["id"]
        for c in contacts
        if any(r["student"] == student for r in c["roles"]["contact"]["student_relationships"])
    }
    return student, naming


def test_a_student_who_left_sends_the_contacts_naming_them_the_slow_way(db, fresh_store, decoded):
    # given a district synced once that removes departed guardians' links
    district = new_district(remove_departed_guardians=True)
    completed(sync_from(district, fresh_store))
    # when a student leaves the roster and the contacts naming them arrive byte for byte as before
    student, naming = _departure(fresh_store)
    run = _resync(district, fresh_store, decoded)
    # then those contacts were read again: they warn, and lost their link to the student
    assert naming <= set(decoded)
    assert set(decoded) - naming <= _warned_users(run) | {student}
    assert {w["external_id"] for w in run.warnings if w["reason"] == WARN_NO_STUDENT} == naming
    assert not GuardianLink.objects.filter(
        contact__district=district, student__external_id=student
    ).exists()
    assert Student.objects.get(district=district, external_id=student).archived_at is not None
    # and they keep warning on later runs: a record that warned is never skipped
    again = _resync(district, fresh_store, decoded)
    assert naming <= set(decoded)
    assert _warnings(again) == _warnings(run)


def _spoil(store: Store) -> dict[str, str]:
    """Changes beside `mutate`'s: the ones the fast path has to notice. Returns what was done."""
    students = users_with_role(store, "student")
    renamed, touched = students[3], students[4]
    renamed["name"]["first"] = "Renamed"
    store.replace("users", renamed)
    touched["last_modified"] = "2031-01-01T00:00:00.000Z"  # a field Homeroom does not keep
    store.replace("users", touched)
    student, _ = _departure(store)
    return {"renamed": renamed["id"], "touched": touched["id"], "left": student}


@pytest.mark.parametrize("remove_departed", [False, True])
def test_the_fast_path_ends_where_reading_every_user_does(
    db, fresh_store, decoded, remove_departed
):
    # given two districts synced alike from the same roster
    fast = new_district("Fast", remove_departed_guardians=remove_departed)
    slow = new_district("Slow", remove_departed_guardians=remove_departed)
    completed(sync_from(fast, fresh_store))
    completed(sync_from(slow, fresh_store))
    assert _state(fast) == _state(slow)
    # when the SIS changes things (and a student leaves, naming contacts unchanged)
    mutate(fresh_store, changes=30, seed=11)
    spoilt = _spoil(fresh_store)
    # and one district re-syncs as usual while the other cannot trust its wire hashes
    fast_run = _resync(fast, fresh_store, decoded)
    read_fast = set(decoded)
    District.objects.filter(pk=slow.pk).update(wire_basis=None)
    slow_run = _resync(slow, fresh_store, decoded)
    read_slow = set(decoded)
    # then the fast one read far fewer users, and both end in the same rows, links and report
    assert len(read_fast) * 10 < len(read_slow)
    assert {spoilt["renamed"], spoilt["touched"]} <= read_fast
    assert _state(fast) == _state(slow)
    assert fast_run.counts == slow_run.counts
    assert _warnings(fast_run) == _warnings(slow_run)
    renamed = Student.objects.get(district=fast, external_id=spoilt["renamed"])
    assert renamed.first_name == "Renamed" and renamed.changed_by_run == fast_run


def test_a_settings_change_reads_every_user_again(db, demo_store, decoded):
    # given a district synced once, showing SIS ids
    district = new_district()
    completed(sync_from(district, demo_store))
    users = len(decoded)
    # when it chooses to show student numbers
    district_settings_update(district=district, changes={"student_id": "student_number"})
    run = _resync(district, demo_store, decoded)
    # then every user was read again and every student row took the new setting
    assert len(decoded) == users
    assert run.counts["students"]["updated"] == Student.objects.filter(district=district).count()
    shown = Student.objects.filter(district=district).values_list("student_id", "student_number")
    assert all(student_id == number != "" for student_id, number in shown)
    # and the next run trusts the rows again
    again = _resync(district, demo_store, decoded)
    assert set(decoded) == _warned_users(again)


def test_a_changed_field_is_read_and_written(db, fresh_store, decoded):
    # given a district synced once
    district = new_district()
    first = completed(sync_from(district, fresh_store))
    # when one contact's phone changes
    contact = next(
        c for c in users_with_role(fresh_store, "contact") if c["roles"]["contact"].get("phone")
    )
    contact["roles"]["contact"]["phone"] = "(312) 555-0199"
    fresh_store.replace("users", contact)
    run = _resync(district, fresh_store, decoded)
    # then that contact alone (with the ones that always warn) was read, and its row changed
    assert set(decoded) == _warned_users(first) | {contact["id"]}
    assert run.counts["contacts"]["updated"] == 1
    row = GuardianContact.objects.get(district=district, external_id=contact["id"])
    assert row.phone == "(312) 555-0199" and row.changed_by_run == run


def test_new_bytes_for_the_same_row_write_only_the_wire_hash(db, fresh_store, decoded):
    # given a district synced once
    district = new_district()
    completed(sync_from(district, fresh_store))
    # when a student's record changes only in a field Homeroom does not keep
    record = users_with_role(fresh_store, "student")[0]
    record["last_modified"] = "2031-01-01T00:00:00.000Z"
    fresh_store.replace("users", record)
    row = Student.objects.get(district=district, external_id=record["id"])
    with CaptureQueriesContext(connection) as queries:
        run = _resync(district, fresh_store, decoded)
    # then it was read, counted unchanged, and only its wire hash was written
    assert record["id"] in decoded
    assert run.counts["students"]["updated"] == 0
    writes = [q["sql"] for q in queries.captured_queries if WRITE_TO_DIRECTORY.match(q["sql"])]
    assert len(writes) == 1 and "SET wire_hash" in writes[0], writes
    after = Student.objects.get(pk=row.pk)
    assert after.wire_hash != row.wire_hash and after.updated_at == row.updated_at
    # and the next run skips it again
    _resync(district, fresh_store, decoded)
    assert record["id"] not in decoded


def test_claiming_an_account_sends_the_contact_the_slow_way(db, demo_store, decoded):
    # given a district synced once, and a contact who then claims their account
    district = new_district()
    completed(sync_from(district, demo_store))
    contact = GuardianContact.objects.filter(district=district).exclude(email="").first()
    GuardianContact.objects.filter(pk=contact.pk).update(claimed_at=timezone.now())
    # when the district re-syncs, the contact is read again (claiming changes what sync keeps)
    _resync(district, demo_store, decoded)
    assert contact.external_id in decoded
    # and on the next run it is skipped again, claimed as it is
    _resync(district, demo_store, decoded)
    assert contact.external_id not in decoded
    # until it is released
    GuardianContact.objects.filter(pk=contact.pk).update(claimed_at=None)
    _resync(district, demo_store, decoded)
    assert contact.external_id in decoded


def test_a_contact_without_email_or_phone_warns_on_every_run(db, demo_store, decoded):
    district = new_district()
    runs = [_resync(district, demo_store, decoded) for _ in range(3)]
    unreachable = [
        {w["external_id"] for w in run.warnings if w["reason"] == WARN_NO_REACH} for run in runs
    ]
    assert unreachable[0] and unreachable[0] == unreachable[1] == unreachable[2]
    assert unreachable[0] <= set(decoded)
