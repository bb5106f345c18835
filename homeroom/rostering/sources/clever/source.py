"""Clever's wire format turned into roster records.

Mapping rules: a missing or null text field is ""; a student's `dob` (M/D/YYYY) and a term's dates
(ISO datetimes) become dates, or None when they do not parse; emails and phones are kept exactly
as sent (normalising them is reconcile's job); a contact whose whole name came in `name.last` is
split on its last space; a value of another type than Clever documents (a number for text) is
read as text. A record that cannot be used (no id, no school, no known role, not an object) is
skipped and counted in `CleverSource.skipped`, never fatal to the run. A record
that Clever lists twice (its paging is by id range, so a record can move between pages while a
sync reads them) is yielded twice: reconcile keeps one per external id.

Users are most of a sync's bytes (220,588 users, about 160 MB, in the `large` sandbox district),
so they are decoded by msgspec straight into Structs holding only the fields used here, which
measured about twice as fast as orjson plus a walk over dicts (see `users()`). The other
collections are small and are walked as dicts.

Each user's bytes are hashed as they came (`users_with_wire`): a user whose hash the caller already
knows is not decoded at all but yielded as an `Unchanged` marker, which still holds its bytes.
Finding each user's bytes in a page costs a quarter of decoding them (measured: 0.27 s against
1.04 s for the 23 pages of `large`), hashing them 0.04 s.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import orjson
import xxhash

from homeroom.rostering.sources import records
from homeroom.rostering.sources.base import (
    BAD_RESPONSE,
    NOT_FOUND,
    ProgressCallback,
    SourceError,
)
from homeroom.rostering.sources.clever.client import MAX_LIMIT, CleverClient, decode_page
from homeroom.rostering.sources.records import (
    DISTRICT_ADMIN,
    STAFF,
    TEACHER,
    ContactRecord,
    CourseRecord,
    DistrictRecord,
    RelationshipRecord,
    SchoolRecord,
    SectionRecord,
    StaffRecord,
    StudentRecord,
    TermRecord,
    Unchanged,
    UserRecord,
)

log = logging.getLogger(__name__)

MSG_NO_DISTRICT = (
    "Clever returned no district for this token: the app may have been disconnected from the "
    "district in Clever."
)
MSG_BAD_DISTRICT = "Clever's answer to GET /districts is not in Clever's format."

# Reasons a record was skipped: ids only, never names or contact details.
SKIP_NOT_OBJECT = "not a JSON object"
SKIP_NO_ID = "record without an id"
SKIP_NO_SCHOOL = "{id}: no school"
SKIP_NO_ROLE = "{id}: no student, contact or staff role"
SKIP_UNREADABLE = "{id}: could not be read ({error})"

EMPLOYEE_ROLES = (DISTRICT_ADMIN, STAFF, TEACHER)  # sorted, as StaffRecord.roles is

# Known wire hashes, as a caller passes them: hash -> (entity, external id), given back in
# `Unchanged` markers.
KnownWires = Mapping[int, tuple[str, str]]
# Pages of users fetched ahead while the caller is not ready for them: a re-sync's first page
# waits for the known wire hashes, which the caller is still reading (0.3-0.8 s for `large`,
# measured), and a page of 10,000 users is 7 MB.
USER_PAGES_AHEAD = 4

R = TypeVar("R")


class CleverSource:
    """One district's roster, read from Clever page by page (see `RosterSource`)."""

    def __init__(
        self,
        client: CleverClient,
        *,
        on_progress: ProgressCallback | None = None,
        limit: int = MAX_LIMIT,
    ) -> None:
        self.client = client
        self.on_progress = on_progress
        self.limit = limit
        self.skipped: list[tuple[str, str]] = []  # (collection, reason)

    def close(self) -> None:
        """Close the client's connection (a sync run closes the source it opened)."""
        self.client.close()

    def district(self) -> DistrictRecord:
        doc = self.client.get("/districts")
        items = doc.get("data")
        if not isinstance(items, list):
            raise SourceError(BAD_RESPONSE, MSG_BAD_DISTRICT)
        for item in items:
            raw = item.get("data") if isinstance(item, dict) else None
            if district_id := _record_id(raw):
                return DistrictRecord(external_id=district_id, name=_text(raw.get("name")))
        raise SourceError(NOT_FOUND, MSG_NO_DISTRICT)

    def schools(self) -> Iterator[SchoolRecord]:
        return self._stream("schools", _school)

    def terms(self) -> Iterator[TermRecord]:
        return self._stream("terms", _term)

    def courses(self) -> Iterator[CourseRecord]:
        return self._stream("courses", _course)

    def sections(self) -> Iterator[SectionRecord]:
        return self._stream("sections", _section)

    @property
    def wire_version(self) -> str:
        """Changes whenever the same wire bytes could give another record: the API version, and
        this module's and the records' code (a digest of their source files)."""
        return f"clever {self.client.version} {_MAPPING_DIGEST}"

    def users(self) -> Iterator[UserRecord]:
        """Students, contacts and staff in one pass over /users (every role at once).

        Converting pages of 10,000 `large` users from bytes to records (the first 40,000 users,
        on this project's shared 2-core machine, median / best of 48 pages): orjson + dict walk
        23,000 / 33,000-49,000 records/s; msgspec Structs 51,000-53,000 / 88,000-105,000.
        """
        return (user for page in self.users_with_wire(dict) for _, user in page)  # type: ignore[misc]

    def users_with_wire(
        self, known: Callable[[], KnownWires]
    ) -> Iterator[list[tuple[int | None, UserRecord | Unchanged]]]:
        """`users()` page by page, each with the hash of its wire bytes (None when a page had
        to be read as plain objects); a user whose hash is in `known()` comes as an `Unchanged`
        marker. `known` is called once, when the first page has arrived. Pages rather than
        users: a large district's 220,588 users cost 0.1 s less without a generator step each."""
        wires: list[KnownWires] = []

        def read(body: bytes) -> tuple[list[Any], str | None]:
            if not wires:
                wires.append(known())
            return _read_user_page(body, known=wires[0])

        return self._pages("users", _user_read, decode=read, ahead=USER_PAGES_AHEAD)

    def _stream(self, collection: str, convert: Callable[[Any], R | str]) -> Iterator[R]:
        for page in self._pages(collection, convert):
            yield from page

    def _pages(
        self,
        collection: str,
        convert: Callable[[Any], R | str],
        *,
        decode: Callable[[bytes], tuple[list[Any], str | None]] = decode_page,
        ahead: int = 1,
    ) -> Iterator[list[R]]:
        """Each page's records; a record that cannot be used is skipped and counted."""
        read = 0
        pages = self.client.pages(f"/{collection}", limit=self.limit, decode=decode, ahead=ahead)
        for page in pages:
            try:
                records = [convert(raw) for raw in page]
            except (TypeError, ValueError, AttributeError, KeyError):
                records = [_convert_or_reason(convert, raw) for raw in page]
            if str in map(type, records):
                for reason in (r for r in records if type(r) is str):
                    self.skipped.append((collection, reason))
                    log.warning("clever %s: skipped a record: %s", collection, reason)
                records = [r for r in records if type(r) is not str]
            read += len(page)
            if self.on_progress is not None:
                self.on_progress(collection, read)
            yield records  # type: ignore[misc]


