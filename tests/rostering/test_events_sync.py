"""Events sync: the changes since the last sync, from Clever's Events API, applied as a full sync
of the same roster would apply them; falling back to a full sync when the events cannot tell."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from homeroom.cli import main
from homeroom.directory.models import (
    Course,
    District,
    Enrollment,
    GuardianContact,
    GuardianLink,
    School,
    Section,
    SectionTeacher,
    Staff,
    Student,
    Term,
)
from homeroom.families.models import Connection, Invitation
from homeroom.families.services import invitations_send
from homeroom.rostering.events import (
    ERR_FALLBACK,
    REASON_GONE,
    REASON_NO_CURSOR,
    events_cursor,
)
from homeroom.rostering.events import district_events_sync as events_sync
from homeroom.rostering.models import SyncRun
from homeroom.rostering.services import ERR_BUSY, district_sync, run_report, run_start
from homeroom.rostering.sync.partial import ActiveCounts
from homeroom.sandbox.mutate import mutate
from homeroom.sandbox.runner import sandbox_thread
from homeroom.sandbox.server import SandboxApp
from homeroom.sandbox.store import Store

from .conftest import (
    TOKEN,
    EditingTransport,
    completed,
    copy_store,
    new_district,
    sandbox_app,
    snapshot,
    source_for_app,
    sync_from,
    users_with_role,
)


def events_from(
    district: District, store: Store | SandboxApp | httpx.BaseTransport, **kwargs: Any
) -> SyncRun:
    app = store if isinstance(store, SandboxApp | httpx.BaseTransport) else sandbox_app(store)
    district.refresh_from_db()
    district.sync.refresh_from_db()
    return events_sync(district=district, source=source_for_app(app, **kwargs))


SYNCED_MODELS = (School, Term, Course, Section, Staff, Student, GuardianContact)


def rows_dump(district: District) -> dict[str, set]:
    """Every column sync owns of every row, and every link, by external ids: what must be equal
    between an events-synced and a fully synced district (not ids, times, runs, wire hashes)."""
    skip = {"id", "district", "wire_hash", "changed_by_run", "created_at", "updated_at"}
    out: dict[str, set] = {}
    for model in SYNCED_MODELS:
        fields = [f.name for f in model._meta.concrete_fields if f.name not in skip]
        synced = [f for f in fields if model._meta.get_field(f).related_model in SYNCED_MODELS]
        names = [f"{f}__external_id" if f in synced else f for f in fields]
        values = model.objects.filter(district=district).values_list(*names)
        # archived_at differs in time only: compare whether a row is archived
        at = names.index("archived_at")
        out[model.__name__] = {v[:at] + (v[at] is not None,) + v[at + 1 :] for v in values}
    out["staff_schools"] = set(
        Staff.schools.through.objects.filter(staff__district=district).values_list(
            "staff__external_id", "school__external_id"
        )
    )
    out["enrollments"] = set(
        Enrollment.objects.filter(section__district=district).values_list(
            "section__external_id", "student__external_id"
        )
    )
    out["section_teachers"] = set(
        SectionTeacher.objects.filter(section__district=district).values_list(
            "section__external_id", "staff__external_id", "is_primary"
        )
    )
    out["guardian_links"] = set(
        GuardianLink.objects.filter(contact__district=district).values_list(
            "contact__external_id", "student__external_id", "relationship", "contact_type"
        )
    )
    return out


def invited_dump(district: District) -> set:
    return set(
        Invitation.objects.filter(district=district).values_list(
            "contact__external_id", "status", "channel"
        )
    )


def family_dump(district: District) -> set:
    return set(
        Connection.objects.filter(invitation__district=district).values_list(
            "invitation__contact__external_id", "student__external_id", "status"
        )
    )


def cursor_of(district: District) -> str | None:
    return events_cursor(district)[0]


def set_cursor(district: District, cursor: str, *, at: datetime | None = None) -> None:
    """Put the district's events cursor (that of its latest completed run) at `cursor`."""
    run = SyncRun.objects.filter(district=district, status="completed").latest("created_at")
    SyncRun.objects.filter(pk=run.pk).update(
        events_cursor=cursor, **({"started_at": at} if at else {})
    )


