"""CleverSource against the Clever sandbox: every record, mapped by the rules, through faults."""

from __future__ import annotations

import logging
from datetime import date

import httpx
import orjson
import pytest

from homeroom.rostering.sources.base import AUTH_FAILED, RosterSource, SourceError
from homeroom.rostering.sources.clever import CleverSource
from homeroom.rostering.sources.clever.client import decode_page
from homeroom.rostering.sources.clever.source import (
    SKIP_NO_ID,
    SKIP_NOT_OBJECT,
    WIRE,
    _dob,
    _iso_date,
    _read_user_page,
    split_contact_name,
    user_from_dict,
    user_from_struct,
)
from homeroom.rostering.sources.records import (
    ContactRecord,
    DistrictRecord,
    SectionRecord,
    StaffRecord,
    StudentRecord,
    Unchanged,
)
from homeroom.sandbox.store import Store
from tests.rostering.conftest import users_with_role

from .conftest import (
    EditingTransport,
    Waits,
    clever_client,
    edit_json,
    read_all,
    sandbox_app,
    staff_count,
)


@pytest.fixture(scope="module")
def demo_records(demo_store: Store) -> dict[str, list]:
    """The demo district read once through the source (v3.0, pages of 10,000)."""
    return read_all(CleverSource(clever_client(sandbox_app(demo_store))))


def by_id(records: list) -> dict:
    return {record.external_id: record for record in records}


def of_type(records: list, kind: type) -> list:
    return [record for record in records if isinstance(record, kind)]


def test_it_is_a_roster_source(demo_app) -> None:
    source: RosterSource = CleverSource(clever_client(demo_app))
    assert isinstance(source.district(), DistrictRecord)


def test_every_record_of_the_district_comes_through(demo_records, demo_store: Store) -> None:
    stats = demo_store.stats()
    users = demo_records["users"]

    assert demo_records["district"] == [
        DistrictRecord(
            external_id=stats["district"],
            name=demo_store.get("districts", stats["district"])["name"],
        )
    ]
    for collection in ("schools", "terms", "courses", "sections"):
        assert len(demo_records[collection]) == stats["objects"][collection], collection
        assert len(by_id(demo_records[collection])) == stats["objects"][collection], collection
    assert len(of_type(users, StudentRecord)) == stats["users_by_role"]["student"]
    assert len(of_type(users, ContactRecord)) == stats["users_by_role"]["contact"]
    assert len(of_type(users, StaffRecord)) == staff_count(demo_store)
    assert len(users) == len(by_id(users)) == stats["objects"]["users"]


def test_small_pages_give_the_same_records(demo_records, demo_store: Store) -> None:
    progress: list[tuple[str, int]] = []
    source = CleverSource(
        clever_client(sandbox_app(demo_store)),
        limit=37,
        on_progress=lambda collection, count: progress.append((collection, count)),
    )

    assert read_all(source) == demo_records
    users = [count for collection, count in progress if collection == "users"]
    assert users == [*range(37, len(demo_records["users"]), 37), len(demo_records["users"])]
    assert ("schools", 4) in progress


def test_v30_and_v31_give_the_same_records(demo_records, demo_store: Store) -> None:
    source = CleverSource(clever_client(sandbox_app(demo_store), version="v3.1"))

    assert read_all(source) == demo_records


def test_the_typed_and_the_tolerant_user_mapping_agree(demo_store: Store) -> None:
    # The Structs are the fast path; the dict walk reads pages that do not fit them. They must
    # map every user of the district alike.
    body = clever_client(sandbox_app(demo_store)).get("/users", {"limit": 10_000})
    raw = orjson.dumps(body)
    pairs, _ = _read_user_page(raw, known={})
    structs = [user for _, user in pairs]
    dicts, _ = decode_page(raw)

    assert [user_from_struct(user) for user in structs] == [user_from_dict(d) for d in dicts]
    assert len(structs) == demo_store.stats()["objects"]["users"]


def test_a_students_dob_parses(demo_records, demo_store: Store) -> None:
    raw = next(r for r in demo_store.iter_records("users") if "student" in r["roles"])
    month, day, year = raw["roles"]["student"]["dob"].split("/")
    student = by_id(demo_records["users"])[raw["id"]]

    assert student.dob == date(int(year), int(month), int(day))
    assert student.school_id == raw["roles"]["student"]["school"]
    assert student.school_ids[0] == student.school_id
    assert (student.first_name, student.last_name) == (raw["name"]["first"], raw["name"]["last"])
    assert student.middle_name == ""  # null on the wire
    assert all(isinstance(s.dob, date) for s in of_type(demo_records["users"], StudentRecord))


