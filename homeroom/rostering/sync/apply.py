"""Apply: write a plan with bulk statements, inside the caller's transaction.

Plain `executemany` over columns taken from the models, grouped so that each statement is
prepared once: the same work a hand-written bulk load does, which is what the sync benchmark
compares it with. Link rows (enrollments, section teachers, staff schools, guardian links) of a
changed row are rewritten from the roster; those of an unchanged row are not touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, TypeVar

from django.db import connection

from homeroom.directory.models import (
    District,
    Enrollment,
    GuardianLink,
    SectionTeacher,
    Staff,
)
from homeroom.rostering.sync.reconcile import ENTITIES, Plan
from homeroom.rostering.sync.state import MODELS

# Values keys that name another entity's row by external id: key -> (column, entity).
FOREIGN_KEYS = {
    "school": ("school_id", "schools"),
    "term": ("term_id", "terms"),
    "course": ("course_id", "courses"),
}
CHUNK = 500  # ids per `IN (…)`: well under SQLite's 32,766 bound parameters
T = TypeVar("T")


def plan_apply(
    plan: Plan,
    *,
    district: District,
    run_id: int,
    now: datetime,
    remove_departed: bool,
    on_progress: Callable[[int], None] | None = None,
    ids: dict[str, dict[str, int]] | None = None,
) -> None:
    """Write every row and link the plan decides. Call inside `transaction.atomic()`.

    `on_progress` hears the number of planned writes done, after each entity. `ids` maps
    external ids to primary keys per entity, read as needed (default: every row's)."""
    ids = _IdMaps(district) if ids is None else ids
    done = 0
    for name in ENTITIES:
        changes = plan.entities[name]
        model = MODELS[name]
        _insert_rows(model, changes.creates, district=district, run_id=run_id, now=now, ids=ids)
        _update_rows(model, changes.updates, run_id=run_id, now=now, ids=ids)
        _set_archived(model, changes.archives, now, run_id=run_id, now=now)
        _set_archived(model, changes.unarchives, None, run_id=run_id, now=now)
        if changes.wires:
            # Not the row's content: neither `changed_by_run` nor `updated_at` moves.
            _update_by_pk(model, ("wire_hash",), [(wire, pk) for pk, wire in changes.wires])
        if changes.creates or changes.updates:
            ids.pop(name, None)  # new rows, or adopted ones: read the map again when needed
        done += len(changes.creates) + len(changes.updates) + len(changes.wires)
        done += len(changes.archives) + len(changes.unarchives)
        if on_progress:
            on_progress(done)
    _write_links(plan, ids, remove_departed=remove_departed)
    if plan.wire_basis_changed:
        District.objects.filter(pk=district.pk).update(wire_basis=plan.wire_basis)
        district.wire_basis = plan.wire_basis


class _IdMaps(dict):
    """external id -> primary key per entity, read from the database the first time it is used."""

    def __init__(self, district: District) -> None:
        super().__init__()
        self.district = district

    def __missing__(self, name: str) -> dict[str, int]:
        # Plain SQL, stating the unique index's condition (see `partial.BY_EXTERNAL_IDS`): the
        # ORM's rows cost 0.1 s of a large district's first sync (measured).
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT external_id, id FROM {_table(MODELS[name])} "
                "WHERE district_id = %s AND NOT (external_id = '')",
                [self.district.pk],
            )
            self[name] = dict(cursor.fetchall())
        return self[name]