def twins(store: Store, **settings: Any) -> tuple[District, District]:
    """Two districts fully synced from the same roster: one to apply events, one to sync
    fully, to compare."""
    pair = new_district("Events", **settings), new_district("Full", **settings)
    for district in pair:
        completed(sync_from(district, store))
    return pair


@pytest.fixture
def store(demo_path, tmp_path) -> Store:
    return copy_store(demo_path, tmp_path / "events.sqlite3")


def _bodies(store: Store, kind: str) -> list[bytes]:
    rows = store.db.execute("SELECT body FROM events WHERE type = ? ORDER BY id", (kind,))
    return [bytes(row[0]) for row in rows]


def _edited_events(store: Store, edit) -> EditingTransport:
    def on_answer(request, doc: dict) -> None:
        if request.url.path.endswith("/events"):
            for item in doc["data"]:
                edit(item["data"])

    return EditingTransport(sandbox_app(store), on_answer)


# -- the cursor ----------------------------------------------------------------------------------
def test_a_full_sync_saves_the_newest_event_id_as_the_cursor(db, store):
    # Given a district whose feed has events
    summary = mutate(store, changes=3, seed=1)
    district = new_district()
    # When it is fully synced
    run = completed(sync_from(district, store))
    # Then the cursor is the newest event, and the next full sync moves it
    assert events_cursor(district) == (summary["last_event"], run.started_at)
    assert run_report(run)["events_cursor"] == summary["last_event"]
    later = mutate(store, changes=2, seed=2)
    completed(sync_from(district, store))
    assert cursor_of(district) == later["last_event"]
    # And a self-check keeps none
    dry = district_sync(district=district, dry_run=True, source=source_for_app(sandbox_app(store)))
    assert dry.events_cursor is None and cursor_of(district) == later["last_event"]


def test_an_empty_feed_gives_an_empty_cursor_and_every_later_event_applies(db, store):
    district, full = twins(store)
    assert cursor_of(district) == ""
    mutate(store, changes=5, seed=3)
    run = completed(events_from(district, store))
    assert run.kind == SyncRun.Kind.EVENTS
    completed(sync_from(full, store))
    assert rows_dump(district) == rows_dump(full)


# -- the same end state as a full sync ------------------------------------------------------------
@pytest.mark.parametrize("changes,seed", [(40, 11), (120, 12)])
def test_events_sync_ends_where_a_full_sync_of_the_same_roster_ends(db, store, changes, seed):
    # Given two districts fully synced from the same roster
    events_district, full_district = new_district("A"), new_district("B")
    completed(sync_from(events_district, store))
    completed(sync_from(full_district, store))
    # When the roster changes: A applies the events, B syncs fully
    summary = mutate(store, changes=changes, seed=seed)
    assert summary["events"] > changes
    run = completed(events_from(events_district, store))
    completed(sync_from(full_district, store))
    # Then both hold the same rows, column by column, and the same links
    assert rows_dump(events_district) == rows_dump(full_district)
    assert snapshot(events_district) == snapshot(full_district)
    # And the report counts what changed
    assert run.kind == SyncRun.Kind.EVENTS
    counts = run.counts
    assert counts["students"]["created"] > 0 and counts["sections"]["updated"] > 0
    assert counts["students"]["archived"] > 0
    assert cursor_of(events_district) == summary["last_event"] == run.events_cursor