@pytest.mark.parametrize(
    "wire, parsed",
    [
        ("2/11/2007", date(2007, 2, 11)),
        ("12/31/2010", date(2010, 12, 31)),
        ("2/30/2007", None),
        ("2007-02-11", None),
        ("13/1/2007", None),
        ("soon", None),
        ("", None),
    ],
)
def test_dob_is_clever_m_d_yyyy_or_none(wire: str, parsed: date | None) -> None:
    assert _dob(wire) == parsed


def test_term_dates_are_the_calendar_dates(demo_records, demo_store: Store) -> None:
    raw = next(demo_store.iter_records("terms"))
    term = by_id(demo_records["terms"])[raw["id"]]

    assert term.start_date == date.fromisoformat(raw["start_date"][:10])
    assert term.end_date == date.fromisoformat(raw["end_date"][:10])
    assert _iso_date("2026-08-17T00:00:00.000Z") == date(2026, 8, 17)
    assert _iso_date("not a date") is None
    assert _iso_date(None) is None


@pytest.mark.parametrize(
    "first, last, expected",
    [
        ("", "Mary Ann Smith", ("Mary Ann", "Smith")),
        ("", "Jane Doe", ("Jane", "Doe")),
        ("", "Cher", ("", "Cher")),
        ("Jane", "Doe Smith", ("Jane", "Doe Smith")),
        ("", "", ("", "")),
    ],
)
def test_a_contacts_whole_name_in_last_is_split(first, last, expected) -> None:
    assert split_contact_name(first, last) == expected


def test_contacts_whole_names_and_relationships(demo_records, demo_store: Store) -> None:
    contacts = by_id(demo_records["users"])
    raw = next(
        r
        for r in demo_store.iter_records("users")
        if "contact" in r["roles"] and not r["name"].get("first") and " " in r["name"]["last"]
    )
    contact = contacts[raw["id"]]

    assert contact.first_name and contact.last_name
    assert f"{contact.first_name} {contact.last_name}" == raw["name"]["last"]
    wire = raw["roles"]["contact"]["student_relationships"]
    assert [(r.student_id, r.relationship, r.contact_type) for r in contact.relationships] == [
        (r["student"], r["relationship"] or "", r["type"] or "") for r in wire
    ]
    assert contact.email == (raw.get("email") or "")  # exactly as sent
    assert contact.phone == (raw["roles"]["contact"].get("phone") or "")


def test_an_employee_with_several_roles_is_one_staff_record(demo_records, demo_store) -> None:
    raw = next(
        r
        for r in demo_store.iter_records("users")
        if {"teacher", "staff"} <= set(r["roles"])
        and set(r["roles"]["staff"]["schools"]) - set(r["roles"]["teacher"]["schools"])
        or {"teacher", "staff"} <= set(r["roles"])
    )
    records = [r for r in demo_records["users"] if r.external_id == raw["id"]]

    assert len(records) == 1
    staff = records[0]
    assert isinstance(staff, StaffRecord)
    assert staff.roles == ("staff", "teacher")
    teacher = raw["roles"]["teacher"]
    assert staff.school_ids[0] == teacher["school"]
    assert set(staff.school_ids) == set(teacher["schools"]) | set(raw["roles"]["staff"]["schools"])
    assert len(staff.school_ids) == len(set(staff.school_ids))
    assert staff.sis_id == teacher["sis_id"]
    assert staff.title == teacher["title"]
    admins = [r for r in of_type(demo_records["users"], StaffRecord) if "district_admin" in r.roles]
    assert admins and all(r.roles == tuple(sorted(r.roles)) for r in admins)
    assert any(r.roles == ("district_admin", "staff") for r in admins)


def test_staff_only_takes_staff_id_and_title() -> None:
    raw = {
        "id": "6a5e29e0cc9d4d848a000999",
        "name": {"first": "Ann", "last": "Lee"},
        "roles": {
            "staff": {"staff_id": "E1", "schools": ["s2", "s1"], "title": "Nurse"},
            "district_admin": {"title": "Superintendent"},
        },
    }
    staff = user_from_dict(raw)

    assert staff == StaffRecord(
        external_id=raw["id"],
        first_name="Ann",
        last_name="Lee",
        roles=("district_admin", "staff"),
        school_ids=("s2", "s1"),
        sis_id="E1",
        title="Nurse",
    )


