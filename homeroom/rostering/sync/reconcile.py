"""Reconcile: the roster's records + the district's settings + what Homeroom holds → a plan.

Pure: no database, no I/O. Each record is first hashed as it came (with the settings that shape
its row); when the hash equals the stored one the record is unchanged and costs nothing more, so
a re-sync that changes nothing writes nothing. Only changed or new records are turned into row
values (names, normalised e-mails and phones, the student id the district chose, …).

Cheaper still, a user whose wire bytes hash to the `wire_hash` a row holds is not even decoded
(the source yields an `Unchanged` marker). That is only sound while the row cannot differ from
what the record would make of it now, so a row holds a wire hash only when the last completed run
*confirmed* it: the record was in scope, raised no warning, and everything it refers to was
confirmed too. A run trusts the markers only if it has the same *basis* as that run (the source's
format and code, every sync setting, the roster's schools: `wire_basis`), and reads a marker after
all when it mentions a record that was confirmed then and is not now (a student who left, for a
contact). Every row that a run does not confirm loses its wire hash.

Bad records become warnings with a reason, never exceptions: a contact with neither e-mail nor
phone, a section whose school is not in the roster, a duplicate id, a link to a student that was
not shared. Archiving is guarded: a plan that would archive more than the district's threshold of
students, staff or sections archives nothing and says why, unless forced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any, NamedTuple, Protocol

import msgspec
import xxhash

from homeroom.rostering.sources.records import (
    DISTRICT_ADMIN,
    STAFF,
    TEACHER,
    ContactRecord,
    CourseRecord,
    SchoolRecord,
    SectionRecord,
    StaffRecord,
    StudentRecord,
    TermRecord,
    Unchanged,
)
from homeroom.rostering.sync.contacts import email_normalize, phone_e164

# The order entities are applied in: every entity's references point to earlier ones.
ENTITIES = ("schools", "terms", "courses", "sections", "staff", "students", "contacts")
# Entities whose mass archiving the deletion threshold guards (seed 004 and the issue).
GUARDED = ("students", "staff", "sections")

WARN_DUPLICATE = "duplicate id in the roster; the first record with this id was used"
WARN_NO_SCHOOL = "its school is not in the roster (or not shared with Homeroom)"
WARN_NO_REACH = "guardian contact has neither an e-mail address nor a phone number"
WARN_NO_STUDENT = "linked to a student who is not in the roster (or not shared)"
WARN_SECTION_MEMBER = "lists a member who is not in the roster (or not shared): {count} left out"
WARN_THRESHOLD = (
    "Nothing was archived: this run would have archived {count} of {total} {entity} ({percent:.0f} "
    "%), more than the district's deletion threshold of {threshold} %. Check what is shared with "
    "Homeroom in Clever; if the change is intended, run the sync again with --force."
)


@dataclass(frozen=True)
class Settings:
    """The sync settings reconcile needs, as plain values (built from `SyncSettings`)."""

    all_schools: bool = True
    school_ids: frozenset[str] = frozenset()
    sync_classrooms: bool = True
    unique_class_names: bool = False
    unarchive_classrooms: bool = True
    student_id: str = "sis_id"  # or "student_number"
    archive_students: bool = True
    manage_guardians: bool = True
    contact_types: frozenset[str] = frozenset(
        {"Parent/Guardian", "Primary", "Secondary", "Family", "Emergency", "Other"}
    )
    relationships: frozenset[str] = frozenset(
        {"Parent", "Grandparent", "Aunt/Uncle", "Sibling", "Self", "Other"}
    )
    sms_phone_type: str = "Cell"
    update_active_contacts: bool = False
    remove_departed_guardians: bool = False
    deletion_threshold_percent: int = 10


class Current(NamedTuple):
    """What Homeroom holds of one row, compactly: enough to decide without loading the row.

    A NamedTuple, built straight from the database's row tuples with `_make`: a dataclass per
    row cost 0.2-0.3 s per 100,000 rows of the held state (measured).
    """

    pk: int
    sync_hash: int | None
    archived: bool
    managed: bool
    claimed: bool = False
    wire_hash: int | None = None  # as confirmed, unmixed (see CLAIMED_MIX); None: not confirmed


@dataclass
class HeldState:
    """Everything reconcile needs to know about the database, per entity."""

    rows: dict[str, dict[str, Current]]  # entity -> external id -> row
    # Local rows (no external id) that a roster record may adopt: entity -> key -> pk.
    # Keys are ("sis_id", value), ("student_number", value), ("email", normalised value).
    adoptable: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)
    wire_basis: int | None = None  # the basis of the last completed run (`wire_basis`)
    # Active managed rows per guarded entity, when `rows` holds only some of the district's (an
    # events sync); asked only about an entity the plan archives, so it may count lazily.
    active: ActiveRows | None = None


class ActiveRows(Protocol):
    """How many active managed rows an entity has, for the deletion threshold."""

    def at_least(self, name: str, count: int) -> bool:
        """Whether there are `count` or more (cheaper to tell than how many)."""

    def __getitem__(self, name: str) -> int:
        """How many."""


@dataclass
class Changes:
    """The plan for one entity."""

    creates: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    updates: list[tuple[int, str, int, dict[str, Any]]] = field(default_factory=list)
    archives: list[int] = field(default_factory=list)
    unarchives: list[int] = field(default_factory=list)
    # (pk, stored wire hash or None) of rows whose wire hash alone changes: the record's bytes
    # changed and its row did not, or the row is no longer confirmed.
    wires: list[tuple[int, int | None]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class Plan:
    entities: dict[str, Changes]
    warnings: list[dict[str, str]]
    archiving_blocked: bool = False
    wire_basis: int | None = None  # this run's; stored with its writes when it changed
    wire_basis_changed: bool = False
    # Sections whose link rows are known without reading them: external id -> (teachers,
    # students) it holds, as external ids (an events sync learns them from `previous_attributes`,
    # see `section_refs_held`). Apply then writes the difference from these.
    section_links: dict[str, tuple[tuple[str, ...], frozenset[str]]] = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        actions = ("created", "updated", "unchanged", "archived", "unarchived", "skipped")
        return {
            name: {action: changes.counts[action] for action in actions}
            for name, changes in self.entities.items()
        }

    @property
    def writes(self) -> int:
        return self.wire_basis_changed + sum(
            len(c.creates) + len(c.updates) + len(c.archives) + len(c.unarchives) + len(c.wires)
            for c in self.entities.values()
        )


@dataclass
class Roster:
    """A district's records, as one run fetched them. Users may be `Unchanged` markers."""

    schools: list[SchoolRecord]
    terms: list[TermRecord]
    courses: list[CourseRecord]
    sections: list[SectionRecord]
    staff: list[StaffRecord | Unchanged]
    students: list[StudentRecord | Unchanged]
    contacts: list[ContactRecord | Unchanged]
    wires: dict[str, int] = field(default_factory=dict)  # external id -> wire hash of a record
    wire_version: str = ""  # the source's (see `wire_basis`)