@pytest.mark.parametrize(
    "settings",
    [
        {"all_schools": False},  # two of the four schools, chosen below
        {"sync_classrooms": False, "manage_guardians": False},
        {"unique_class_names": True, "student_id": "student_number", "sms_phone_type": "Home"},
        {"archived_students": "keep_active", "remove_departed_guardians": True},
        {"contact_types": ["Parent/Guardian"], "relationships": ["Parent", "Grandparent"]},
    ],
    ids=[
        "selected-schools",
        "no-classrooms-no-guardians",
        "names-ids-phones",
        "keep-remove",
        "types",
    ],
)
def test_under_any_settings_events_and_full_sync_end_alike(db, store, settings):
    if settings.get("all_schools") is False:
        schools = sorted(row[0] for row in store.db.execute("SELECT id FROM schools"))
        settings = {**settings, "school_ids": schools[:2]}
    district, full = twins(store, **settings)
    mutate(store, changes=80, seed=13)
    completed(events_from(district, store))
    completed(sync_from(full, store))
    assert rows_dump(district) == rows_dump(full)
    # And a full sync after the events finds nothing to change
    run = completed(sync_from(district, store))
    assert _written(run) == {}


def _written(run: SyncRun) -> dict:
    return {
        (entity, action): n
        for entity, counts in run.counts.items()
        for action, n in counts.items()
        if action not in ("unchanged", "skipped") and n
    }


def test_replaying_the_same_events_changes_nothing(db, store):
    # Given a district that applied a batch of events
    district = new_district()
    completed(sync_from(district, store))
    cursor = cursor_of(district)
    mutate(store, changes=40, seed=31)
    completed(events_from(district, store))
    before = rows_dump(district)
    # When the same events are applied again (the cursor put back)
    set_cursor(district, cursor)
    with CaptureQueriesContext(connection) as queries:
        run = completed(events_from(district, store))
    # Then nothing is written
    assert rows_dump(district) == before
    for counts in run.counts.values():
        assert counts["created"] == counts["updated"] == counts["archived"] == 0
    written = [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "rostering_syncrun" not in q["sql"]
        and "directory_district" not in q["sql"]
    ]
    assert written == []


def test_no_events_is_a_completed_run_that_changes_nothing(db, store):
    district = new_district()
    completed(sync_from(district, store))
    run = completed(events_from(district, store))
    assert all(sum(counts.values()) == 0 for counts in run.counts.values())


# -- ordering and previous_attributes -------------------------------------------------------------
def _add_events(store: Store, *events: tuple[str, dict]) -> None:
    """Events after every event the sandbox made (their ids sort last), in the order given."""
    now = datetime.now(UTC).timestamp()
    for n, (kind, record) in enumerate(events):
        event = {
            "id": "f" * 22 + f"{n:02d}",
            "type": kind,
            "created": "2026-11-23T00:00:00.000Z",
            "data": {"object": record},
        }
        store.add_event(event, record_type=kind.split(".")[0], school=None, ts=now)


def test_an_update_after_a_create_in_the_same_batch_applies_the_update(db, store):
    district = new_district()
    completed(sync_from(district, store))
    # Given a guardian contact created, then renamed, in one batch
    contact = {**users_with_role(store, "contact")[0], "id": "e" * 24}
    first = {**contact, "name": {"first": "Ann", "last": "Created"}}
    second = {**contact, "name": {"first": "Ann", "last": "Updated"}}
    _add_events(store, ("users.created", first), ("users.updated", second))
    # When the events are applied
    run = completed(events_from(district, store))
    # Then the row holds the later state
    row = GuardianContact.objects.get(district=district, external_id="e" * 24)
    assert row.last_name == "Updated"
    assert run.counts["contacts"]["created"] == 1


def test_a_delete_after_an_update_archives_the_student(db, store):
    district = new_district()
    completed(sync_from(district, store))
    student = users_with_role(store, "student")[5]
    updated = {**student, "name": {**student["name"], "first": "Changed"}}
    _add_events(store, ("users.updated", updated), ("users.deleted", updated))
    run = completed(events_from(district, store))
    assert run.counts["students"]["archived"] == 1
    row = Student.objects.get(district=district, external_id=student["id"])
    assert row.archived_at is not None
    assert row.first_name == student["name"]["first"]  # archived as it was, not rewritten