def _convert_or_reason(convert: Callable[[Any], R | str], raw: Any) -> R | str:
    try:
        return convert(raw)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        # A shape no rule foresaw: skip the record, not the run. The error's type only: its
        # text could quote a value.
        error = type(exc).__name__
        return SKIP_UNREADABLE.format(id=_record_id(raw) or "?", error=error)


# -- field helpers --------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if type(value) is str else str(value)


def _ref(value: Any) -> str | None:
    """An optional reference to another record: its id, or None."""
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@lru_cache(maxsize=8192)  # a district has a few thousand distinct birthdays
def _dob(value: str) -> date | None:
    """Clever's M/D/YYYY, e.g. "2/11/2007"; None for anything else."""
    try:
        month, day, year = value.split("/")
        return date(int(year), int(month), int(day))
    except (ValueError, TypeError, AttributeError):
        return None


def _iso_date(value: Any) -> date | None:
    """The calendar date of an ISO datetime such as "2026-08-17T00:00:00.000Z"."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _ids(*groups: Any) -> tuple[str, ...]:
    """Ids from single ids and lists of ids, in order, without blanks or repeats."""
    seen: dict[str, None] = {}
    for group in groups:
        if isinstance(group, str):
            if group:
                seen[group] = None
        elif isinstance(group, list):
            # A class list of ids, as it nearly always is, taken whole (a loop in C): the events
            # of 1,000 changes carry 70,000 of them (measured).
            try:
                whole = dict.fromkeys(group)
            except TypeError:  # something unhashable in it
                whole = None
            if whole is not None and set(map(type, whole)) <= {str} and "" not in whole:
                seen.update(whole)
                continue
            for value in group:
                if value and isinstance(value, str):
                    seen[value] = None
    return tuple(seen)


def split_contact_name(first: str, last: str) -> tuple[str, str]:
    """Clever may send a contact's whole name in `name.last`: "Mary Ann Smith" becomes first
    "Mary Ann", last "Smith". A single word stays the last name."""
    whole = last.strip()
    if not first and " " in whole:
        head, _, tail = whole.rpartition(" ")
        return head.strip(), tail
    return first, last


def _record_id(raw: Any) -> str:
    """The id of a raw record, "" when it has none (the caller skips it)."""
    if isinstance(raw, tuple):  # (wire hash, raw user) from `_read_user_page`
        raw = raw[1]
    if isinstance(raw, _User):
        value = raw.id
    elif isinstance(raw, dict):
        value = raw.get("id")
    else:
        return ""
    return value if isinstance(value, str) else ""


# -- small collections: dict walk -----------------------------------------------------------------
def _school(raw: Any) -> SchoolRecord | str:
    if not isinstance(raw, dict):
        return SKIP_NOT_OBJECT
    if not (school_id := _record_id(raw)):
        return SKIP_NO_ID
    principal = _dict(raw.get("principal"))
    return SchoolRecord(
        external_id=school_id,
        name=_text(raw.get("name")),
        sis_id=_text(raw.get("sis_id")),
        school_number=_text(raw.get("school_number")),
        state_id=_text(raw.get("state_id")),
        nces_id=_text(raw.get("nces_id")),
        low_grade=_text(raw.get("low_grade")),
        high_grade=_text(raw.get("high_grade")),
        phone=_text(raw.get("phone")),
        principal_name=_text(principal.get("name")),
        principal_email=_text(principal.get("email")),
    )


def _term(raw: Any) -> TermRecord | str:
    if not isinstance(raw, dict):
        return SKIP_NOT_OBJECT
    if not (term_id := _record_id(raw)):
        return SKIP_NO_ID
    return TermRecord(
        external_id=term_id,
        name=_text(raw.get("name")),
        start_date=_iso_date(raw.get("start_date")),
        end_date=_iso_date(raw.get("end_date")),
    )


def _course(raw: Any) -> CourseRecord | str:
    if not isinstance(raw, dict):
        return SKIP_NOT_OBJECT
    if not (course_id := _record_id(raw)):
        return SKIP_NO_ID
    return CourseRecord(
        external_id=course_id, name=_text(raw.get("name")), number=_text(raw.get("number"))
    )


def _section(raw: Any) -> SectionRecord | str:
    if not isinstance(raw, dict):
        return SKIP_NOT_OBJECT
    if not (section_id := _record_id(raw)):
        return SKIP_NO_ID
    if not (school_id := _ref(raw.get("school"))):
        return SKIP_NO_SCHOOL.format(id=section_id)
    return SectionRecord(
        external_id=section_id,
        school_id=school_id,
        name=_text(raw.get("name")),
        sis_id=_text(raw.get("sis_id")),
        course_id=_ref(raw.get("course")),
        term_id=_ref(raw.get("term_id")),
        grade=_text(raw.get("grade")),
        period=_text(raw.get("period")),
        section_number=_text(raw.get("section_number")),
        subject=_text(raw.get("subject")),
        **section_members(raw),
    )


def section_members(raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """A raw section's teachers (the primary one first) and students, as its record has them."""
    return {
        "teacher_ids": _ids(raw.get("teacher"), raw.get("teachers")),
        "student_ids": _ids(raw.get("students")),
    }