_encode = msgspec.json.Encoder().encode


def record_hash(*parts: Any) -> int:
    """A stable 64-bit hash (unlike `hash()`, the same in every process), signed to fit a
    database BIGINT. xxh3 over the msgspec encoding, where orjson on a dataclass took 7-12 µs
    a record (measured)."""
    digest = xxhash.xxh3_64_intdigest(_encode(parts))
    return digest - (1 << 64) if digest >= 1 << 63 else digest


def wire_basis(roster: Roster, settings: Settings) -> int:
    """What a row's wire hash is confirmed under, besides the record's bytes and what it refers
    to: the source's format and code, every sync setting (some shape rows, others decide what is
    in scope), and the roster's schools (which students and staff refer to, and which scope)."""
    values = [getattr(settings, f.name) for f in fields(settings)]
    values = [sorted(v) if isinstance(v, frozenset) else v for v in values]
    return record_hash(roster.wire_version, values, sorted(s.external_id for s in roster.schools))


# A claimed row stores its wire hash mixed with this (XOR; `state` unmixes it while the row is
# claimed): a row claimed or released since its hash was confirmed then matches no record and is
# reconciled again, since claiming changes what sync writes of it.
CLAIMED_MIX = 0x2545F4914F6CDD1D


def _stored_wire(wire: int | None, row: Current | None) -> int | None:
    return wire ^ CLAIMED_MIX if wire is not None and row is not None and row.claimed else wire


