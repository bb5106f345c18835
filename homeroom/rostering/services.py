"""Rostering services: adding a district, changing its sync settings, and running a sync.

`district_sync` is the one function the command line, the dashboard and the Celery tasks call: it
fetches the roster, reconciles it, applies the plan in one transaction and always leaves a SyncRun
that ends `completed` or `failed` with a code and a message a district IT admin can act on.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from homeroom.directory.models import AuditEvent, District
from homeroom.families.services import family_sync
from homeroom.rostering.models import CONTACT_TYPES, RELATIONSHIPS, SyncRun, SyncSettings
from homeroom.rostering.secrets import TokenUnreadable, token_decrypt, token_encrypt
from homeroom.rostering.sources.base import RosterSource, SourceError
from homeroom.rostering.sources.clever.client import CleverClient
from homeroom.rostering.sources.clever.events import events_newest_or_none
from homeroom.rostering.sources.clever.source import CleverSource
from homeroom.rostering.sources.records import (
    ContactRecord,
    StaffRecord,
    StudentRecord,
    Unchanged,
)
from homeroom.rostering.sync.apply import plan_apply
from homeroom.rostering.sync.reconcile import Plan, Roster, Settings, reconcile
from homeroom.rostering.sync.state import KnownWires, held_state

logger = logging.getLogger(__name__)

ERR_INTERNAL = "internal_error"
MSG_INTERNAL = (
    "Homeroom failed while syncing (run {run}); nothing was changed. The error is in the server "
    "log; if it happens again, report it with the run number."
)
ERR_TOKEN = "token_unreadable"
ERR_NO_SCHOOLS = "school_not_found"
MSG_NO_SCHOOLS = (
    "None of the schools selected in the district's sync settings is in the roster Clever shares "
    "with Homeroom ({missing}). Check the sharing rules in Clever or the selected schools."
)
ERR_BUSY = "already_running"
MSG_BUSY = "Another sync of this district is running (run {run}); wait for it to finish."
ERR_INTERRUPTED = "interrupted"
MSG_INTERRUPTED = (
    "This run stopped before it finished (the process ended); nothing it was writing was kept."
)

# (stage, done, total or None): "fetch:<collection>", "reconcile", "apply".
Progress = Callable[[str, int, int | None], None]


# -- districts ---------------------------------------------------------------------------------
def district_add(
    *, name: str, source_url: str, token: str, api_version: str = "v3.0", external_id: str = ""
) -> District:
    base = slugify(name)[:70] or "district"
    slug, n = base, 1
    while District.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    with transaction.atomic():
        district = District.objects.create(
            name=name,
            slug=slug,
            source_url=source_url.rstrip("/"),
            api_version=api_version,
            external_id=external_id,
            token_encrypted=token_encrypt(token),
        )
        SyncSettings.objects.create(district=district)
    return district


def district_settings_update(
    *, district: District, changes: dict[str, Any], user=None
) -> SyncSettings:
    """Change sync settings (audited); raise ValueError naming the setting when a value is
    invalid, and change nothing then."""
    settings = district.sync
    changes = dict(changes)
    token = changes.pop("token", None)
    _check_settings(changes)
    for name, value in changes.items():
        setattr(settings, name, value)
    settings.updated_at = timezone.now()
    try:
        settings.full_clean(exclude=["district"])
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise ValueError(problems) from None
    with transaction.atomic():
        settings.save()
        if token:
            district.token_encrypted = token_encrypt(token)
            district.save(update_fields=["token_encrypted"])
        AuditEvent.objects.create(
            district=district,
            user=user,
            action="sync_settings_update",
            summary="Changed sync settings: "
            + ", ".join(sorted([*changes, *(["token"] if token else [])])),
            # The new values, except the token, which is never written anywhere in clear.
            detail={
                "changes": {k: _jsonable(v) for k, v in changes.items()},
                "token_replaced": bool(token),
            },
        )
    return settings


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


SETTINGS_NOT_EDITABLE = {"id", "district", "updated_at", "last_dispatched_at", "last_polled_at"}
CHOICE_LISTS = {"contact_types": CONTACT_TYPES, "relationships": RELATIONSHIPS}


def _check_settings(changes: dict[str, Any]) -> None:
    """Refuse, naming the setting, what `full_clean` does not check: names and list values."""
    editable = {f.name for f in SyncSettings._meta.fields} - SETTINGS_NOT_EDITABLE
    unknown = sorted(set(changes) - editable)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    for name, choices in CHOICE_LISTS.items():
        if name in changes:
            value = changes[name]
            if not isinstance(value, list) or not all(v in choices for v in value):
                raise ValueError(f"{name}: each value must be one of {', '.join(choices)}")
    for name in ("school_ids", "family_sync_school_ids"):
        value = changes.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{name}: a list of the schools' Clever ids")
    if changes.get("invitation_expiry_days", 1) < 1:
        raise ValueError("invitation_expiry_days: at least 1 day")


def settings_for_reconcile(settings: SyncSettings) -> Settings:
    return Settings(
        all_schools=settings.all_schools,
        school_ids=frozenset(settings.school_ids),
        sync_classrooms=settings.sync_classrooms,
        unique_class_names=settings.unique_class_names,
        unarchive_classrooms=settings.unarchive_classrooms,
        student_id=settings.student_id,
        archive_students=settings.archived_students == SyncSettings.ArchivedStudents.ARCHIVE,
        manage_guardians=settings.manage_guardians,
        contact_types=frozenset(settings.contact_types),
        relationships=frozenset(settings.relationships),
        sms_phone_type=settings.sms_phone_type,
        update_active_contacts=settings.update_active_contacts,
        remove_departed_guardians=settings.remove_departed_guardians,
        deletion_threshold_percent=settings.deletion_threshold_percent,
    )


def source_for(district: District, *, on_progress=None) -> RosterSource:
    client = CleverClient(
        district.source_url, token_decrypt(district.token_encrypted), version=district.api_version
    )
    return CleverSource(client, on_progress=on_progress)


# -- runs ----------------------------------------------------------------------------------------
@dataclass
class Timings:
    """Seconds per stage of a run, for the benchmarks. A full sync's: "fetch" (with reading what
    Homeroom holds, which happens meanwhile), "reconcile", "apply", "family sync", "commit"; an
    events sync's: "events" (read and folded), "plan", "apply", "family sync", "commit"."""

    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = time.perf_counter() - started