# -- users: typed decoding ------------------------------------------------------------------------
# Only the wire fields Homeroom uses; msgspec skips the rest without building objects for them.
# gc=False: these Structs never form reference cycles, and untracked objects spare the cyclic
# garbage collector a walk over every decoded user (measured: the typed path's median went from
# 33,000 to 38,000-60,000 records/s).
class _Name(msgspec.Struct, gc=False):
    first: str | None = None
    middle: str | None = None
    last: str | None = None


class _Student(msgspec.Struct, gc=False):
    sis_id: str | None = None
    student_number: str | None = None
    state_id: str | None = None
    school: str | None = None
    schools: list[str | None] | None = None
    grade: str | None = None
    dob: str | None = None
    gender: str | None = None
    graduation_year: str | None = None


class _Teacher(msgspec.Struct, gc=False):
    sis_id: str | None = None
    teacher_number: str | None = None
    title: str | None = None
    school: str | None = None
    schools: list[str | None] | None = None


class _Staff(msgspec.Struct, gc=False):
    staff_id: str | None = None
    title: str | None = None
    schools: list[str | None] | None = None


class _Admin(msgspec.Struct, gc=False):
    title: str | None = None


class _Relationship(msgspec.Struct, gc=False):
    student: str | None = None
    relationship: str | None = None
    type: str | None = None