# -- per entity: references (cheap, every run) and row values (only when something changed) ----
# `refs` resolves what a record points to against what is known this run. Its result is part of
# the hash, so a row is rewritten when a record it points to appears or goes, and it is where the
# per-run warnings about references are raised. `values` builds the row from the record and refs.


class Skip(Exception):
    def __init__(self, reason: str | None) -> None:
        self.reason = reason  # None: left out by the settings, not worth a warning


def _no_refs(r: Any, ctx: _Context) -> tuple:
    return ()


def _section_refs(r: SectionRecord, ctx: _Context) -> tuple:
    if r.school_id not in ctx.known["schools"]:
        raise Skip(WARN_NO_SCHOOL)
    teachers = _known(r.teacher_ids, ctx.known["staff"])
    students = _known(r.student_ids, ctx.known["students"])
    missing = len(r.teacher_ids) + len(r.student_ids) - len(teachers) - len(students)
    if missing:
        ctx.warn("sections", r.external_id, WARN_SECTION_MEMBER.format(count=missing))
    term = r.term_id if r.term_id in ctx.known["terms"] else None
    course = r.course_id if r.course_id in ctx.known["courses"] else None
    return (term, course, teachers, students)


def _known(ids: tuple[str, ...], known: set[str]) -> tuple[str, ...]:
    """The ids that are known, in their order: the tuple itself when every one is, as in nearly
    every section (a test in C, not a loop over 34,000 ids in Python per events sync)."""
    return ids if known.issuperset(ids) else tuple(i for i in ids if i in known)


def section_refs_held(
    sections: Iterable[tuple[SectionRecord, Current]],
    settings: Settings,
    known: dict[str, set[str]],
) -> dict[str, tuple]:
    """Of these sections' rows, by external id, the refs (term, course, teachers, students) that
    each was written with, where it was written from its record with every member known and the
    rest known as `known` says: checked against the row's hash, so a wrong guess is left out,
    never given wrong refs. Since a row's links are written from its refs, they then hold
    exactly these teachers and students."""
    fingerprint = _fingerprint(settings, "sections")
    ctx = _Context(settings, dict(known), warnings=[], roster_schools=set())
    held = {}
    for record, row in sections:
        if not row.managed or row.archived:
            continue
        ctx.known["staff"], ctx.known["students"] = set(record.teacher_ids), set(record.student_ids)
        try:
            refs = _section_refs(record, ctx)
        except Skip:
            continue
        if row.sync_hash == _row_hash(fingerprint, False, record, refs):
            held[record.external_id] = refs
    return held


def _staff_refs(r: StaffRecord, ctx: _Context) -> tuple:
    schools = tuple(s for s in r.school_ids if s in ctx.known["schools"])
    if not schools and DISTRICT_ADMIN not in r.roles:
        # Schools that are in the roster but outside the district's scope: not synced, no
        # warning. Schools the roster does not have at all: a sharing problem worth a warning.
        missing = not any(s in ctx.roster_schools for s in r.school_ids)
        raise Skip(WARN_NO_SCHOOL if r.school_ids and missing else None)
    return schools


def _student_refs(r: StudentRecord, ctx: _Context) -> tuple:
    known = ctx.known["schools"]
    if r.school_id in known:  # the usual case, first
        return (r.school_id,)
    for school in r.school_ids:
        if school in known:
            return (school,)
    raise Skip(WARN_NO_SCHOOL)


def _contact_refs(r: ContactRecord, ctx: _Context) -> tuple:
    s = ctx.settings
    links = []
    for rel in r.relationships:
        # An empty relationship or type counts as "Other": many SIS leave them blank.
        if (rel.contact_type or "Other") not in s.contact_types:
            continue
        if (rel.relationship or "Other") not in s.relationships:
            continue
        if rel.student_id not in ctx.known["students"]:
            ctx.warn("contacts", r.external_id, WARN_NO_STUDENT)
            continue
        links.append((rel.student_id, rel.relationship, rel.contact_type))
    if not links:
        raise Skip(None)
    return tuple(links) if len(links) == 1 else tuple(sorted(set(links)))


