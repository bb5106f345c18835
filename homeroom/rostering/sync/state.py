"""What Homeroom holds of a district, compactly, for reconcile: one query per entity."""

from __future__ import annotations

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
from homeroom.rostering.sync.reconcile import Current, HeldState

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


def held_state(district: District) -> HeldState:
    rows: dict[str, dict[str, Current]] = {}
    for name, model in MODELS.items():
        claimed = "claimed_at IS NOT NULL" if name in CLAIMABLE else "FALSE"
        # Plain SQL: the ORM's per-value converters cost 1.5 s over a large district (measured),
        # and these five values need none.
        sql = (
            f"SELECT external_id, id, sync_hash, archived_at IS NOT NULL, sync_managed, {claimed} "
            f"FROM {model._meta.db_table} WHERE district_id = %s AND external_id <> ''"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [district.pk])
            rows[name] = {row[0]: Current._make(row[1:]) for row in cursor.fetchall()}
    return HeldState(rows=rows, adoptable=_adoptable(district))


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
