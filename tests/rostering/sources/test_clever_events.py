"""Folding Clever events into roster changes: the last event of a record wins, and a section's
earlier version is known only when every event about it said what it changed."""

from __future__ import annotations

from typing import Any

import msgspec

from homeroom.rostering.sources.clever.events import Event, roster_changes


def section(section_id: str, students: list[str], **fields: Any) -> dict[str, Any]:
    return {"id": section_id, "school": "s1", "name": "Math", "students": students, **fields}


def event(n: int, action: str, obj: dict, previous: dict | None = None) -> Event:
    return Event(f"e{n}", "sections", action, obj["id"], obj, previous)


def test_a_section_updated_twice_was_what_the_first_update_says():
    changes = roster_changes(
        iter(
            [
                event(1, "updated", section("a", ["x", "y"]), {"students": ["x"]}),
                event(
                    2,
                    "updated",
                    section("a", ["y"], name="Maths"),
                    {"students": ["x", "y"], "name": "Math"},
                ),
                event(3, "updated", section("a", ["y"], name="Algebra"), {"name": "Maths"}),
            ]
        )
    )
    now, before = changes.present["sections"]["a"], changes.sections_before["a"]
    assert (now.name, now.student_ids) == ("Algebra", ("y",))
    assert (before.name, before.student_ids) == ("Math", ("x",))


def test_a_section_earlier_unknown_has_no_earlier_version():
    events = [
        # created in the batch: there was nothing before
        event(1, "created", section("new", ["x"])),
        event(2, "updated", section("new", ["x", "y"]), {"students": ["x"]}),
        # an update that does not say what it changed
        event(3, "updated", section("quiet", ["x"])),
        event(4, "updated", section("quiet", ["y"]), {"students": ["x"]}),
        # deleted, then created again
        event(5, "deleted", section("back", ["x"])),
        event(6, "created", section("back", ["z"])),
        # and one that is known, for contrast
        event(7, "updated", section("said", ["y"]), {"students": ["x"]}),
    ]
    changes = roster_changes(iter(events))
    assert set(changes.present["sections"]) == {"new", "quiet", "back", "said"}
    assert set(changes.sections_before) == {"said"}
    assert changes.sections_before["said"].student_ids == ("x",)


def test_a_deleted_section_has_no_earlier_version():
    changes = roster_changes(
        iter(
            [
                event(1, "updated", section("a", ["x", "y"]), {"students": ["x"]}),
                event(2, "deleted", section("a", ["x", "y"])),
            ]
        )
    )
    assert "a" not in changes.present.get("sections", {}) and changes.sections_before == {}
    assert changes.touched["sections"] == {"a"}


# -- pages of events: the typed reading and the plain one agree ----------------------------------
def _page(*events: Any) -> bytes:
    import orjson

    return orjson.dumps({"data": [{"data": e, "uri": "/v3.0/events/e"} for e in events]})


def _wire(n: int, kind: str, obj: dict, previous: dict | None = None, *, inside=False) -> dict:
    data: dict[str, Any] = {"object": obj}
    wire: dict[str, Any] = {"id": f"e{n}", "type": kind, "created": "2026-12-01T00:00:00.000Z"}
    if previous is not None:
        (data if inside else wire)["previous_attributes"] = previous
    return {**wire, "data": data}


STUDENT = {
    "id": "st1",
    "email": "kid@school.example.org",
    "name": {"first": "Ana", "middle": None, "last": "Lima"},
    "roles": {"student": {"school": "s1", "schools": ["s1"], "sis_id": "9", "dob": "2/11/2015"}},
}
CONTACT = {
    "id": "c1",
    "email": "mum@example.com",
    "name": {"first": "", "last": "Rosa Lima"},
    "roles": {
        "contact": {
            "phone": "+15550001",
            "phone_type": "Cell",
            "student_relationships": [
                {"student": "st1", "relationship": "Parent", "type": "Primary"}
            ],
        }
    },
}
SCHOOL = {"id": "s1", "name": "North Elementary", "sis_id": "1"}


def _both_ways(body: bytes):
    from homeroom.rostering.sources.clever.client import decode_page
    from homeroom.rostering.sources.clever.events import event_read, read_event_page

    typed, _ = read_event_page(body)
    plain = [event_read(raw) for raw in decode_page(body)[0]]
    return (
        roster_changes(e for e in typed if e is not None),
        roster_changes(e for e in plain if e is not None),
        typed,
    )


def test_a_page_read_typed_folds_as_the_plain_objects_do():
    body = _page(
        _wire(1, "users.created", STUDENT),
        _wire(2, "users.updated", CONTACT, {"roles": {"contact": {"phone": "1"}}}),
        _wire(3, "sections.updated", section("a", ["st1", "st2"]), {"students": ["st2"]}),
        _wire(4, "sections.updated", section("b", ["st1"], teacher="t1", teachers=["t1", "t2"])),
        _wire(
            5, "sections.updated", section("a", ["st1"]), {"students": ["st1", "st2"]}, inside=True
        ),
        _wire(6, "schools.updated", SCHOOL, {"name": "North"}),
        _wire(7, "users.deleted", {**STUDENT, "id": "st9"}),
        _wire(8, "districts.updated", {"id": "d1"}),
    )
    typed, plain, events = _both_ways(body)
    assert typed == plain
    # Read typed: the objects stay bytes until the batch is folded.
    assert all(isinstance(e.object, msgspec.Raw) for e in events if e is not None)
    assert {e.object_id for e in events if e is not None} >= {"st1", "c1", "a", "b", "s1", "st9"}
    assert typed.present["students"]["st1"].dob.isoformat() == "2015-02-11"
    assert typed.present["contacts"]["c1"].relationships[0].student_id == "st1"
    assert typed.present["sections"]["b"].teacher_ids == ("t1", "t2")
    # previous_attributes inside `data` counts as beside it: the first said what "a" was.
    assert typed.sections_before["a"].student_ids == ("st2",)
    assert typed.touched["users"] == {"st1", "c1", "st9"} and typed.last_event == "e8"


def test_a_page_that_does_not_fit_the_structs_is_read_as_plain_objects():
    for odd in (
        {"id": 1, "type": "users.created", "data": {"object": STUDENT}},
        {"id": "e1", "type": "users.created", "data": {"object": {"email": "no id"}}},
        {"id": "e1", "type": "users.renamed", "data": {"object": STUDENT}},
        "not an event",
    ):
        body = _page(_wire(0, "schools.created", SCHOOL), odd, _wire(2, "users.created", CONTACT))
        typed, plain, events = _both_ways(body)
        assert typed == plain
        assert all(isinstance(e.object, dict) for e in events if e is not None)
        assert len(events) == 3 and "c1" in typed.present["contacts"]


def test_an_object_that_does_not_fit_the_structs_is_decoded_plainly():
    odd = section("a", ["st1", None, "st1"], grade=5)  # a blank and a repeat; a number as grade
    # a number where Clever sends text
    odd_student = {**STUDENT, "roles": {"student": {**STUDENT["roles"]["student"], "grade": 3}}}
    body = _page(_wire(1, "sections.created", odd), _wire(2, "users.created", odd_student))
    typed, plain, events = _both_ways(body)
    assert typed == plain and all(isinstance(e.object, msgspec.Raw) for e in events)
    assert typed.present["sections"]["a"].student_ids == ("st1",)
    assert typed.present["sections"]["a"].grade == "5"
    assert typed.present["students"]["st1"].grade == "3"