def _school_values(r: SchoolRecord, refs: tuple, ctx: _Context) -> dict[str, Any]:
    return {
        "name": r.name,
        "sis_id": r.sis_id,
        "school_number": r.school_number,
        "state_id": r.state_id,
        "nces_id": r.nces_id,
        "low_grade": r.low_grade,
        "high_grade": r.high_grade,
        "phone": r.phone,
        "principal_name": r.principal_name,
        "principal_email": r.principal_email,
    }


def _term_values(r: TermRecord, refs: tuple, ctx: _Context) -> dict[str, Any]:
    return {"name": r.name, "start_date": r.start_date, "end_date": r.end_date}


def _course_values(r: CourseRecord, refs: tuple, ctx: _Context) -> dict[str, Any]:
    return {"name": r.name, "number": r.number}


def _section_values(r: SectionRecord, refs: tuple, ctx: _Context) -> dict[str, Any]:
    term, course, teachers, students = refs
    name = r.name
    if ctx.settings.unique_class_names:
        name = f"{r.name} - {r.sis_id or r.external_id}"  # seed 003: "Classroom1 - 12345"
    return {
        "school": r.school_id,
        "term": term,
        "course": course,
        "name": name,
        "sis_id": r.sis_id,
        "grade": r.grade,
        "period": r.period,
        "section_number": r.section_number,
        "subject": r.subject,
        "_teachers": teachers,
        "_students": students,
    }


def _staff_values(r: StaffRecord, refs: tuple, ctx: _Context) -> dict[str, Any]:
    return {
        "first_name": r.first_name,
        "last_name": r.last_name,
        "email": email_normalize(r.email),
        "is_teacher": TEACHER in r.roles,
        "is_staff": STAFF in r.roles,
        "is_district_admin": DISTRICT_ADMIN in r.roles,
        "sis_id": r.sis_id,
        "teacher_number": r.teacher_number,
        "title": r.title,
        "_schools": refs,
    }


def _student_values(r: StudentRecord, refs: tuple, ctx: _Context) -> dict[str, Any]:
    return {
        "school": refs[0],
        "first_name": r.first_name,
        "middle_name": r.middle_name,
        "last_name": r.last_name,
        "email": email_normalize(r.email),
        "student_id": r.sis_id if ctx.settings.student_id == "sis_id" else r.student_number,
        "sis_id": r.sis_id,
        "student_number": r.student_number,
        "state_id": r.state_id,
        "grade": r.grade,
        "dob": r.dob,
        "gender": r.gender,
        "graduation_year": r.graduation_year,
    }


def _contact_values(r: ContactRecord, refs: tuple, ctx: _Context) -> dict[str, Any]:
    email = email_normalize(r.email)
    phone = phone_e164(r.phone)
    if not email and not phone:
        raise Skip(WARN_NO_REACH)
    sms_type = ctx.settings.sms_phone_type
    # Seed 004: only the chosen phone type is the SMS number; a Home number never is.
    sms_phone = phone if r.phone_type == sms_type and sms_type != "Home" else ""
    return {
        "first_name": r.first_name,
        "last_name": r.last_name,
        "email": email,
        "phone": r.phone,
        "phone_type": r.phone_type,
        "sms_phone": sms_phone,
        "home_phone": phone if r.phone_type == "Home" else "",
        "sis_id": r.sis_id,
        "_links": refs,
    }


REFS: dict[str, Callable[[Any, _Context], tuple]] = {
    "schools": _no_refs,
    "terms": _no_refs,
    "courses": _no_refs,
    "sections": _section_refs,
    "staff": _staff_refs,
    "students": _student_refs,
    "contacts": _contact_refs,
}
VALUES: dict[str, Callable[[Any, tuple, _Context], dict[str, Any]]] = {
    "schools": _school_values,
    "terms": _term_values,
    "courses": _course_values,
    "sections": _section_values,
    "staff": _staff_values,
    "students": _student_values,
    "contacts": _contact_values,
}
# Contact details that a claimed account keeps unless "update contact details of active users".
CONTACT_DETAILS = {
    "staff": ("email",),
    "contacts": ("email", "phone", "phone_type", "sms_phone", "home_phone"),
}
# Users an entity's row refers to, by the entity and the ids in its refs. A row is confirmed only
# when they all are, so a marker that mentions none that stopped being confirmed is sound.
REFERENCES: dict[str, tuple[str, Callable[[Any], Iterable[str]]]] = {
    "contacts": ("students", lambda links: (student for student, _, _ in links)),
}