class _Contact(msgspec.Struct, gc=False):
    sis_id: str | None = None
    phone: str | None = None
    phone_type: str | None = None
    student_relationships: list[_Relationship | None] | None = None


class _Roles(msgspec.Struct, gc=False):
    student: _Student | None = None
    contact: _Contact | None = None
    teacher: _Teacher | None = None
    staff: _Staff | None = None
    district_admin: _Admin | None = None


class _User(msgspec.Struct, gc=False):
    id: str | None = None
    email: str | None = None
    name: _Name | None = None
    roles: _Roles | None = None


class _UserItem(msgspec.Struct, gc=False):
    data: _User


class _Link(msgspec.Struct, gc=False):
    rel: str | None = None
    uri: str | None = None


class _UserPage(msgspec.Struct, gc=False):
    data: list[_UserItem]
    links: list[_Link] = []


_user_page_decoder = msgspec.json.Decoder(_UserPage)
_NO_NAME = _Name()
_NO_ROLES = _Roles()


def user_from_struct(raw: _User) -> UserRecord | str:
    user_id = raw.id
    if not user_id:
        return SKIP_NO_ID
    roles = raw.roles or _NO_ROLES
    name = raw.name or _NO_NAME
    first, last = name.first or "", name.last or ""
    student = roles.student
    if student is not None:
        school = student.school
        # The usual student lists exactly their primary school: 0.1 s of a large district's
        # 0.5 s of conversion went to the general case (measured).
        if school and student.schools == [school]:
            school_ids: tuple[str, ...] = (school,)
        else:
            school_ids = _ids(school, student.schools)
        if not school_ids:
            return SKIP_NO_SCHOOL.format(id=user_id)
        return StudentRecord(
            external_id=user_id,
            school_id=school_ids[0],
            first_name=first,
            last_name=last,
            middle_name=name.middle or "",
            email=raw.email or "",
            sis_id=student.sis_id or "",
            student_number=student.student_number or "",
            state_id=student.state_id or "",
            grade=student.grade or "",
            dob=_dob(student.dob) if student.dob else None,
            gender=student.gender or "",
            graduation_year=student.graduation_year or "",
            school_ids=school_ids,
        )
    contact = roles.contact
    if contact is not None:
        first, last = split_contact_name(first, last)
        return ContactRecord(
            external_id=user_id,
            first_name=first,
            last_name=last,
            email=raw.email or "",
            phone=contact.phone or "",
            phone_type=contact.phone_type or "",
            sis_id=contact.sis_id or "",
            relationships=tuple(
                [
                    RelationshipRecord(rel.student, rel.relationship or "", rel.type or "")
                    for rel in contact.student_relationships or ()
                    if rel is not None and rel.student
                ]
            ),
        )
    teacher, staff, admin = roles.teacher, roles.staff, roles.district_admin
    held = tuple(
        role
        for role, value in ((DISTRICT_ADMIN, admin), (STAFF, staff), (TEACHER, teacher))
        if value is not None
    )
    if not held:
        return SKIP_NO_ROLE.format(id=user_id)
    return StaffRecord(
        external_id=user_id,
        first_name=first,
        last_name=last,
        email=raw.email or "",
        roles=held,
        school_ids=_ids(
            teacher.school if teacher else None,
            teacher.schools if teacher else None,
            staff.schools if staff else None,
        ),
        sis_id=(teacher.sis_id if teacher else "") or (staff.staff_id if staff else "") or "",
        teacher_number=(teacher.teacher_number if teacher else "") or "",
        title=(teacher.title if teacher else "")
        or (staff.title if staff else "")
        or (admin.title if admin else "")
        or "",
    )


