"""What Homeroom holds of the rows a few changed records touch, for an events sync.

A full sync reads every row of the district (`state.held_state`); an events sync reads only the
rows its records name, by external id, `CHUNK` at a time, and which of the rows those records
refer to are active. Its cost follows the number of changes, not the size of the district.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any

from django.db import connection

from homeroom.directory.models import District
from homeroom.rostering.sources.records import (
    ContactRecord,
    SectionRecord,
    StaffRecord,
    StudentRecord,
)
from homeroom.rostering.sync.apply import CHUNK
from homeroom.rostering.sync.reconcile import Current, Plan
from homeroom.rostering.sync.state import MODELS, held_select

# Rows by external ids. Written as the unique index's own condition, `NOT (external_id = '')`:
# SQLite uses a partial index only for a query that states its condition (with `<> ''`, or
# none, it walks every row of the district for each chunk).
BY_EXTERNAL_IDS = " AND NOT (external_id = '') AND external_id IN ({marks})"


def _chunks(ids: Collection[str]) -> Iterator[tuple[str, list[str]]]:
    """`IN (…)` placeholders and values, `CHUNK` ids at a time."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        yield ", ".join(["%s"] * len(chunk)), chunk


def _rows(sql: str, district: District, ids: Collection[str]) -> Iterator[tuple]:
    """Rows of `sql` (which ends in `BY_EXTERNAL_IDS`) for the ids, chunk by chunk."""
    with connection.cursor() as cursor:
        for marks, chunk in _chunks(ids):
            cursor.execute(sql.format(marks=marks), [district.pk, *chunk])
            yield from cursor.fetchall()


def held_rows(district: District, ids: dict[str, Collection[str]]) -> dict[str, dict[str, Current]]:
    """What the district holds of these external ids, per entity (every entity has a key)."""
    rows: dict[str, dict[str, Current]] = {name: {} for name in MODELS}
    for name, wanted in ids.items():
        sql = held_select(name) + BY_EXTERNAL_IDS
        rows[name] = {row[0]: Current._make(row[1:]) for row in _rows(sql, district, wanted)}
    return rows


def active_ids(district: District, ids: dict[str, Collection[str]]) -> dict[str, set[str]]:
    """Those of these external ids whose rows are active (not archived), per entity."""
    found: dict[str, set[str]] = {}
    for name, wanted in ids.items():
        table = MODELS[name]._meta.db_table
        sql = f"SELECT external_id FROM {table} WHERE district_id = %s AND archived_at IS NULL"
        sql += BY_EXTERNAL_IDS
        found[name] = {row[0] for row in _rows(sql, district, wanted)}
    return found


def references(records: dict[str, Iterable[Any]]) -> dict[str, set[str]]:
    """The external ids records refer to, per entity referred to."""
    refs: dict[str, set[str]] = {name: set() for name in MODELS}
    for record in (r for group in records.values() for r in group):
        if isinstance(record, SectionRecord):
            refs["schools"].add(record.school_id)
            refs["terms"].update(filter(None, [record.term_id]))
            refs["courses"].update(filter(None, [record.course_id]))
            refs["staff"].update(record.teacher_ids)
            refs["students"].update(record.student_ids)
        elif isinstance(record, StudentRecord | StaffRecord):
            refs["schools"].update(record.school_ids)
        elif isinstance(record, ContactRecord):
            refs["students"].update(rel.student_id for rel in record.relationships)
    return refs


class ActiveCounts(dict):
    """Active managed rows per entity of the district, counted when first asked for (for the
    deletion threshold, `HeldState.active`)."""

    def __init__(self, district: District) -> None:
        super().__init__()
        self.district = district

    def __missing__(self, name: str) -> int:
        query = MODELS[name].objects.filter(district=self.district, sync_managed=True)
        self[name] = query.filter(archived_at=None).count()
        return self[name]


# Values keys naming rows of another entity (see `apply`): key -> entity.
_VALUE_REFS = {"school": "schools", "term": "terms", "course": "courses"}
_LINK_REFS = {"_students": "students", "_teachers": "staff", "_schools": "schools"}


def plan_ids(plan: Plan) -> dict[str, set[str]]:
    """The external ids `plan_apply` looks up for this plan, per entity: the rows it writes
    and those their values and links refer to."""
    wanted: dict[str, set[str]] = {name: set() for name in MODELS}
    for name, changes in plan.entities.items():
        changed = [(ext, v) for ext, _, v in changes.creates]
        changed += [(ext, v) for _, ext, _, v in changes.updates]
        for ext, values in changed:
            wanted[name].add(ext)
            for key, entity in _VALUE_REFS.items():
                if values.get(key):
                    wanted[entity].add(values[key])
            for key, entity in _LINK_REFS.items():
                wanted[entity].update(values.get(key, ()))
            wanted["students"].update(student for student, _, _ in values.get("_links", ()))
    return wanted


class ScopedIdMaps(dict):
    """external id -> primary key per entity, like `apply`'s maps, but of the wanted ids only
    (read again after apply pops an entity whose rows it created)."""

    def __init__(self, district: District, wanted: dict[str, set[str]]) -> None:
        super().__init__()
        self.district = district
        self.wanted = wanted

    def __missing__(self, name: str) -> dict[str, int]:
        table = MODELS[name]._meta.db_table
        sql = f"SELECT external_id, id FROM {table} WHERE district_id = %s" + BY_EXTERNAL_IDS
        self[name] = dict(_rows(sql, self.district, self.wanted.get(name, ())))
        return self[name]