@pytest.mark.parametrize("place", ["beside", "inside"])
def test_previous_attributes_beside_or_inside_data_are_both_accepted(db, store, place):
    district, full = twins(store)
    mutate(store, changes=30, seed=51)

    def move(event: dict) -> None:
        previous = event.pop("previous_attributes", None)
        if previous is not None and place == "inside":
            event["data"]["previous_attributes"] = previous
        elif previous is not None:
            event["previous_attributes"] = previous

    transport = _edited_events(store, move)
    completed(events_from(district, transport))
    completed(sync_from(full, store))
    assert rows_dump(district) == rows_dump(full)


# -- class lists from previous_attributes ---------------------------------------------------------
def _enrollment_reads(queries: CaptureQueriesContext) -> list[str]:
    table = Enrollment._meta.db_table
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith("SELECT") and table in q["sql"]
    ]


def test_a_section_whose_events_say_what_it_listed_is_not_read(db, store):
    # Given two districts synced alike, and changes to class lists that Clever's events
    # describe with the students each section listed before
    district, full = twins(store)
    mutate(store, changes=60, seed=61)
    # When the events are applied
    with CaptureQueriesContext(connection) as queries:
        run = completed(events_from(district, store))
    # Then no section's enrollments were read, and it ends as a full sync ends
    assert run.counts["sections"]["updated"] > 0
    assert _enrollment_reads(queries) == []
    completed(sync_from(full, store))
    assert rows_dump(district) == rows_dump(full)
    assert _written(completed(sync_from(district, store))) == {}


@pytest.mark.parametrize("lie", ["one-more", "one-less"])
def test_previous_attributes_that_do_not_match_the_section_are_not_trusted(db, store, lie):
    # Given events whose previous class lists are not what the sections held
    district, full = twins(store)
    mutate(store, changes=60, seed=62)
    someone = users_with_role(store, "student")[0]["id"]

    def falsify(event: dict) -> None:
        previous = event.get("previous_attributes") or {}
        if "students" in previous:
            students = previous["students"]
            previous["students"] = [*students, someone] if lie == "one-more" else students[1:]

    # When they are applied
    with CaptureQueriesContext(connection) as queries:
        completed(events_from(district, _edited_events(store, falsify)))
    # Then the sections' enrollments were read instead, and the end is a full sync's
    assert _enrollment_reads(queries) != []
    completed(sync_from(full, store))
    assert rows_dump(district) == rows_dump(full)


def test_an_enrollment_already_there_is_not_an_error(db, store):
    # Given a student moved to another class, and Homeroom already enrolling them there (a
    # merge moved a duplicate's enrollments, say)
    district, full = twins(store)
    mutate(store, changes=60, seed=63)
    moves = []
    for event in map(orjson.loads, _bodies(store, "sections.updated")):
        listed = event["data"]["object"]["students"]
        earlier = (event.get("previous_attributes") or {}).get("students", listed)
        moves += [(event["data"]["object"]["id"], s) for s in set(listed) - set(earlier)]
    section_id, student_id = next(
        (section, student)
        for section, student in moves
        if Student.objects.filter(district=district, external_id=student).exists()
    )
    Enrollment.objects.create(
        section=Section.objects.get(district=district, external_id=section_id),
        student=Student.objects.get(district=district, external_id=student_id),
    )
    # When the events are applied, then the run completes and ends as a full sync ends
    completed(events_from(district, store))
    completed(sync_from(full, store))
    assert rows_dump(district) == rows_dump(full)


# -- archiving under the settings -----------------------------------------------------------------
def _withdraw_one(store: Store) -> str:
    """A student withdraws (seed chosen so that the first change is a withdrawal)."""
    for seed in range(100):
        before = {s["id"] for s in users_with_role(store, "student")}
        mutate(store, changes=1, seed=seed)
        gone = before - {s["id"] for s in users_with_role(store, "student")}
        if gone:
            return gone.pop()
    raise AssertionError("no withdrawal in 100 seeds")


