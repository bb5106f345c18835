"""Incremental sync from Clever's Events API: apply the changes since the district's last sync.

A full sync keeps Clever's newest event id from before it read the roster in its run
(`SyncRun.events_cursor`). An events sync reads the events after the cursor of the district's
latest completed run, folds them into the records they leave (the last event of a record wins:
`roster_changes`), and runs the same reconcile and apply as a full sync over just those records,
against just the rows they touch and the rows they refer to. The settings, matching, warnings,
archiving rules and report are a full sync's; the cost follows the number of changes. Its own
run keeps the last event it read, so the cursor moves only when the run completes.

A `sections.updated` event carries the section's whole class list. What the section listed
before comes with it (`previous_attributes`); when the section's row hash shows it was written
from exactly that list, its enrollments are known without reading them, and only the students
who came or went are looked up and written (`_section_links_held`).

When the events cannot tell what changed (no cursor yet, a cursor older than Clever's 30-day
window, or one Clever no longer knows), the events run ends with `events_fallback` and a full
sync runs instead; its report opens with a warning that says why.
"""

from __future__ import annotations

import logging
import time
from contextlib import closing
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from homeroom.directory.models import District, GuardianLink
from homeroom.families.services import family_sync
from homeroom.rostering.models import SyncRun
from homeroom.rostering.services import (
    Timings,
    _fail,
    _finish,
    _invitations_send_later,
    district_sync,
    run_body,
    run_start,
    settings_for_reconcile,
    source_for,
)
from homeroom.rostering.sources.base import NOT_FOUND, RosterSource, SourceError
from homeroom.rostering.sources.clever.client import CleverClient
from homeroom.rostering.sources.clever.events import RosterChanges, events_after, roster_changes
from homeroom.rostering.sources.records import SectionRecord
from homeroom.rostering.sync.apply import plan_apply
from homeroom.rostering.sync.partial import (
    ActiveCounts,
    ScopedIdMaps,
    enrolled_students,
    held_rows,
    plan_ids,
    references,
    referred_rows,
)
from homeroom.rostering.sync.reconcile import (
    ENTITIES,
    Current,
    HeldState,
    Plan,
    Roster,
    Settings,
    reconcile,
    section_refs_held,
)
from homeroom.rostering.sync.state import USERS, _adoptable

logger = logging.getLogger(__name__)

# Clever keeps events this long; a cursor taken earlier may have lost the events after it.
EVENT_WINDOW = timedelta(days=30)

ERR_FALLBACK = "events_fallback"
MSG_FALLBACK = "{reason} A full sync was run instead (run {run})."
REASON_NO_CURSOR = (
    "No events position is saved for this district yet (it is taken by a full sync), so the "
    "events could not tell what changed."
)
REASON_EXPIRED = (
    "The district's events position is older than Clever's 30-day events window, so some "
    "changes may no longer be in the events."
)
REASON_GONE = (
    "Clever no longer has the district's last applied event (it is older than Clever's 30-day "
    "events window, or unknown), so some changes may no longer be in the events."
)
REASON_NO_EVENTS_API = "This district's source has no events feed."