@dataclass
class _Context:
    settings: Settings
    known: dict[str, set[str]]  # external ids that rows may refer to, per entity
    warnings: list[dict[str, str]]
    roster_schools: set[str]  # every school of the roster, in scope or not
    wires: dict[str, int] = field(default_factory=dict)  # wire hashes of the decoded records
    # Per entity reconciled so far: the external ids met, and those of them not confirmed.
    seen: dict[str, set[str]] = field(default_factory=dict)
    unconfirmed: dict[str, set[str]] = field(default_factory=dict)

    def warn(self, entity: str, external_id: str, reason: str) -> None:
        self.warnings.append({"entity": entity, "external_id": external_id, "reason": reason})


def _in_scope(roster: Roster, settings: Settings) -> dict[str, list]:
    """The records this district syncs: its scope and its classroom and guardian settings."""
    classrooms = settings.sync_classrooms
    schools, sections, students = roster.schools, roster.sections, roster.students
    if not settings.all_schools:
        chosen = settings.school_ids
        schools = [s for s in schools if s.external_id in chosen]
        sections = [s for s in sections if s.school_id in chosen]
        # A marker is trusted only under the basis (scope included) that confirmed it in scope.
        students = [
            s
            for s in students
            if type(s) is Unchanged or s.school_id in chosen or not chosen.isdisjoint(s.school_ids)
        ]
    return {
        "schools": schools,
        "terms": roster.terms if classrooms else [],
        "courses": roster.courses if classrooms else [],
        "sections": sections if classrooms else [],
        "staff": roster.staff,
        "students": students,
        "contacts": roster.contacts if settings.manage_guardians else [],
    }


def _settings_fingerprint(settings: Settings, entity: str) -> tuple:
    """The settings that shape an entity's rows: changing one of them re-writes those rows."""
    s = settings
    return {
        "sections": (s.unique_class_names, sorted(s.school_ids), s.all_schools),
        "students": (s.student_id, sorted(s.school_ids), s.all_schools),
        "staff": (sorted(s.school_ids), s.all_schools, s.update_active_contacts),
        "contacts": (
            sorted(s.contact_types),
            sorted(s.relationships),
            s.sms_phone_type,
            s.update_active_contacts,
        ),
    }.get(entity, ())


def _fingerprint(settings: Settings, entity: str) -> int:
    return record_hash(_settings_fingerprint(settings, entity))


def _row_hash(fingerprint: int, claimed: bool, record: Any, refs: tuple) -> int:
    """A row's `sync_hash`: its record and refs under the settings that shape it. A row whose
    hash is the same needs no write (`section_refs_held` also checks guesses against it)."""
    return record_hash(fingerprint, claimed, record, refs)


def reconcile(
    roster: Roster,
    held: HeldState,
    settings: Settings,
    *,
    force: bool = False,
    outside: dict[str, set[str]] | None = None,
) -> Plan:
    """Compare the roster with what Homeroom holds and decide every write.

    `outside`: external ids per entity that records may refer to besides the roster's own, for a
    roster that holds only some records (an events sync's changes)."""
    basis = wire_basis(roster, settings)
    if basis != held.wire_basis:
        roster = _read_unchanged(roster)
    records = _in_scope(roster, settings)
    warnings: list[dict[str, str]] = []
    # A record may only point at what this run's roster holds in scope: a row that is leaving
    # (out of scope, or gone from the roster) is archived by this run, not linked to.
    known = {name: {r.external_id for r in records[name]} for name in ENTITIES}
    for name, ids in (outside or {}).items():
        known[name] |= ids
    ctx = _Context(
        settings=settings,
        known=known,
        warnings=warnings,
        roster_schools={s.external_id for s in roster.schools} | known["schools"],
        wires=roster.wires,
    )
    plan = Plan(
        entities={},
        warnings=warnings,
        wire_basis=basis,
        wire_basis_changed=basis != held.wire_basis,
    )
    for name in ENTITIES:
        plan.entities[name] = _reconcile_entity(name, records[name], held, ctx)
    _guard_archiving(plan, held, settings, force=force)
    return plan