def user_from_dict(raw: dict[str, Any]) -> UserRecord | str:
    """The same mapping as `user_from_struct`, over plain objects and tolerant of any type: for
    pages where a record does not fit the Structs (a number where Clever sends text)."""
    if not (user_id := _record_id(raw)):
        return SKIP_NO_ID
    roles = _dict(raw.get("roles"))
    name = _dict(raw.get("name"))
    first, last = _text(name.get("first")), _text(name.get("last"))
    student = roles.get("student")
    if isinstance(student, dict):
        school_ids = _ids(student.get("school"), student.get("schools"))
        if not school_ids:
            return SKIP_NO_SCHOOL.format(id=user_id)
        dob = student.get("dob")
        return StudentRecord(
            external_id=user_id,
            school_id=school_ids[0],
            first_name=first,
            last_name=last,
            middle_name=_text(name.get("middle")),
            email=_text(raw.get("email")),
            sis_id=_text(student.get("sis_id")),
            student_number=_text(student.get("student_number")),
            state_id=_text(student.get("state_id")),
            grade=_text(student.get("grade")),
            dob=_dob(dob) if isinstance(dob, str) and dob else None,
            gender=_text(student.get("gender")),
            graduation_year=_text(student.get("graduation_year")),
            school_ids=school_ids,
        )
    contact = roles.get("contact")
    if isinstance(contact, dict):
        first, last = split_contact_name(first, last)
        relationships = contact.get("student_relationships")
        return ContactRecord(
            external_id=user_id,
            first_name=first,
            last_name=last,
            email=_text(raw.get("email")),
            phone=_text(contact.get("phone")),
            phone_type=_text(contact.get("phone_type")),
            sis_id=_text(contact.get("sis_id")),
            relationships=tuple(
                RelationshipRecord(
                    student_id=rel["student"],
                    relationship=_text(rel.get("relationship")),
                    contact_type=_text(rel.get("type")),
                )
                for rel in (relationships if isinstance(relationships, list) else ())
                if isinstance(rel, dict) and _ref(rel.get("student"))
            ),
        )
    held = tuple(role for role in EMPLOYEE_ROLES if isinstance(roles.get(role), dict))
    if not held:
        return SKIP_NO_ROLE.format(id=user_id)
    teacher = _dict(roles.get(TEACHER))
    staff = _dict(roles.get(STAFF))
    admin = _dict(roles.get(DISTRICT_ADMIN))
    return StaffRecord(
        external_id=user_id,
        first_name=first,
        last_name=last,
        email=_text(raw.get("email")),
        roles=held,
        school_ids=_ids(teacher.get("school"), teacher.get("schools"), staff.get("schools")),
        sis_id=_text(teacher.get("sis_id")) or _text(staff.get("staff_id")),
        teacher_number=_text(teacher.get("teacher_number")),
        title=_text(teacher.get("title")) or _text(staff.get("title")) or _text(admin.get("title")),
    )


class _RawItem(msgspec.Struct, gc=False):
    data: msgspec.Raw  # the user's bytes, not decoded


class _RawPage(msgspec.Struct, gc=False):
    data: list[_RawItem]


_raw_page_decoder = msgspec.json.Decoder(_RawPage)
_user_decoder = msgspec.json.Decoder(_User)
_WRAP, _SIGNED_MAX = 1 << 64, (1 << 63) - 1
# Decoding a page's users at once beats decoding them one by one (1.04 s against 1.27 s for
# `large`, measured) when most of them have to be decoded.
_WHOLE_PAGE_SHARE = 0.8