def roster_fetch(source: RosterSource, *, known: Callable[[], KnownWires] = dict) -> Roster:
    """Read the whole roster; users arrive in one pass and are sorted by kind. `known` gives the
    wire hashes of users the source need not decode (it may wait for them: the source calls it
    once the first page of users has arrived)."""
    students: list[StudentRecord | Unchanged] = []
    staff: list[StaffRecord | Unchanged] = []
    contacts: list[ContactRecord | Unchanged] = []
    kinds: dict[Any, list] = {StudentRecord: students, StaffRecord: staff, ContactRecord: contacts}
    entities = {"students": students, "staff": staff, "contacts": contacts}
    wires: dict[str, int] = {}
    schools = list(source.schools())
    terms = list(source.terms())
    courses = list(source.courses())
    sections = list(source.sections())
    for page in source.users_with_wire(known):
        for wire, user in page:
            if type(user) is Unchanged:
                entities[user.entity].append(user)
                continue
            kinds[type(user)].append(user)
            if wire is not None:
                wires.setdefault(user.external_id, wire)  # the first of a user listed twice
    return Roster(
        schools=schools,
        terms=terms,
        courses=courses,
        sections=sections,
        staff=staff,
        students=students,
        contacts=contacts,
        wires=wires,
        wire_version=source.wire_version,
    )