def _read_unchanged(roster: Roster) -> Roster:
    """The roster with every `Unchanged` marker read into its record (the basis changed)."""
    names = ("staff", "students", "contacts")
    if not any(type(item) is Unchanged for name in names for item in getattr(roster, name)):
        return roster
    wires = dict(roster.wires)

    def read(items: list) -> list:
        out = []
        for item in items:
            if type(item) is Unchanged:
                record = item.record()
                if isinstance(record, str):
                    continue  # the source would have skipped it: it reads the same bytes
                wires.setdefault(record.external_id, item.wire)
                item = record
            out.append(item)
        return out

    users = {name: read(getattr(roster, name)) for name in names}
    return replace(roster, **users, wires=wires)


def _reconcile_entity(name: str, records: Iterable, held: HeldState, ctx: _Context) -> Changes:
    settings = ctx.settings
    changes = Changes()
    counts = changes.counts
    current = held.rows[name]
    adoptable = held.adoptable.get(name, {})
    fingerprint = _fingerprint(settings, name)  # once, not per record
    keep_details = not settings.update_active_contacts and name in CONTACT_DETAILS
    to_refs, to_values = REFS[name], VALUES[name]
    wires = ctx.wires
    seen: set[str] = ctx.seen.setdefault(name, set())
    unconfirmed: set[str] = ctx.unconfirmed.setdefault(name, set())
    warnings = ctx.warnings
    # Refs name only records known this run, and every known record has been seen by then: one
    # is confirmed unless it is among the unconfirmed.
    referenced, referred = REFERENCES.get(name, ("", tuple))
    unconfirmed_refs = ctx.unconfirmed.get(referenced)
    mentions = _mentions_unconfirmed(name, records, held, ctx)
    untouched = 0  # markers trusted: unchanged without being read
    for item in records:
        ext = item.external_id
        if ext in seen:
            ctx.warn(name, ext, WARN_DUPLICATE)
            counts["skipped"] += 1
            continue
        row = current.get(ext)
        if type(item) is Unchanged:
            # `state` lists only the active, managed rows' hashes; the row check is for a roster
            # that was read against another state.
            if row is not None and row.wire_hash == item.wire and not mentions(item.raw):
                seen.add(ext)
                untouched += 1
                continue
            wire: int | None = item.wire
            record = item.record()
            if isinstance(record, str):
                counts["skipped"] += 1
                continue
        else:
            record = item
            wire = wires.get(ext)
        warned = len(warnings)
        try:
            refs = to_refs(record, ctx)
        except Skip as skip:
            if skip.reason:
                seen.add(ext)  # a bad record: its row, if any, is kept as it was
                unconfirmed.add(ext)
                _set_wire(changes, row, None)
                ctx.warn(name, ext, skip.reason)
                counts["skipped"] += 1
            # else: outside what the settings sync, so absent: its row is archived as missing
            continue
        seen.add(ext)
        if len(warnings) > warned or (
            unconfirmed_refs and not unconfirmed_refs.isdisjoint(referred(refs))
        ):
            wire = None
        if wire is None:
            unconfirmed.add(ext)
        claimed = keep_details and row is not None and bool(row.claimed)
        digest = _row_hash(fingerprint, claimed, record, refs)
        if row is not None and row.sync_hash == digest and row.managed:
            if row.archived and _may_unarchive(name, settings):
                changes.unarchives.append(row.pk)
                counts["unarchived"] += 1
            else:
                counts["unchanged"] += 1
            _set_wire(changes, row, wire)
            continue
        try:
            values = to_values(record, refs, ctx)
        except Skip as skip:
            if skip.reason:
                ctx.warn(name, ext, skip.reason)
                counts["skipped"] += 1
            unconfirmed.add(ext)
            _set_wire(changes, row, None)
            continue
        if claimed:
            for detail in CONTACT_DETAILS[name]:
                values.pop(detail, None)
        values["wire_hash"] = wire if row is None else _stored_wire(wire, row)
        if row is None:
            pk = _adopt(name, record, values, adoptable)
            if pk is None:
                changes.creates.append((ext, digest, values))
                counts["created"] += 1
                continue
            row = Current(pk=pk, sync_hash=None, archived=False, managed=False)
        changes.updates.append((row.pk, ext, digest, values))
        counts["updated"] += 1
        if row.archived and _may_unarchive(name, settings):
            changes.unarchives.append(row.pk)
            counts["unarchived"] += 1
    counts["unchanged"] += untouched
    archive = _archives_missing(name, settings)
    for ext, row in current.items():
        if ext not in seen:
            if archive and row.managed and not row.archived:
                changes.archives.append(row.pk)
            _set_wire(changes, row, None)
    counts["archived"] = len(changes.archives)
    return changes