@pytest.mark.parametrize("setting,archived", [("archive", True), ("keep_active", False)])
def test_a_deleted_student_is_archived_or_kept_active_as_set(db, store, setting, archived):
    district = new_district(archived_students=setting)
    completed(sync_from(district, store))
    gone = _withdraw_one(store)
    run = completed(events_from(district, store))
    row = Student.objects.get(district=district, external_id=gone)
    assert (row.archived_at is not None) == archived
    assert run.counts["students"]["archived"] == int(archived)


def test_a_departed_guardian_is_archived_only_when_set(db, store):
    keep = new_district("Keep")
    completed(sync_from(keep, store))
    remove, full = twins(store, remove_departed_guardians=True)
    mutate(store, changes=40, seed=61)
    deleted = [body for body in _bodies(store, "users.deleted") if b'"contact"' in body]
    assert deleted
    for district in (keep, remove):
        completed(events_from(district, store))
    archived = {
        name: GuardianContact.objects.filter(district=d).exclude(archived_at=None).count()
        for name, d in (("keep", keep), ("remove", remove))
    }
    assert archived["keep"] == 0 and archived["remove"] > 0
    completed(sync_from(full, store))
    assert rows_dump(remove) == rows_dump(full)


# -- falling back to a full sync ------------------------------------------------------------------
def test_without_a_cursor_the_events_sync_is_a_full_sync_that_says_why(db, store):
    district = new_district()
    run = completed(events_from(district, store))
    assert run.kind == SyncRun.Kind.FULL
    assert run.warnings[0] == {"entity": "events", "external_id": "", "reason": REASON_NO_CURSOR}
    assert run.warning_summary[0]["reason"] == REASON_NO_CURSOR
    assert run_report(run)["warnings"][0]["reason"] == REASON_NO_CURSOR
    events_run = SyncRun.objects.get(district=district, kind=SyncRun.Kind.EVENTS)
    assert events_run.error_code == ERR_FALLBACK
    assert f"run {run.pk}" in events_run.error_message
    assert Student.objects.filter(district=district).count() == 600


def test_a_cursor_older_than_30_days_falls_back_to_a_full_sync(db, store):
    # Given a cursor at an event Clever has dropped (made 40 days ago)
    old = mutate(store, changes=3, seed=71, now=datetime.now(UTC) - timedelta(days=40))
    district, full = twins(store)
    set_cursor(district, old["first_event"])
    mutate(store, changes=10, seed=72)
    # When the events are synced
    run = completed(events_from(district, store))
    # Then Clever's 404 turned it into a full sync, which says why and saves a fresh cursor
    assert run.kind == SyncRun.Kind.FULL
    assert run.warnings[0]["reason"] == REASON_GONE
    assert cursor_of(district) == run.events_cursor != old["first_event"]
    completed(sync_from(full, store))
    assert rows_dump(district) == rows_dump(full)


def test_an_unknown_cursor_falls_back_to_a_full_sync(db, store):
    district = new_district()
    completed(sync_from(district, store))
    set_cursor(district, "0" * 24)
    run = completed(events_from(district, store))
    assert run.kind == SyncRun.Kind.FULL and run.warnings[0]["reason"] == REASON_GONE


def test_an_empty_cursor_saved_over_30_days_ago_falls_back(db, store):
    district = new_district()
    completed(sync_from(district, store))
    set_cursor(district, "", at=datetime.now(UTC) - timedelta(days=31))
    run = completed(events_from(district, store))
    assert run.kind == SyncRun.Kind.FULL and "30-day" in run.warnings[0]["reason"]


# -- the lock, failures, the cursor ---------------------------------------------------------------
def test_an_events_sync_while_a_full_run_runs_is_refused(db, store):
    district = new_district()
    completed(sync_from(district, store))
    running = run_start(district=district, kind=SyncRun.Kind.FULL, trigger="manual")
    run = events_from(district, store)
    assert run.status == SyncRun.Status.FAILED and run.error_code == ERR_BUSY
    assert run.kind == SyncRun.Kind.EVENTS
    assert f"run {running.pk}" in run.error_message