def _rows_by_columns(
    items: Iterable[tuple[dict[str, Any], list[Any], list[Any]]],
    ids: dict[str, dict[str, int]],
) -> dict[tuple[str, ...], list[list[Any]]]:
    """Group rows by the columns they set: (values, leading params, trailing params) each.

    Rows of one entity almost always share one set of keys, so the column list is worked out
    once per group; plain values are taken with one `itemgetter` call and only foreign keys are
    looked up one by one (walking every column of every row was 2.0 s of a large district's
    first sync, measured).
    """
    groups: dict[tuple[str, ...], list[list[Any]]] = defaultdict(list)
    plans: dict[tuple[str, ...], tuple] = {}
    for values, lead, trail in items:
        keys = tuple(values)
        plan = plans.get(keys)
        if plan is None:
            plain = [k for k in keys if k[0] != "_" and k not in FOREIGN_KEYS]
            refs = [k for k in keys if k in FOREIGN_KEYS]
            columns = tuple(plain) + tuple(FOREIGN_KEYS[k][0] for k in refs)
            # itemgetter returns a bare value, not a tuple, for one key (and wants at least one)
            if len(plain) > 1:
                getter = itemgetter(*plain)
            else:
                getter = lambda v, plain=tuple(plain): tuple(v[k] for k in plain)  # noqa: E731
            plan = plans[keys] = (columns, getter, [(k, ids[FOREIGN_KEYS[k][1]]) for k in refs])
        columns, getter, refs = plan
        row = [*lead, *getter(values)]
        for key, id_map in refs:
            value = values[key]
            row.append(None if value is None else id_map.get(value))
        row += trail
        groups[columns].append(row)
    return groups


def _insert_rows(model, creates, *, district, run_id, now, ids) -> None:
    if not creates:
        return
    common = ("district_id", "external_id", "sync_hash", "sync_managed", "changed_by_run_id")
    common += ("created_at", "updated_at")
    stamp = datetime_adapt(now)
    district_id = district.pk
    groups = _rows_by_columns(
        (
            (values, [district_id, ext, digest, True, run_id, stamp, stamp], [])
            for ext, digest, values in creates
        ),
        ids,
    )
    for value_columns, rows in groups.items():
        columns = common + value_columns
        # Columns sync does not own get their model defaults (raw SQL skips Django's).
        defaults = _defaults(model, columns)
        if defaults:
            columns += tuple(defaults)
            extra = list(defaults.values())
            rows = [row + extra for row in rows]
        rows_insert(model, columns, rows)


def _defaults(model, provided: tuple[str, ...]) -> dict[str, Any]:
    return {
        field.column: field.get_default()
        for field in model._meta.concrete_fields
        if not field.primary_key and field.column not in provided
    }


def _update_rows(model, updates, *, run_id, now, ids) -> None:
    """Update rows, setting only the columns whose values changed (besides the hash, the run and
    the time, which always move).

    A column in an UPDATE's SET list rewrites its indexes' entries on SQLite even when its value
    is the same: a section whose class list changed, setting every column, rewrote its school's,
    term's, course's and external id's index entries too, most of the pages an events sync wrote
    (measured). On PostgreSQL every value sent costs its binding: setting every column of 1,148
    sections took 0.27 s, against 0.09 s for the changed ones (measured). Reading the rows first
    costs less than either."""
    if not updates:
        return
    always = ("sync_hash", "changed_by_run_id", "updated_at")
    stamp = datetime_adapt(now)
    groups = _rows_by_columns(
        ((values, [digest, run_id, stamp, ext, True], [pk]) for pk, ext, digest, values in updates),
        ids,
    )
    for value_columns, rows in groups.items():
        columns = ("external_id", "sync_managed", *value_columns)  # those that may be unchanged
        lead = len(always)
        for chunk in _chunked(rows):
            held = _values_by_pk(model, columns, [row[-1] for row in chunk])
            by_changed: dict[tuple[str, ...], list[list[Any]]] = defaultdict(list)
            for row in chunk:
                old = held.get(row[-1])
                new = row[lead:-1]
                changed = tuple(i for i, value in enumerate(new) if old is None or old[i] != value)
                by_changed[changed].append([*row[:lead], *(new[i] for i in changed), row[-1]])
            for changed, changed_rows in by_changed.items():
                _update_by_pk(model, always + tuple(columns[i] for i in changed), changed_rows)


