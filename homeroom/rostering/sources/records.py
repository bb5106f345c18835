"""The typed, immutable records every roster source yields, whatever its wire format.

Reconcile compares these with what Homeroom holds; their fields are exactly the fields sync owns.
Text fields are "" when the source has no value (never None), dates are `date | None`, and
references to other records are external ids (the source's id, e.g. Clever's 24-hex id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class DistrictRecord:
    external_id: str
    name: str


@dataclass(frozen=True, slots=True)
class SchoolRecord:
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


@dataclass(frozen=True, slots=True)
class TermRecord:
    external_id: str
    name: str = ""
    start_date: date | None = None
    end_date: date | None = None


@dataclass(frozen=True, slots=True)
class CourseRecord:
    external_id: str
    name: str = ""
    number: str = ""


@dataclass(frozen=True, slots=True)
class SectionRecord:
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


@dataclass(frozen=True, slots=True)
class StudentRecord:
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


@dataclass(frozen=True, slots=True)
class StaffRecord:
    external_id: str
    first_name: str
    last_name: str
    email: str = ""
    roles: tuple[str, ...] = ()  # sorted subset of (district_admin, staff, teacher)
    school_ids: tuple[str, ...] = ()
    sis_id: str = ""  # teacher sis_id, else staff_id
    teacher_number: str = ""
    title: str = ""


@dataclass(frozen=True, slots=True)
class RelationshipRecord:
    """A guardian contact's link to one student, as the roster states it."""

    student_id: str
    relationship: str = ""  # Parent, Grandparent, Self, Aunt/Uncle, Sibling, Other, ""
    contact_type: str = ""  # Parent/Guardian, Emergency, Primary, Secondary, Family, Other, ""


@dataclass(frozen=True, slots=True)
class ContactRecord:
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
