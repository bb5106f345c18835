"""What Homeroom holds of a district, compactly, for reconcile: one query per entity."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection

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
    Synced,
    Term,
)
from homeroom.rostering.sync.contacts import email_normalize
from homeroom.rostering.sync.reconcile import CLAIMED_MIX, Current, HeldState

MODELS: dict[str, type[Synced]] = {
    "schools": School,
    "terms": Term,
    "courses": Course,
    "sections": Section,
    "staff": Staff,
    "students": Student,
    "contacts": GuardianContact,
}
CLAIMABLE = ("staff", "contacts")
# Entities whose records a source may yield as `Unchanged` markers; read first (see `held_state`).
USERS = ("students", "contacts", "staff")
# Every table a sync writes, parents before children (the benchmark re-inserts them in this order,
# tests check that a no-change run writes none of them).
SYNCED_TABLES = tuple(
    model._meta.db_table
    for model in (
        School,
        Term,
        Course,
        Section,
        Staff,
        Staff.schools.through,
        Student,
        Enrollment,
        SectionTeacher,
        GuardianContact,
        GuardianLink,
    )
)


# The wire hashes of the rows a source need not decode again: hash -> (entity, external id).
KnownWires = dict[int, tuple[str, str]]


def held_state(
    district: District, *, on_wires: Callable[[KnownWires], None] | None = None
) -> HeldState:
    """What the district holds. `on_wires` hears the users' known wire hashes as soon as they are
    read, before the rest: a sync's fetch waits for them before it reads the users."""
    rows: dict[str, dict[str, Current]] = {}
    for name in (*USERS, *(name for name in MODELS if name not in USERS)):
        sql = held_select(name) + " AND external_id <> ''"
        with connection.cursor() as cursor:
            cursor.execute(sql, [district.pk])
            rows[name] = {row[0]: Current._make(row[1:]) for row in cursor.fetchall()}
        if name == USERS[-1] and on_wires is not None:
            on_wires(known_wires(rows))
    # From the database, not the district object: another process may have synced since it was read.
    basis = District.objects.filter(pk=district.pk).values_list("wire_basis", flat=True).first()
    return HeldState(rows=rows, adoptable=_adoptable(district), wire_basis=basis)


def held_select(name: str) -> str:
    """SELECT of an entity's rows as `Current` tuples (after the external id), of the district
    given as the first parameter; callers add conditions."""
    claimed, wire = "FALSE", "wire_hash"
    if name in CLAIMABLE:
        # XOR, written so that SQLite and PostgreSQL both have it: (a | b) - (a & b).
        mixed = f"(wire_hash | {CLAIMED_MIX}) - (wire_hash & {CLAIMED_MIX})"
        claimed = "claimed_at IS NOT NULL"
        wire = f"CASE WHEN claimed_at IS NULL THEN wire_hash ELSE {mixed} END"
    # Plain SQL: the ORM's per-value converters cost 1.5 s over a large district (measured),
    # and these values need none.
    return (
        f"SELECT external_id, id, sync_hash, archived_at IS NOT NULL, sync_managed, {claimed}, "
        f"{wire} FROM {MODELS[name]._meta.db_table} WHERE district_id = %s"
    )


def known_wires(rows: dict[str, dict[str, Current]]) -> KnownWires:
    """The wire hashes of active managed users' rows (an archived row is reconciled, to be
    unarchived)."""
    return {
        row.wire_hash: (name, ext)
        for name in USERS
        for ext, row in rows[name].items()
        if row.wire_hash is not None and row.managed and not row.archived
    }


def _adoptable(district: District) -> dict[str, dict[tuple[str, str], int]]:
    """Active local rows a roster record may take over: students by SIS id, student number or
    e-mail; staff by e-mail. A key shared by two local rows is ambiguous and not used."""
    found: dict[str, dict[tuple[str, str], int]] = {"students": {}, "staff": {}}
    ambiguous: set[tuple[str, tuple[str, str]]] = set()

    def add(entity: str, key: tuple[str, str], pk: int) -> None:
        if not key[1]:
            return
        if key in found[entity]:
            ambiguous.add((entity, key))
        found[entity][key] = pk

    local = {"district": district, "external_id": "", "archived_at": None}
    for pk, sis_id, number, email in Student.objects.filter(**local).values_list(
        "id", "sis_id", "student_number", "email"
    ):
        add("students", ("sis_id", sis_id), pk)
        add("students", ("student_number", number), pk)
        add("students", ("email", email_normalize(email)), pk)
    for pk, email in Staff.objects.filter(**local).values_list("id", "email"):
        add("staff", ("email", email_normalize(email)), pk)
    for entity, key in ambiguous:
        found[entity].pop(key, None)
    return found