def district_sync(
    *,
    district: District,
    trigger: str = SyncRun.Trigger.MANUAL,
    dry_run: bool = False,
    force: bool = False,
    source: RosterSource | None = None,
    progress: Progress | None = None,
    timings: Timings | None = None,
    send_invitations: bool = True,
) -> SyncRun:
    """Run one sync of one district and return its report. Never raises for a failed sync.

    With family sync on, the invitations it issues are handed to a background job once the run
    commits, unless `send_invitations` is false (the command line sends them itself)."""
    run = run_start(
        district=district,
        kind=SyncRun.Kind.DRY_RUN if dry_run else SyncRun.Kind.FULL,
        trigger=trigger,
        force=force,
    )
    if run.status != SyncRun.Status.RUNNING:
        return run
    timings = timings if timings is not None else Timings()
    report = _lease_renewing(run, progress or (lambda stage, done, total: None))
    with run_body(run) as opened:
        with timings.stage("fetch"):
            if source is None:
                fetched = source_for(
                    district, on_progress=lambda c, n: report(f"fetch:{c}", n, None)
                )
                source = opened.enter_context(closing(fetched))
            # Clever's newest event before the roster is read: the events after it are what
            # this run may not have seen, so an events sync starts there (replaying one it saw
            # is a no-op).
            run.events_cursor = None if dry_run else events_newest_or_none(source)
            # The roster arrives on a worker thread (mostly waiting for the source) while this
            # thread reads what Homeroom holds: the database stays on this thread's connection.
            # The users' wire hashes are read first and handed over before the users are fetched.
            wires: Future[KnownWires] = Future()
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="roster-fetch") as pool:
                fetching = pool.submit(roster_fetch, source, known=wires.result)
                try:
                    held = held_state(district, on_wires=wires.set_result)
                finally:
                    if not wires.done():
                        wires.set_result({})  # the fetch must not wait for what never comes
                roster = fetching.result()

        with timings.stage("reconcile"):
            report("reconcile", 0, None)
            settings = settings_for_reconcile(district.sync)
            _check_selected_schools(settings, roster)
            plan = reconcile(roster, held, settings, force=force)
            del roster  # the plan holds what apply needs; let the records go

        now = timezone.now()
        with transaction.atomic():
            with timings.stage("apply"):
                if not dry_run and plan.writes:
                    report("apply", 0, plan.writes)
                    plan_apply(
                        plan,
                        district=district,
                        run_id=run.pk,
                        now=now,
                        remove_departed=settings.remove_departed_guardians,
                        on_progress=lambda done: report("apply", done, plan.writes),
                    )
                    report("apply", plan.writes, plan.writes)
            # A self-check writes no roster rows, so family sync would count against the old
            # roster: it is left out of the report rather than reported wrong.
            with timings.stage("family sync"):
                family = (
                    None
                    if dry_run
                    else family_sync(
                        district=district, run_id=run.pk, now=now, bulk=plan.writes > BULK_WRITES
                    )
                )
            if family is None:
                del timings.stages["family sync"]  # off, or a self-check: not a stage of this run
            committing = time.perf_counter()
        # PostgreSQL checks the written rows' foreign keys here (Django's are deferred).
        timings.stages["commit"] = time.perf_counter() - committing
        if family is not None:
            run.family_counts = family.as_counts()
            if send_invitations and family.invitations_created:
                _invitations_send_later(district)
        _finish(run, plan=plan)
    return run