def _set_wire(changes: Changes, row: Current | None, wire: int | None) -> None:
    """Store `wire` as the row's wire hash, when it holds another."""
    if row is not None and row.wire_hash != wire:
        changes.wires.append((row.pk, _stored_wire(wire, row)))


def _never(raw: Any) -> bool:
    return False


def _always(raw: Any) -> bool:
    return True


def _mentions_unconfirmed(
    name: str, records: Iterable, held: HeldState, ctx: _Context
) -> Callable[[Any], bool]:
    """A test for markers of `name`: do their bytes mention a row that the last completed run
    confirmed (it holds a wire hash) and this one does not (it left, or warned)? Their rows
    may then change, so they are read."""
    if name not in REFERENCES:
        return _never
    entity = REFERENCES[name][0]
    seen, unconfirmed = ctx.seen[entity], ctx.unconfirmed[entity]
    gone = {
        ext
        for ext, row in held.rows[entity].items()
        if row.wire_hash is not None and (ext not in seen or ext in unconfirmed)
    }
    marker = next((r for r in records if type(r) is Unchanged), None) if gone else None
    if marker is None:
        return _never
    return marker.reader.matcher(gone) or _always


def _adopt(name: str, record: Any, values: dict[str, Any], adoptable: dict) -> int | None:
    """A local row this record should take over instead of creating a duplicate, if any."""
    if not adoptable:
        return None
    keys: list[tuple[str, str]] = []
    if name == "students":
        keys = [("sis_id", record.sis_id), ("student_number", record.student_number)]
    if name in ("students", "staff"):
        keys.append(("email", values.get("email", "")))
    for key in keys:
        if key[1] and key in adoptable:
            return adoptable.pop(key)
    return None


def _may_unarchive(name: str, settings: Settings) -> bool:
    return name != "sections" or settings.unarchive_classrooms


def _archives_missing(name: str, settings: Settings) -> bool:
    if name == "students":
        return settings.archive_students
    if name == "contacts":
        return settings.manage_guardians and settings.remove_departed_guardians
    if name in ("sections", "terms", "courses"):
        return settings.sync_classrooms
    return True


def _guard_archiving(plan: Plan, held: HeldState, settings: Settings, *, force: bool) -> None:
    threshold = settings.deletion_threshold_percent
    for name in GUARDED:
        changes = plan.entities[name]
        count = len(changes.archives)
        if not count or force:
            continue
        if held.active is not None:
            # Within the threshold if there are enough rows: counting them all was 0.02 s of an
            # events sync that archives a few of 100,000 students (measured).
            if threshold and held.active.at_least(name, -(-count * 100 // threshold)):
                continue
            active = held.active[name]
        else:
            active = sum(1 for r in held.rows[name].values() if r.managed and not r.archived)
        if count * 100 <= threshold * active:
            continue
        plan.archiving_blocked = True
        percent = count * 100 / active
        plan.warnings.insert(
            0,
            {
                "entity": name,
                "external_id": "",
                "reason": WARN_THRESHOLD.format(
                    count=count, total=active, entity=name, percent=percent, threshold=threshold
                ),
            },
        )
    if plan.archiving_blocked:
        for changes in plan.entities.values():
            changes.archives.clear()
            changes.counts["archived"] = 0