def test_section_teachers_start_with_the_primary_one(demo_records, demo_store: Store) -> None:
    raw = next(r for r in demo_store.iter_records("sections") if len(r["teachers"]) > 1)
    section = by_id(demo_records["sections"])[raw["id"]]
    assert section.teacher_ids[0] == raw["teacher"]
    assert set(section.teacher_ids) == set(raw["teachers"])
    assert section.student_ids == tuple(raw["students"])
    assert (section.course_id, section.term_id) == (raw["course"], raw["term_id"])

    # given a wire order where the primary teacher is last among `teachers`
    def primary_last(request: httpx.Request, doc: dict) -> None:
        for item in doc["data"]:
            item["data"]["teachers"].reverse()

    transport = EditingTransport(sandbox_app(demo_store), edit_json(primary_last))
    sections = by_id(CleverSource(clever_client(transport)).sections())
    # then the primary one still comes first, and nobody twice
    for wire in demo_store.iter_records("sections"):
        assert sections[wire["id"]].teacher_ids[0] == wire["teacher"]
        assert len(sections[wire["id"]].teacher_ids) == len(set(wire["teachers"]))


def test_a_section_without_a_primary_teacher() -> None:
    from homeroom.rostering.sources.clever.source import _section

    section = _section(
        {"id": "a", "school": "s", "name": "Art", "teacher": None, "teachers": ["t2", "t1"]}
    )

    assert isinstance(section, SectionRecord)
    assert section.teacher_ids == ("t2", "t1")
    assert section.course_id is None and section.term_id is None
    assert section.grade == ""


def test_faults_mid_sync_are_survived(demo_records, demo_store: Store) -> None:
    waits = Waits()
    app = sandbox_app(demo_store, fail_next=3, error_rate=0.2, seed=7)
    source = CleverSource(clever_client(app, sleep=waits, max_retries=10), limit=200)

    assert read_all(source) == demo_records
    assert len(waits) >= 3


def test_a_token_revoked_mid_sync_raises_mid_stream(demo_store: Store) -> None:
    source = CleverSource(clever_client(sandbox_app(demo_store, revoke_after=4)), limit=100)
    users = source.users()
    read = [next(users) for _ in range(250)]

    with pytest.raises(SourceError) as raised:
        list(users)

    assert raised.value.code == AUTH_FAILED
    assert len(read) == 250


def test_bad_records_are_skipped_and_counted(demo_records, demo_store: Store, caplog) -> None:
    # given a page with a user without an id and a user with no role (both still fit the typed
    # decoder), and a page with a number where text belongs, a null item and relationships that
    # are not a list (which do not: those records are read by the tolerant dict walk)
    caplog.set_level(logging.INFO, logger="homeroom.rostering.sources.clever")
    expected = demo_records["users"]
    second_page = expected[499].external_id

    def spoil(request: httpx.Request, doc: dict) -> None:
        after = request.url.params.get("starting_after")
        if after is None:
            del doc["data"][0]["data"]["id"]
            doc["data"][1]["data"]["roles"] = {}
        elif after == second_page:
            doc["data"][0]["data"]["name"]["first"] = 42
            doc["data"][1]["data"] = None
            doc["data"][2]["data"]["roles"] = {"contact": {"student_relationships": "x"}}

    transport = EditingTransport(sandbox_app(demo_store), edit_json(spoil))
    source = CleverSource(clever_client(transport), limit=500)

    users = by_id(source.users())

    # then the stream went on past them; only the unusable ones are missing, and counted
    assert len(users) == len(expected) - 3
    assert expected[0].external_id not in users and expected[1].external_id not in users
    assert users[expected[500].external_id].first_name == "42"
    assert expected[501].external_id not in users
    assert users[expected[502].external_id].relationships == ()
    assert users[expected[2].external_id] == expected[2]
    assert source.skipped == [
        ("users", SKIP_NO_ID),
        ("users", f"{expected[1].external_id}: no student, contact or staff role"),
        ("users", SKIP_NOT_OBJECT),
    ]
    assert caplog.text.count("did not fit the typed decoder") == 1


def test_duplicates_across_pages_are_yielded_for_reconcile(demo_store: Store) -> None:
    # Clever pages by id range: a record can show up on two pages. The source yields what Clever
    # sends; reconcile keeps one record per external id.
    last_of_first: dict = {}

    def repeat(request: httpx.Request, doc: dict) -> None:
        if "starting_after" not in request.url.params:
            last_of_first.update(doc["data"][-1])
        elif last_of_first and doc["data"]:
            doc["data"].insert(0, dict(last_of_first))
            last_of_first.clear()

    transport = EditingTransport(sandbox_app(demo_store), edit_json(repeat))
    schools = list(CleverSource(clever_client(transport), limit=2).schools())

    ids = [school.external_id for school in schools]
    assert len(ids) == demo_store.stats()["objects"]["schools"] + 1
    assert ids[1] == ids[2]