@contextmanager
def run_body(run: SyncRun) -> Iterator[ExitStack]:
    """Where a started run does its work. An exception ends the run failed (`run_fail_for`) and
    is not raised; what is entered on the yielded stack (a source the run opened) is closed.

    The cyclic garbage collector is off meanwhile: a run builds hundreds of thousands of objects
    that live until it ends and hold no cycles, which the collector would rescan again and again
    as they pile up (it made decoding a large district 13x slower, and cost an events sync of
    1,000 changes 0.2 s, measured)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with ExitStack() as opened:
            yield opened
    except Exception as exc:
        run_fail_for(run, exc)
    finally:
        if gc_was_enabled:
            gc.enable()


def run_fail_for(run: SyncRun, exc: Exception) -> None:
    """End a run failed because of `exc`: with the source's code and message, or as an
    internal error, logged for the operator."""
    if isinstance(exc, SourceError | _RunRefused):
        _fail(run, exc.code, exc.message)
    elif isinstance(exc, TokenUnreadable):
        _fail(run, ERR_TOKEN, str(exc))
    else:
        # For the operator: the exception's type and where it happened. Not its message: a
        # database error can quote the row it failed on, and rows are children's data.
        logger.error(
            "%s run %s of district %s failed: %s\n%s",
            run.kind,
            run.pk,
            run.district_id,
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        _fail(run, ERR_INTERNAL, MSG_INTERNAL.format(run=run.pk))


def _invitations_send_later(district: District) -> None:
    from homeroom.families.tasks import invitations_send_task

    transaction.on_commit(lambda: invitations_send_task.delay(district.pk))


class _RunRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message


def _check_selected_schools(settings: Settings, roster: Roster) -> None:
    if settings.all_schools:
        return
    present = {s.external_id for s in roster.schools}
    if not settings.school_ids & present:
        missing = ", ".join(sorted(settings.school_ids)) or "no school selected"
        raise _RunRefused(ERR_NO_SCHOOLS, MSG_NO_SCHOOLS.format(missing=missing))


def _finish(run: SyncRun, *, plan: Plan) -> None:
    run.status = SyncRun.Status.COMPLETED
    run.counts = plan.counts()
    run.warnings = plan.warnings[: SyncRun.MAX_WARNINGS]
    run.warning_count = len(plan.warnings)
    # Every warning counted by reason, before the list is cut to MAX_WARNINGS: what an admin
    # reads first ("7,864 contacts: neither an e-mail address nor a phone number").
    by_reason = Counter((w["entity"], w["reason"]) for w in plan.warnings)
    run.warning_summary = [
        {"entity": entity, "reason": reason, "count": count}
        for (entity, reason), count in by_reason.most_common()
    ]
    run.finished_at = timezone.now()
    run.save()


def _fail(run: SyncRun, code: str, message: str) -> None:
    run.status = SyncRun.Status.FAILED
    run.error_code = code
    run.error_message = message
    run.finished_at = timezone.now()
    run.save()


# How long a running run holds the district without a sign of life. It is renewed at each
# stage and progress report; the longest silent stretch is one apply (about 12 s for 100,000
# students on SQLite, measured), far inside it.
LEASE = timedelta(minutes=15)
LEASE_RENEW_EVERY = 30.0  # seconds
BULK_WRITES = 10_000  # a run that writes more refreshes PostgreSQL's statistics before family sync


def run_start(*, district: District, kind: str, trigger: str, force: bool = False) -> SyncRun:
    """Start a run of the district: `running`, holding the district's one running slot, or, if
    another run holds it, `failed` with `already_running` at once.

    The slot is a unique index on the district's running runs, so two requests at the same
    moment cannot both start, whichever process or machine they come from. Runs whose worker
    died are failed first (see `runs_interrupted_mark`)."""
    runs_interrupted_mark(district=district)
    now = timezone.now()
    fields = dict(
        district=district, trigger=trigger, kind=kind, forced=force, worker=_worker_name()
    )
    try:
        with transaction.atomic():
            return SyncRun.objects.create(
                **fields,
                status=SyncRun.Status.RUNNING,
                started_at=now,
                lease_expires_at=now + LEASE,
            )
    except IntegrityError:
        busy = SyncRun.objects.filter(district=district, status=SyncRun.Status.RUNNING).first()
        return SyncRun.objects.create(
            **fields,
            status=SyncRun.Status.FAILED,
            started_at=now,
            finished_at=now,
            error_code=ERR_BUSY,
            error_message=MSG_BUSY.format(run=busy.pk if busy else "?"),
        )


def _lease_renewing(run: SyncRun, report: Progress) -> Progress:
    """Wrap a progress callback so that the run's lease is renewed as it reports."""
    renewed = time.monotonic()

    def renewing(stage: str, done: int, total: int | None) -> None:
        nonlocal renewed
        if time.monotonic() - renewed > LEASE_RENEW_EVERY:
            renewed = time.monotonic()
            run_lease_renew(run=run)
        report(stage, done, total)

    return renewing


def run_lease_renew(*, run: SyncRun) -> None:
    run.lease_expires_at = timezone.now() + LEASE
    SyncRun.objects.filter(pk=run.pk).update(lease_expires_at=run.lease_expires_at)


def runs_interrupted_mark(*, district: District) -> int:
    """Mark as failed the runs left `running` by a worker that died: a process of this machine
    that no longer exists, or any run whose lease ran out. Their writes were rolled back with
    their transaction: the data is as the last finished run left it."""
    now = timezone.now()
    dead = [
        run.pk
        for run in SyncRun.objects.filter(district=district, status=SyncRun.Status.RUNNING)
        if not _worker_alive(run.worker)
        or (run.lease_expires_at is not None and run.lease_expires_at < now)
    ]
    return SyncRun.objects.filter(pk__in=dead).update(
        status=SyncRun.Status.FAILED,
        error_code=ERR_INTERRUPTED,
        error_message=MSG_INTERRUPTED,
        finished_at=timezone.now(),
    )


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _worker_alive(worker: str) -> bool:
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's run: its lease judges it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """A killed process that nobody has reaped yet (in a container whose first process does
    not reap orphans, a dead worker stays a zombie): it exists, but it is dead."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def run_report(run: SyncRun) -> dict[str, Any]:
    """The SyncRun as `homeroom sync --json` prints it."""
    return {
        "run": run.pk,
        "district": run.district.slug,
        "kind": run.kind,
        "trigger": run.trigger,
        "status": run.status,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "counts": run.counts,
        "family_counts": run.family_counts,
        "warning_count": run.warning_count,
        "warning_summary": run.warning_summary,
        "warnings": run.warnings,
        "error_code": run.error_code,
        "error_message": run.error_message,
        "events_cursor": run.events_cursor,
    }
