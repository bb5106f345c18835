"""The typed, immutable records every roster source yields, whatever its wire format.

Reconcile compares these with what Homeroom holds; their fields are exactly the fields sync owns.
Text fields are "" when the source has no value (never None), dates are `date | None`, and
references to other records are external ids (the source's id, e.g. Clever's 24-hex id).

They are msgspec Structs rather than dataclasses, because a large district has hundreds of
thousands of them on every sync: a Struct is built faster, is left alone by the garbage collector
(`gc=False`; records hold only strings, dates and tuples of records), and encodes for hashing in
about 1 µs where orjson needs 7-12 µs for the same dataclass (measured).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date
from typing import Any, Protocol

import msgspec


class _Record(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Base of every record: immutable, compared by value, encoded as a JSON array."""


class DistrictRecord(_Record):
    external_id: str
    name: str


class SchoolRecord(_Record):
    external_id: str
    name: str
    sis_id: str = ""
    school_number: str = ""
    state_id: str = ""
    nces_id: str = ""
    low_grade: str = ""
    high_grade: str = ""
    phone: str = ""
    principal_name: str = ""
    principal_email: str = ""


class TermRecord(_Record):
    external_id: str
    name: str = ""
    start_date: date | None = None
    end_date: date | None = None


class CourseRecord(_Record):
    external_id: str
    name: str = ""
    number: str = ""


class SectionRecord(_Record):
    external_id: str
    school_id: str
    name: str
    sis_id: str = ""
    course_id: str | None = None
    term_id: str | None = None
    grade: str = ""
    period: str = ""
    section_number: str = ""
    subject: str = ""
    teacher_ids: tuple[str, ...] = ()  # the primary teacher first, when there is one
    student_ids: tuple[str, ...] = ()


class StudentRecord(_Record):
    external_id: str
    school_id: str  # primary school
    first_name: str
    last_name: str
    middle_name: str = ""
    email: str = ""
    sis_id: str = ""
    student_number: str = ""
    state_id: str = ""
    grade: str = ""
    dob: date | None = None
    gender: str = ""
    graduation_year: str = ""
    school_ids: tuple[str, ...] = ()  # every school, the primary one included


# Staff roles as Homeroom names them; one person may hold several.
TEACHER, STAFF, DISTRICT_ADMIN = "teacher", "staff", "district_admin"


class StaffRecord(_Record):
    external_id: str
    first_name: str
    last_name: str
    email: str = ""
    roles: tuple[str, ...] = ()  # sorted subset of (district_admin, staff, teacher)
    school_ids: tuple[str, ...] = ()
    sis_id: str = ""  # teacher sis_id, else staff_id
    teacher_number: str = ""
    title: str = ""


class RelationshipRecord(_Record):
    """A guardian contact's link to one student, as the roster states it."""

    student_id: str
    relationship: str = ""  # Parent, Grandparent, Self, Aunt/Uncle, Sibling, Other, ""
    contact_type: str = ""  # Parent/Guardian, Emergency, Primary, Secondary, Family, Other, ""


class ContactRecord(_Record):
    """A guardian contact: the roster's record of a student's contact (Clever `roles.contact`)."""

    external_id: str
    first_name: str
    last_name: str
    email: str = ""  # as the source sends it; normalising is reconcile's job
    phone: str = ""  # as the source sends it
    phone_type: str = ""  # Cell, Home, Work, Other, ""
    sis_id: str = ""
    relationships: tuple[RelationshipRecord, ...] = ()


UserRecord = StudentRecord | StaffRecord | ContactRecord


# -- records read again unchanged -----------------------------------------------------------------
class WireReader(Protocol):
    """How a source reads one record's wire bytes, for an `Unchanged` marker used after all."""

    def record(self, raw: Any) -> UserRecord | str:
        """The record, or the reason it cannot be used (as the source's stream would skip it)."""
        ...

    def matcher(self, ids: Collection[str]) -> Callable[[Any], bool] | None:
        """A test of whether wire bytes mention any of `ids`, or None when there is no cheap
        test that is certain to find every mention (the caller then reads the records)."""
        ...


class Unchanged(msgspec.Struct, frozen=True, gc=False):
    """A record whose wire bytes hash to a value the caller said it knows: the source skipped
    decoding it. `entity` and `external_id` are what the caller gave with the hash; `raw` are the
    bytes, kept so that the caller can still read the record (`record()`) when it cannot trust
    what it holds (its settings changed, or something the record refers to left the roster)."""

    entity: str
    external_id: str
    wire: int
    raw: Any
    reader: WireReader

    def record(self) -> UserRecord | str:
        return self.reader.record(self.raw)