def test_no_district_is_not_found(demo_app) -> None:
    def empty(request: httpx.Request, doc: dict) -> None:
        doc["data"] = []

    source = CleverSource(clever_client(EditingTransport(demo_app, edit_json(empty))))

    with pytest.raises(SourceError) as raised:
        source.district()

    assert raised.value.code == "not_found"


def test_nothing_personal_is_logged(demo_store: Store, caplog) -> None:
    # given a sync at DEBUG that retries (warnings) and skips a record (warnings)
    caplog.set_level(logging.DEBUG)

    def spoil(request: httpx.Request, doc: dict) -> None:
        if "starting_after" not in request.url.params and "users" in request.url.path:
            doc["data"][0]["data"]["roles"] = {}

    app = sandbox_app(demo_store, fail_next=2, truncate_next=1)
    source = CleverSource(clever_client(EditingTransport(app, edit_json(spoil))), limit=300)
    read_all(source)

    # then no name, e-mail or phone of the district appears in any log record
    personal: set[str] = set()
    for user in demo_store.iter_records("users"):
        personal.add(user.get("email") or "")
        personal.update((user["name"].get("first") or "", user["name"].get("last") or ""))
        personal.add((user["roles"].get("contact") or {}).get("phone") or "")
    personal = {value for value in personal if len(value) >= 4}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "retrying" in logged and "skipped a record" in logged  # the log was written
    leaked = [value for value in personal if value in logged]
    assert leaked == []


# -- wire hashes and Unchanged markers --------------------------------------------------------
def flat(pages) -> list:
    return [user for page in pages for user in page]


def test_users_come_with_stable_wire_hashes(demo_records, demo_store: Store) -> None:
    def read() -> list:
        return flat(CleverSource(clever_client(sandbox_app(demo_store))).users_with_wire(dict))

    first, second = read(), read()
    assert [user for _, user in first] == demo_records["users"]
    assert [wire for wire, _ in first] == [wire for wire, _ in second]
    wires = [wire for wire, _ in first]
    assert len(set(wires)) == len(wires)
    assert all(-(1 << 63) <= wire < 1 << 63 for wire in wires)  # as a database BIGINT holds it


def test_known_users_come_as_markers_that_read_as_the_same_record(
    demo_records, demo_store: Store
) -> None:
    # given the wire hashes of every other user, with the names the caller knows them by
    users = flat(CleverSource(clever_client(sandbox_app(demo_store))).users_with_wire(dict))
    known = {wire: ("entity", f"caller-{n}") for n, (wire, _) in enumerate(users) if n % 2}
    # when the users are read again, in pages of 37 that mix known and new users
    source = CleverSource(clever_client(sandbox_app(demo_store)), limit=37)
    again = flat(source.users_with_wire(lambda: known))
    # then the known ones are markers carrying the caller's names, and read as the same records
    assert [wire for wire, _ in again] == [wire for wire, _ in users]
    for n, ((wire, item), (_, record)) in enumerate(zip(again, users, strict=True)):
        if n % 2:
            assert isinstance(item, Unchanged)
            assert (item.entity, item.external_id, item.wire) == ("entity", f"caller-{n}", wire)
            assert item.record() == record
        else:
            assert item == record


def test_a_marker_tells_which_ids_its_bytes_mention(demo_store: Store) -> None:
    contact = next(
        c
        for c in users_with_role(demo_store, "contact")
        if c["roles"]["contact"]["student_relationships"]
    )
    raw = orjson.dumps(contact)
    student = contact["roles"]["contact"]["student_relationships"][0]["student"]
    other = next(
        s["id"] for s in users_with_role(demo_store, "student") if s["id"].encode() not in raw
    )

    assert WIRE.matcher({student})(raw)
    assert WIRE.matcher({other, student})(raw)
    assert not WIRE.matcher({other})(raw)
    assert not WIRE.matcher({student[:-1]})(raw)  # an id, not a part of one
    # ids that JSON could write escaped, or too many of them: no cheap certain test
    assert WIRE.matcher({'a"b'}) is None
    assert WIRE.matcher({f"id{n}" for n in range(10_000)}) is None
