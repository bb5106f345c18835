"""Folding Clever events into roster changes: the last event of a record wins, and a section's
earlier version is known only when every event about it said what it changed."""

from __future__ import annotations

from typing import Any

from homeroom.rostering.sources.clever.events import Event, roster_changes


def section(section_id: str, students: list[str], **fields: Any) -> dict[str, Any]:
    return {"id": section_id, "school": "s1", "name": "Math", "students": students, **fields}


def event(n: int, action: str, obj: dict, previous: dict | None = None) -> Event:
    return Event(f"e{n}", "sections", action, obj, previous)


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