def test_a_failed_events_sync_keeps_the_cursor(db, store):
    district, full = twins(store)
    cursor = cursor_of(district)
    mutate(store, changes=10, seed=81)
    app = sandbox_app(store, error_rate=1.0)
    run = events_from(district, app, max_retries=1)
    assert run.status == SyncRun.Status.FAILED and run.error_code == "source_unavailable"
    assert cursor_of(district) == cursor
    # And the next events sync applies the same changes
    completed(events_from(district, store))
    completed(sync_from(full, store))
    assert rows_dump(district) == rows_dump(full)


# -- families -------------------------------------------------------------------------------------
def test_a_contact_created_by_an_event_is_invited(db, store):
    # Given two districts with family sync on, fully synced, their invitations sent
    district, full = new_district(family_sync=True), new_district("Full", family_sync=True)
    for each in (district, full):
        completed(sync_from(each, store))
        invitations_send(district=each)
    before = set(Invitation.objects.filter(district=district).values_list("contact_id", flat=True))
    # When students enrol with new guardian contacts and the events are applied
    mutate(store, changes=40, seed=91)
    created = {
        event["data"]["object"]["id"]
        for event in map(orjson.loads, _bodies(store, "users.created"))
        if "contact" in event["data"]["object"]["roles"]
    }
    assert created
    run = completed(events_from(district, store))
    # Then each new contact that can be reached got an invitation, issued by this run
    invited = Invitation.objects.filter(district=district, created_by_run=run)
    assert invited.count() == run.family_counts["invitations"]["created"] > 0
    assert created & set(invited.values_list("contact__external_id", flat=True))
    assert not before & set(invited.values_list("contact_id", flat=True))
    # And the invitations and connections are those a full sync would have made
    completed(sync_from(full, store))
    for each in (district, full):
        invitations_send(district=each)
    assert family_dump(district) == family_dump(full)
    assert invited_dump(district) == invited_dump(full)


# -- the command line -----------------------------------------------------------------------------
def test_homeroom_sync_events_prints_the_events_runs_report(db, cli_runner, tiny_store):
    with sandbox_thread(sandbox_app(tiny_store)) as sandbox:
        added = cli_runner.invoke(
            main, ["district", "add", "Tiny", "--clever-url", sandbox.url, "--token", TOKEN]
        )
        slug = added.stdout.strip().splitlines()[-1]
        assert cli_runner.invoke(main, ["sync", slug]).exit_code == 0
        summary = mutate(tiny_store, changes=6, seed=2)
        result = cli_runner.invoke(main, ["sync", slug, "--events", "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["kind"] == "events" and report["status"] == "completed"
        assert sum(c["created"] + c["updated"] for c in report["counts"].values()) > 0
        assert cursor_of(District.objects.get(slug=slug)) == summary["last_event"]
        # As a table, titled as an events sync
        again = cli_runner.invoke(main, ["sync", slug, "--events"])
        assert again.exit_code == 0 and f"Events sync of {slug}: COMPLETED" in again.output
        refused = cli_runner.invoke(main, ["sync", slug, "--events", "--dry-run"])
        assert refused.exit_code == 2


def test_active_counts_tell_whether_there_are_enough_without_counting_all(db, store):
    district = new_district()
    completed(sync_from(district, store))
    Student.objects.filter(pk=Student.objects.filter(district=district).first().pk).update(
        archived_at=datetime.now(UTC)
    )
    active = Student.objects.filter(district=district, archived_at=None).count()
    counts = ActiveCounts(district)
    assert counts.at_least("students", active) and not counts.at_least("students", active + 1)
    assert counts.at_least("students", 0)
    assert counts["students"] == active and counts.at_least("students", active)