def _update_by_pk(model, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Set these columns of rows by primary key: each row is the columns' values, then its pk.

    SQLite runs one prepared statement for every row (executemany: a loop in C). PostgreSQL
    gets a statement per chunk that joins the columns' values as arrays: Django's psycopg
    cursors bind values client-side, so a statement per row is parsed and planned once per row
    (1,148 sections took 0.1 s that way), and a VALUES list of 500 rows of 16 columns takes
    2.5 times as long to bind as 16 arrays (measured)."""
    if not rows:
        return
    table = _table(model)
    if connection.vendor != "postgresql":
        assignments = ", ".join(f"{c} = %s" for c in columns)
        _executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", rows)
        return
    assignments = ", ".join(f"{c} = v.{c}" for c in columns)
    _execute_arrays(
        f"UPDATE {table} AS t SET {assignments} FROM {_unnest(model, [*columns, 'id'])} "
        f"AS v({', '.join(columns)}, id) WHERE t.id = v.id",
        rows,
    )


def _unnest(model, columns: Sequence[str]) -> str:
    """PostgreSQL: `unnest(%s::type[], …)`, a table of these columns' values passed as one array
    each (`_execute_arrays`); typed, or a column of NULLs would be text."""
    fields = {f.column: f for f in model._meta.concrete_fields}
    types = [fields[c].cast_db_type(connection) for c in columns]
    return f"unnest({', '.join(f'%s::{t}[]' for t in types)})"


def _execute_arrays(sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL: a statement on `_unnest` per chunk of rows, given their columns as arrays."""
    for chunk in _chunked(rows):
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(column) for column in zip(*chunk, strict=True)])