def _read_user_page(body: bytes, *, known: KnownWires) -> tuple[list[Any], str | None]:
    """A page of /users as (wire hash, user) pairs: an `Unchanged` marker when the hash is known,
    else a Struct, or a plain object for a record that does not fit the Structs.

    One record that breaks the Structs' types (a number where Clever sends text, a null item)
    would fail a typed decode of the whole page, so such a record alone is decoded again with
    orjson and mapped by the tolerant `user_from_dict`. A page whose items are not objects with
    `data` is read as plain objects, without hashes. A body that is not JSON raises ValueError,
    which the client retries.
    """
    try:
        raws = [item.data for item in _raw_page_decoder.decode(body).data]
    except msgspec.ValidationError:
        log.info("clever users: a page did not fit the typed decoder; read as plain objects")
        items, next_uri = decode_page(body)
        return [(None, item) for item in items], next_uri
    # Signed, as the database's BIGINT holds them.
    wires = [h - _WRAP if h > _SIGNED_MAX else h for h in map(xxhash.xxh3_64_intdigest, raws)]
    hits = [at for at, wire in enumerate(wires) if wire in known] if known else []
    users: list[Any] | None = None
    if len(hits) <= (1 - _WHOLE_PAGE_SHARE) * len(raws):
        try:
            users = [item.data for item in _user_page_decoder.decode(body).data]
        except msgspec.ValidationError:
            pass
    if users is not None and not hits:  # a first sync's pages
        return list(zip(wires, users, strict=True)), None
    out: list[Any] = [None] * len(raws)
    for at in hits:
        wire = wires[at]
        entity, external_id = known[wire]
        out[at] = (wire, Unchanged(entity, external_id, wire, raws[at], WIRE))
    misses = [at for at, item in enumerate(out) if item is None]
    misfits = 0
    for at in misses:
        user = users[at] if users is not None else _decode_user(raws[at])
        misfits += type(user) is not _User
        out[at] = (wires[at], user)
    if misfits:
        log.info("clever users: %d records did not fit the typed decoder; read as plain", misfits)
    return out, None  # the client reads the next link itself


def _decode_user(raw: Any) -> Any:
    try:
        return _user_decoder.decode(raw)
    except msgspec.ValidationError:
        return orjson.loads(memoryview(raw))  # orjson takes no Raw


def _next_uri(links: list[_Link]) -> str | None:
    for link in links:
        if link.rel == "next" and link.uri:
            return link.uri
    return None


def _user(raw: Any) -> UserRecord | str:
    if isinstance(raw, _User):
        return user_from_struct(raw)
    return user_from_dict(raw) if isinstance(raw, dict) else SKIP_NOT_OBJECT


def _user_read(item: tuple[int | None, Any]) -> tuple[int | None, UserRecord | Unchanged] | str:
    wire, raw = item
    if type(raw) is _User:  # the usual case, first
        user = user_from_struct(raw)
    elif type(raw) is Unchanged:
        return item
    else:
        user = _user(raw)
    return user if type(user) is str else (wire, user)


# Ids that JSON writes as they are, between quotes: a mention of one is found in the bytes.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:-]+")
# Beyond this many ids, one pattern matching any of them stops being cheap; reading is then as fast.
_MAX_MATCHED_IDS = 500


class _CleverWire:
    """Reading one user's bytes after all (see `records.WireReader`)."""

    def record(self, raw: Any) -> UserRecord | str:
        return _convert_or_reason(_user, _decode_user(raw))

    def matcher(self, ids: Collection[str]) -> Callable[[Any], bool] | None:
        if len(ids) > _MAX_MATCHED_IDS or not all(_PLAIN_ID.fullmatch(i) for i in ids):
            return None
        quoted = (re.escape(f'"{i}"'.encode()) for i in sorted(ids))
        search = re.compile(b"|".join(quoted)).search
        return lambda raw: search(raw) is not None


WIRE = _CleverWire()
# What `wire_version` says of the code: the same bytes could map to another record after any
# change to this module or to the records (a comment too: one re-sync then reads every record).
_MAPPING_DIGEST = xxhash.xxh3_64_hexdigest(
    Path(__file__).read_bytes() + Path(records.__file__).read_bytes()
)
