"""Realistic roster changes applied to a sandbox district, each recorded as Clever events.

A change is what a district's SIS does between two nightly syncs: a student enrols (with guardian
contacts and classes), a student withdraws, a guardian's phone or e-mail changes, a student moves
to another section, a new teacher takes over a section. Each one writes the new records and the
events Clever would emit (`users.created`, `sections.updated` with `previous_attributes`, …), all in
one transaction, so the Events API and the Data API always agree.

Clever's quirk is kept: a contact without a `sis_id` has no stable id, so changing its e-mail
deletes it and creates it again under a new id.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from homeroom.sandbox.generator import LOCALES, DistrictGenerator
from homeroom.sandbox.ids import IdMinter
from homeroom.sandbox.store import Store

Record = dict[str, Any]

CHANGE_KINDS = [
    ("student_enrolled", 20),
    ("student_withdrawn", 15),
    ("contact_phone_changed", 20),
    ("contact_email_changed", 15),
    ("student_moved_section", 20),
    ("teacher_replaced", 10),
]


class Mutation:
    """One batch of changes against a store; call `apply(n)` inside a store transaction."""

    def __init__(self, store: Store, *, seed: int, now: datetime) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.now = now
        self.stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        self.ids = IdMinter(
            seed=int(store.meta("seed") or 0),
            timestamp=int(store.meta("id_timestamp") or 0),
            counter=int(store.meta("id_counter") or 0),
        )
        self.ids.advance_to(int(now.timestamp()))
        self.events: list[str] = []
        self.kinds: Counter[str] = Counter()
        # The pools that changes pick people from, kept in step with every change made.
        self.students = self._ids_with_role("student")
        self.contacts = self._ids_with_role("contact")
        # Brand-new people are made by the district generator, so they look like everyone else.
        self.people = DistrictGenerator(size=store.meta("size") or "tiny", seed=seed)
        self.people.ids = self.ids
        self.people.district_id = store.meta("district") or ""
        self.people.domain = store.meta("domain") or "sandbox.example.org"
        self.people.area_codes = (store.meta("area_codes") or "555").split(",")
        self.people.serial = int(store.meta("serial") or 0)
        self.people.state = store.meta("state") or "CA"
        self.people.city = store.meta("city") or ""
        self.people.created = self.stamp

    # -- bookkeeping ---------------------------------------------------------------------------
    def _ids_with_role(self, role: str) -> list[str]:
        sql = "SELECT user FROM user_role WHERE role = ? ORDER BY user"
        return [row[0] for row in self.store.db.execute(sql, (role,))]

    def _event(
        self, collection: str, action: str, record: Record, previous: Record | None = None
    ) -> None:
        event: Record = {
            "id": self.ids.mint(),
            "type": f"{collection}.{action}",
            "created": self.stamp,
            "data": {"object": record},
        }
        if previous is not None:
            event["previous_attributes"] = previous
        self.store.add_event(
            event, record_type=collection, school=_school_of(record), ts=self.now.timestamp()
        )
        self.events.append(event["id"])

    def _write(self, collection: str, record: Record, previous: Record | None = None) -> None:
        record["last_modified"] = self.stamp
        self.store.replace(collection, record)
        self._event(collection, "updated" if previous is not None else "created", record, previous)

    def _delete(self, collection: str, record: Record) -> None:
        self.store.delete(collection, record["id"])
        self._event(collection, "deleted", record)

    # -- the changes -------------------------------------------------------------------------
    def apply(self, changes: int) -> dict[str, Any]:
        for _ in range(changes):
            kind = _pick(self.rng, CHANGE_KINDS)
            if getattr(self, kind)():
                self.kinds[kind] += 1
        self.store.set_meta(
            id_timestamp=self.ids.timestamp,
            id_counter=self.ids.counter,
            serial=self.people.serial,
        )
        return {
            "changes": sum(self.kinds.values()),
            "by_kind": dict(sorted(self.kinds.items())),
            "events": len(self.events),
            "first_event": self.events[0] if self.events else None,
            "last_event": self.events[-1] if self.events else None,
        }

    def student_enrolled(self) -> bool:
        """A new student joins a section of a school, with one or two guardian contacts."""
        section = self._random_section()
        if section is None:
            return False
        grade = section.get("grade") or "Kindergarten"
        grade_index = 0 if grade == "Kindergarten" else int(grade) if grade.isdigit() else 0
        locale, _, language, code = self.rng.choice(
            [row for row in LOCALES if row[0] in ("en_US", "es_MX")]
        )
        surname = self.people.names.last_name(self.rng, locale)
        student = self.people.make_student(
            grade_index, section["school"], locale, surname, language, code
        )
        self._write("users", student)
        for n in range(self.rng.choice([1, 2, 2])):
            contact = self.people.make_contact(n, locale, surname, [student], None)
            self._write("users", contact)
            self.contacts.append(contact["id"])
        self._change_section(section, add=student["id"])
        self.students.append(student["id"])
        return True

    def student_withdrawn(self) -> bool:
        """A student leaves the district: removed from sections, then deleted with lone contacts."""
        student = self._random_user(self.students)
        if student is None:
            return False
        for section in self._sections_of(student["id"]):
            self._change_section(section, remove=student["id"])
        for contact_id in self._contacts_of(student["id"]):
            contact = self.store.get("users", contact_id)
            relationships = contact["roles"]["contact"]["student_relationships"]
            remaining = [r for r in relationships if r["student"] != student["id"]]
            if remaining:
                previous = {"roles": {"contact": {"student_relationships": relationships}}}
                contact["roles"]["contact"]["student_relationships"] = remaining
                self._write("users", contact, previous)
            else:
                self._delete("users", contact)
                self.contacts.remove(contact_id)
        self._delete("users", student)
        self.students.remove(student["id"])
        return True

    def contact_phone_changed(self) -> bool:
        contact = self._random_user(self.contacts)
        if contact is None:
            return False
        role = contact["roles"]["contact"]
        previous = {"roles": {"contact": {"phone": role.get("phone")}}}
        role["phone"] = self.people.phone(self.people.next_serial(), style=self.rng.randrange(5))
        role["phone_type"] = role.get("phone_type") or "Cell"
        if previous["roles"]["contact"]["phone"] is None:
            previous["roles"]["contact"]["phone_type"] = None
        self._write("users", contact, previous)
        return True

    def contact_email_changed(self) -> bool:
        contact = self._random_user(self.contacts)
        if contact is None:
            return False
        previous = {"email": contact.get("email")}
        new_email = f"family{self.people.next_serial()}@example.net"
        if "sis_id" not in contact["roles"]["contact"]:
            # No sis_id, no stable id: Clever deletes the contact and creates it anew.
            self._delete("users", contact)
            self.contacts.remove(contact["id"])
            contact = copy.deepcopy(contact)
            contact["id"] = self.ids.mint()
            contact["email"] = new_email
            self._write("users", contact)
            self.contacts.append(contact["id"])
            return True
        contact["email"] = new_email
        self._write("users", contact, previous)
        return True

    def student_moved_section(self) -> bool:
        """A schedule change: a student leaves one section for another of the same course."""
        student = self._random_user(self.students)
        if student is None:
            return False
        for section in self._sections_of(student["id"]):
            sql = "SELECT id FROM sections WHERE course = ? AND school = ? AND id != ? ORDER BY id"
            args = (section["course"], section["school"], section["id"])
            others = [row[0] for row in self.store.db.execute(sql, args)]
            if others:
                target = self.store.get("sections", self.rng.choice(others))
                self._change_section(section, remove=student["id"])
                self._change_section(target, add=student["id"])
                return True
        return False

    def teacher_replaced(self) -> bool:
        """A new teacher is hired and takes over a section as its primary teacher."""
        section = self._random_section()
        if section is None:
            return False
        school = self.store.get("schools", section["school"])
        teacher = self.people.make_teacher(school, "Teacher")
        self._write("users", teacher)
        previous = {"teacher": section.get("teacher"), "teachers": list(section["teachers"])}
        others = [t for t in section["teachers"] if t != section.get("teacher")]
        section["teacher"] = teacher["id"]
        section["teachers"] = [teacher["id"], *others]
        self._write("sections", section, previous)
        return True

    # -- helpers -----------------------------------------------------------------------------
    def _random_user(self, pool: list[str]) -> Record | None:
        return self.store.get("users", self.rng.choice(pool)) if pool else None

    def _random_section(self) -> Record | None:
        count = self.store.count("SELECT count(*) FROM sections")
        if not count:
            return None
        row = self.store.db.execute(
            "SELECT id FROM sections ORDER BY id LIMIT 1 OFFSET ?", (self.rng.randrange(count),)
        ).fetchone()
        return self.store.get("sections", row[0])

    def _sections_of(self, user_id: str) -> list[Record]:
        sql = "SELECT section FROM section_user WHERE user = ? ORDER BY section"
        rows = self.store.db.execute(sql, (user_id,)).fetchall()
        return [self.store.get("sections", row[0]) for row in rows]

    def _contacts_of(self, student_id: str) -> list[str]:
        sql = "SELECT contact FROM contact_student WHERE student = ? ORDER BY contact"
        return [row[0] for row in self.store.db.execute(sql, (student_id,))]

    def _change_section(
        self, section: Record, *, add: str | None = None, remove: str | None = None
    ) -> None:
        previous = {"students": list(section["students"])}
        students = [s for s in section["students"] if s != remove]
        if add and add not in students:
            students.append(add)
        section["students"] = students
        self._write("sections", section, previous)


def _pick(rng: random.Random, options: list[tuple[str, int]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _school_of(record: Record) -> str | None:
    if "school" in record:
        return record["school"]
    roles = record.get("roles", {})
    for role in ("student", "teacher"):
        if role in roles:
            return roles[role].get("school")
    return None


def mutate(
    store: Store, *, changes: int, seed: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Apply `changes` random roster changes in one transaction; return a summary."""
    if changes < 0:
        raise ValueError("changes must be >= 0")
    now = now or datetime.now(UTC)
    if seed is None:
        seed = store.count("SELECT count(*) FROM events") + int(store.meta("seed") or 0)
    with store.transaction():
        return Mutation(store, seed=seed, now=now).apply(changes)