def _values_by_pk(model, columns: Sequence[str], pks: list[int]) -> dict[int, tuple]:
    """The stored values of these columns, per primary key, as the driver returns them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, {', '.join(columns)} FROM {_table(model)} "
            f"WHERE id IN ({', '.join(['%s'] * len(pks))})",
            pks,
        )
        return {pk: tuple(values) for pk, *values in cursor.fetchall()}


def _set_archived(model, pks: list[int], archived_at, *, run_id: int, now: datetime) -> None:
    archived, stamp = datetime_adapt(archived_at), datetime_adapt(now)
    for chunk in _chunked(pks):
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_table(model)} SET archived_at = %s, changed_by_run_id = %s, "
                f"updated_at = %s WHERE id IN ({', '.join(['%s'] * len(chunk))})",
                [archived, run_id, stamp, *chunk],
            )


def datetime_adapt(moment: datetime | None) -> Any:
    """A timestamp as the database driver wants it, worked out once for a whole statement
    (adapting the same datetime per row cost 1.5 s over a large district, measured)."""
    return None if moment is None else connection.ops.adapt_datetimefield_value(moment)


def _write_links(plan: Plan, ids: dict[str, dict[str, int]], *, remove_departed: bool) -> None:
    sections = plan.entities["sections"]
    changed = _changed(sections.creates, sections.updates)
    if changed:
        _write_section_links(plan, changed, ids)

    staff = plan.entities["staff"]
    changed = _changed(staff.creates, staff.updates)
    if changed:
        through = Staff.schools.through
        _delete_where(through, "staff_id", [pk for pk, *_ in staff.updates])
        school_ids, staff_ids = ids["schools"], ids["staff"]
        rows = [(staff_ids[ext], school_ids[s]) for ext, v in changed for s in v["_schools"]]
        rows_insert(through, ("staff_id", "school_id"), rows)

    contacts = plan.entities["contacts"]
    if remove_departed:
        # Clever is the source of truth: the links of a contact who left the roster go (and an
        # updated contact's links the roster no longer lists, below).
        _delete_where(GuardianLink, "contact_id", contacts.archives)
    changed = _changed(contacts.creates, contacts.updates)
    if changed:
        contact_ids, student_ids = ids["contacts"], ids["students"]
        rows = [
            (contact_ids[ext], student_ids[student], relationship, kind)
            for ext, values in changed
            for student, relationship, kind in values["_links"]
        ]
        columns = ("contact_id", "student_id", "relationship", "contact_type")
        # An updated contact keeps the links the roster no longer lists unless the district
        # says otherwise; most of its links are as they were (a phone changed, say).
        updated = [pk for pk, *_ in contacts.updates]
        _links_set(GuardianLink, columns, updated, rows, key=2, remove=remove_departed)


def _write_section_links(
    plan: Plan, changed: list[tuple[str, dict[str, Any]]], ids: dict[str, dict[str, int]]
) -> None:
    """Enrollments and teachers of the changed sections. Those of a section whose links are
    known (`Plan.section_links`) are written as the difference from them; the others', as the
    difference from what the database holds."""
    section_ids, staff_ids, student_ids = ids["sections"], ids["staff"], ids["students"]
    known = plan.section_links
    enrollments, teachers, added, gone = [], [], [], []
    read_enrollments, read_teachers = set(), set()  # sections whose links are read
    for ext, values in changed:
        section = section_ids[ext]
        held = known.get(ext)
        if held is None:
            enrollments += [(section, student_ids[s]) for s in values["_students"]]
            read_enrollments.add(section)
        else:
            students = values["_students"]
            added += [(section, student_ids[s]) for s in students if s not in held[1]]
            gone += [(section, student_ids.get(s)) for s in held[1].difference(students)]
        if held is None or held[0] != values["_teachers"]:
            teachers += [(section, staff_ids[t], n == 0) for n, t in enumerate(values["_teachers"])]
            read_teachers.add(section)
    gone = [pair for pair in gone if pair[1] is not None]  # a row deleted by hand since
    _delete_pairs(Enrollment, ("section_id", "student_id"), gone)
    # A student merged into another keeps the other's enrollments (`student_merge`): one that
    # is already there is not an error.
    _insert_values(
        Enrollment,
        ("section_id", "student_id"),
        list(dict.fromkeys(added)),
        "ON CONFLICT (section_id, student_id) DO NOTHING",
    )
    updated = {pk for pk, *_ in plan.entities["sections"].updates}
    _links_set(Enrollment, ("section_id", "student_id"), updated & read_enrollments, enrollments)
    columns = ("section_id", "staff_id", "is_primary")
    _links_set(SectionTeacher, columns, updated & read_teachers, teachers)


def _links_set(
    model,
    columns: tuple[str, ...],
    updated: Collection[int],
    rows: list[tuple],
    *,
    key: int | None = None,
    remove: bool = True,
) -> None:
    """Make the link rows of the changed owners `rows` (each starts with its owner's pk, the
    `columns[0]`); `updated` are the owners that may already hold some. A link is identified by
    its first `key` columns (all by default): a held one with other values in the rest is
    corrected; one not in `rows` is deleted (unless not `remove`).

    Only the difference is written: a section whose roll changes by one student keeps its other
    30 enrollments, where rewriting them all was most of an events sync's time (0.8 of 2.4 s for
    1,000 changes to the large district, measured)."""
    key = key or len(columns)
    wanted = {row[:key]: row for row in rows}  # ordered; a link listed twice is written once
    stale: list[int] = []
    corrected: list[tuple] = []
    table, owner = _table(model), columns[0]
    with connection.cursor() as cursor:
        for chunk in _chunked(sorted(updated)):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT id, {', '.join(columns)} FROM {table} WHERE {owner} IN ({marks})", chunk
            )
            for pk, *values in cursor.fetchall():
                row = wanted.pop(tuple(values[:key]), None)
                if row is None:
                    if remove:
                        stale.append(pk)
                elif tuple(row[key:]) != tuple(values[key:]):
                    corrected.append((*row[key:], pk))
    _delete_where(model, "id", stale)
    _update_by_pk(model, columns[key:], corrected)
    rows_insert(model, columns, list(wanted.values()))


def _changed(creates, updates) -> list[tuple[str, dict[str, Any]]]:
    return [(ext, values) for ext, _, values in creates] + [
        (ext, values) for _, ext, _, values in updates
    ]


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def rows_insert(model, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert new rows: COPY on PostgreSQL, executemany elsewhere.

    COPY streams rows without a statement each: a large district's first sync took 86 s with
    executemany on PostgreSQL and 36 s with COPY (measured). SQLite has no
    COPY, and its executemany is already a tight loop in C.
    """
    if not rows:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            statement = f"COPY {_table(model)} ({', '.join(columns)}) FROM STDIN"
            with cursor.cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        return
    marks = ", ".join(["%s"] * len(columns))
    _executemany(f"INSERT INTO {_table(model)} ({', '.join(columns)}) VALUES ({marks})", rows)