class _Fallback(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def district_events_sync(
    *,
    district: District,
    trigger: str = SyncRun.Trigger.MANUAL,
    source: RosterSource | None = None,
    send_invitations: bool = True,
    timings: Timings | None = None,
) -> SyncRun:
    """Apply the district's events since its last sync and return the run's report (kind
    `events`), or the report of the full sync it fell back to. Never raises for a failed sync.

    Refused with `already_running` while another run of the district runs."""
    run = run_start(district=district, kind=SyncRun.Kind.EVENTS, trigger=trigger)
    if run.status != SyncRun.Status.RUNNING:
        return run
    timings = timings if timings is not None else Timings()
    with run_body(run) as opened:
        if source is None:
            source = opened.enter_context(closing(source_for(district)))
        try:
            _events_apply(
                run, district=district, source=source, send=send_invitations, timings=timings
            )
        except _Fallback as fallback:
            return _full_instead(run, district, source, trigger, fallback.reason, send_invitations)
    return run


def _events_apply(
    run: SyncRun, *, district: District, source: RosterSource, send: bool, timings: Timings
) -> None:
    """Read the events after the district's cursor and apply them; `_Fallback` when they
    cannot tell what changed."""
    client = getattr(source, "client", None)
    if not isinstance(client, CleverClient):
        raise _Fallback(REASON_NO_EVENTS_API)
    cursor, cursor_at = events_cursor(district)
    if cursor is None:
        raise _Fallback(REASON_NO_CURSOR)
    if cursor_at is None or cursor_at < timezone.now() - EVENT_WINDOW:
        raise _Fallback(REASON_EXPIRED)
    try:
        with timings.stage("events"):
            changes = roster_changes(events_after(client, cursor))
    except SourceError as exc:
        if exc.code == NOT_FOUND:
            raise _Fallback(REASON_GONE) from None
        raise
    settings = settings_for_reconcile(district.sync)
    with timings.stage("plan"):
        plan, known = _plan(district, changes, settings)
        ids = ScopedIdMaps(district, plan_ids(plan), known)
    now = timezone.now()
    with transaction.atomic():
        with timings.stage("apply"):
            if plan.writes:
                plan_apply(
                    plan,
                    district=district,
                    run_id=run.pk,
                    now=now,
                    remove_departed=settings.remove_departed_guardians,
                    ids=ids,
                )
        with timings.stage("family sync"):
            touched = _contacts_touched(plan, ids)
            family = family_sync(district=district, run_id=run.pk, now=now, contact_ids=touched)
        committing = time.perf_counter()
    timings.stages["commit"] = time.perf_counter() - committing
    if family is not None:
        run.family_counts = family.as_counts()
        if send and family.invitations_created:
            _invitations_send_later(district)
    run.events_cursor = changes.last_event or cursor
    _finish(run, plan=plan)


def events_cursor(district: District) -> tuple[str | None, datetime | None]:
    """Where the district's next events sync starts, and since when that is known: the cursor
    of its latest completed run that has one (None, None: no such run)."""
    found = (
        SyncRun.objects.filter(district=district, status=SyncRun.Status.COMPLETED)
        .exclude(events_cursor=None)
        .order_by("-created_at", "-pk")
        .values_list("events_cursor", "started_at")
        .first()
    )
    return found if found is not None else (None, None)


def _plan(
    district: District, changes: RosterChanges, settings
) -> tuple[Plan, dict[str, dict[str, int]]]:
    """Reconcile the changed records against the rows they touch and what they refer to. Also
    returns the primary keys read on the way, per entity and external id."""
    present = {name: changes.present.get(name, {}) for name in ENTITIES}
    touched: dict[str, set[str]] = {name: set() for name in ENTITIES}
    for record_type, ids in changes.touched.items():
        for name in USERS if record_type == "users" else (record_type,):
            touched[name] |= ids
    roster = Roster(
        **{name: list(present[name].values()) for name in ENTITIES},
        wires={},  # no wire hashes: a changed row is read in full by the next full sync
        wire_version="",
    )
    every_touched = set().union(*touched.values())
    roster_by_entity = {name: records.values() for name, records in present.items()}
    before = changes.sections_before
    # What the records refer to and this batch does not decide: active rows are in the roster.
    # The sections' earlier versions count too (what their rows were written with is checked
    # against them), but for their students: those they still list are among the records'.
    referred = references(roster_by_entity)
    earlier = references({"sections": before.values()}, students=False)
    for name, ids in referred.items():
        ids |= earlier[name]
        ids -= every_touched
    rows = held_rows(district, touched)
    # Local rows to adopt matter only to new students and staff: reading them scans the table.
    new = any(ext not in rows[name] for name in ("students", "staff") for ext in present[name])
    held = HeldState(
        rows=rows,
        adoptable=_adoptable(district) if new else {},
        wire_basis=None,
        active=ActiveCounts(district),
    )
    active, known = referred_rows(district, {k: v for k, v in referred.items() if k != "students"})
    # What was active before the batch: rows read as referred, and the touched rows it holds.
    active_before = {
        name: active.get(name, set()) | {e for e, r in rows[name].items() if not r.archived}
        for name in ENTITIES
    }
    section_links = _section_links_held(
        present["sections"], before, rows["sections"], settings, active_before
    )
    # A student whom a section held and still lists is active (or decided by the batch); of
    # the sections' other students, those they enroll are read through their enrollments (most
    # of an updated section's), the rest by external id.
    listed = referred.pop("students")
    for ext, (_, students) in section_links.items():
        kept = students.intersection(present["sections"][ext].student_ids)
        listed -= kept
        active.setdefault("students", set()).update(kept - every_touched)
    unread = [
        row.pk
        for ext, row in rows["sections"].items()
        if ext in present["sections"] and ext not in section_links
    ]
    enrolled = enrolled_students(unread)
    listed -= enrolled.keys()
    students_active, students_known = referred_rows(district, {"students": listed})
    active["students"] = active.get("students", set()) | students_active["students"]
    active["students"] |= {e for e, (_, live) in enrolled.items() if live} - every_touched
    known["students"] = students_known["students"]
    known["students"].update((ext, pk) for ext, (pk, _) in enrolled.items())
    plan = reconcile(roster, held, settings, outside=active)
    plan.section_links = section_links
    # The basis belongs to the last full sync's whole roster, which this run did not read.
    plan.wire_basis_changed = False
    # A row this run archives keeps its wire hash: the next full sync then knows it left, and
    # reads again the markers of contacts that mention it (see `reconcile`).
    for name, entity in plan.entities.items():
        leaving = {row.pk for ext, row in held.rows[name].items() if ext not in present[name]}
        entity.wires = [(pk, wire) for pk, wire in entity.wires if pk not in leaving]
        known[name].update((ext, row.pk) for ext, row in held.rows[name].items())
    return plan, known


def _section_links_held(
    sections: dict[str, SectionRecord],
    before: dict[str, SectionRecord],
    rows: dict[str, Current],
    settings: Settings,
    active: dict[str, set[str]],
) -> dict[str, tuple[tuple[str, ...], frozenset[str]]]:
    """The teachers and students whose links the touched sections hold, where the events tell:
    a section that Clever says listed these members before the batch, and whose row's hash
    shows it was written with all of them (`section_refs_held`). Reading them instead was a
    third of an events sync of 1,000 changes to the large district: each updated section lists
    its whole class (measured)."""
    pairs = [
        (earlier, rows[ext]) for ext, earlier in before.items() if ext in sections and ext in rows
    ]
    held = section_refs_held(pairs, settings, active)
    return {ext: (refs[2], frozenset(refs[3])) for ext, refs in held.items()}


def _contacts_touched(plan: Plan, ids: ScopedIdMaps) -> set[int]:
    """Guardian contacts whose family sync this plan may change: those it wrote, archived or
    unarchived, and those linked to the students it did."""
    contacts = plan.entities["contacts"]
    found = {ids["contacts"][ext] for ext, _, _ in contacts.creates if ext in ids["contacts"]}
    found.update(pk for pk, *_ in contacts.updates)
    found.update(contacts.archives, contacts.unarchives)
    students = plan.entities["students"]
    student_ids = {ids["students"][ext] for ext, _, _ in students.creates if ext in ids["students"]}
    student_ids.update(pk for pk, *_ in students.updates)
    student_ids.update(students.archives, students.unarchives)
    ordered = sorted(student_ids)
    for start in range(0, len(ordered), 500):
        links = GuardianLink.objects.filter(student_id__in=ordered[start : start + 500])
        found.update(links.values_list("contact_id", flat=True))
    return found


def _full_instead(
    run: SyncRun,
    district: District,
    source: RosterSource,
    trigger: str,
    reason: str,
    send_invitations: bool,
) -> SyncRun:
    """End the events run and run a full sync in its place; its report says why."""
    _fail(run, ERR_FALLBACK, reason)
    logger.info("events sync run %s of district %s: full sync instead", run.pk, district.pk)
    full = district_sync(
        district=district, trigger=trigger, source=source, send_invitations=send_invitations
    )
    run.error_message = MSG_FALLBACK.format(reason=reason, run=full.pk)
    run.save(update_fields=["error_message"])
    if full.status == SyncRun.Status.COMPLETED:
        warning = {"entity": "events", "external_id": "", "reason": reason}
        full.warnings = [warning, *full.warnings][: SyncRun.MAX_WARNINGS]
        full.warning_count += 1
        # First, though it is counted once: it is what the admin asked about.
        first = {"entity": "events", "reason": reason, "count": 1}
        full.warning_summary = [first, *full.warning_summary]
        full.save(update_fields=["warnings", "warning_count", "warning_summary"])
    return full