def statistics_refresh(models, *, always: bool = False, stale_share: float = 0.2) -> None:
    """PostgreSQL plans joins from table statistics, which a bulk load leaves stale until
    autovacuum's next pass: a first family sync planned on them took 240 s instead of 3 s
    (measured). Refresh the statistics of the tables that changed by more than `stale_share`
    since they were last analyzed, or of all of them (`always`: rows written by the current
    transaction are not counted yet). SQLite needs nothing."""
    if connection.vendor != "postgresql":
        return
    names = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        if not always:
            cursor.execute(
                "SELECT relname, n_live_tup, n_mod_since_analyze FROM pg_stat_user_tables "
                "WHERE relname = ANY(%s)",
                [names],
            )
            names = [n for n, live, mods in cursor.fetchall() if mods > stale_share * max(live, 1)]
        if names:
            # A tenth of the default sample (3,000 rows a table) is plenty to choose joins, and
            # costs a tenth: ANALYZE of the large district's tables took 1.3 s at the default.
            cursor.execute("SET LOCAL default_statistics_target = 10")
        for name in names:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(name)}")


def _delete_where(model, column: str, pks: list[int]) -> None:
    for chunk in _chunked(pks):
        marks = ", ".join(["%s"] * len(chunk))
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {_table(model)} WHERE {column} IN ({marks})", chunk)


def _insert_values(model, columns: Sequence[str], rows: list[Sequence[Any]], conflict: str) -> None:
    """INSERT rows with an ON CONFLICT clause, a statement per chunk, where executemany's
    statement per row cost PostgreSQL a parse and plan per row (711 guardian links: 40 ms,
    measured): the columns as arrays there (see `_update_by_pk`), a VALUES list elsewhere."""
    insert = f"INSERT INTO {_table(model)} ({', '.join(columns)})"
    if connection.vendor == "postgresql":
        _execute_arrays(f"{insert} SELECT * FROM {_unnest(model, columns)} {conflict}", rows)
        return
    marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for chunk in _chunked(rows):
        _execute(f"{insert} VALUES {', '.join([marks] * len(chunk))} {conflict}", chunk)


def _delete_pairs(model, columns: tuple[str, str], pairs: list[Sequence[Any]]) -> None:
    """Delete the rows with these pairs of values in `columns`, which an index leads with."""
    table, (first, second) = _table(model), columns
    if connection.vendor != "postgresql":  # SQLite scans the table for `IN (VALUES …)`
        _executemany(f"DELETE FROM {table} WHERE {first} = %s AND {second} = %s", pairs)
        return
    _execute_arrays(
        f"DELETE FROM {table} WHERE ({first}, {second}) IN "
        f"(SELECT * FROM {_unnest(model, columns)})",
        pairs,
    )


def _chunked(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """`items`, `CHUNK` at a time (a chunk's values fit in one statement on every database)."""
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _execute(sql: str, rows: list[Sequence[Any]]) -> None:
    """One statement with the values of every row in turn (its VALUES list, say)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def _executemany(sql: str, rows: Iterable[Sequence[Any]]) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
