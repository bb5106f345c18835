"""The district generator: deterministic, the sizes it promises, and Clever's messy data."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import pytest

from homeroom.sandbox.generator import SIZES, generate
from homeroom.sandbox.ids import is_object_id
from homeroom.sandbox.store import Store


def _fingerprint(store: Store) -> str:
    digest = hashlib.sha256()
    for table in ("districts", "schools", "terms", "courses", "sections", "users", "resources"):
        for (body,) in store.db.execute(f"SELECT body FROM {table} ORDER BY id"):
            digest.update(body)
    return digest.hexdigest()


def test_same_seed_gives_the_same_district(tiny_path, tmp_path):
    again = Store(tmp_path / "again.sqlite3")
    generate(again, size="tiny", seed=1)
    assert _fingerprint(again) == _fingerprint(Store(tiny_path))


def test_another_seed_gives_another_district(tiny_path, tmp_path):
    other = Store(tmp_path / "other.sqlite3")
    generate(other, size="tiny", seed=2)
    assert _fingerprint(other) != _fingerprint(Store(tiny_path))


def test_unknown_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        generate(Store(tmp_path / "x.sqlite3"), size="huge", seed=1)


@pytest.mark.parametrize("size, schools", [("tiny", 1), ("demo", 4)])
def test_sizes(size, schools, request):
    store = Store(request.getfixturevalue(f"{size}_path"))
    stats = store.stats()
    assert stats["users_by_role"]["student"] == SIZES[size].students
    assert stats["objects"]["schools"] == schools
    assert stats["objects"]["districts"] == 1
    assert stats["users_by_role"]["district_admin"] >= 1
    assert stats["users_by_role"]["teacher"] >= 1
    assert stats["users_by_role"]["staff"] >= 1


def test_ids_are_unique_ascending_object_ids(demo_store):
    ids = [row[0] for row in demo_store.db.execute("SELECT id FROM users")]
    ids += [row[0] for row in demo_store.db.execute("SELECT id FROM sections")]
    assert all(is_object_id(i) for i in ids)
    assert len(set(ids)) == len(ids)
    # Creation order is id order: schools were minted before any student.
    first_student = min(
        row[0] for row in demo_store.db.execute("SELECT user FROM user_role WHERE role = 'student'")
    )
    last_school = max(row[0] for row in demo_store.db.execute("SELECT id FROM schools"))
    assert last_school < first_student


def _users(store, role):
    return [u for u in store.iter_records("users") if role in u["roles"]]


def test_guardian_contacts_are_as_messy_as_real_ones(demo_store):
    contacts = _users(demo_store, "contact")
    students = _users(demo_store, "student")
    links = sum(len(c["roles"]["contact"]["student_relationships"]) for c in contacts)
    assert 1.6 <= links / len(students) <= 2.0  # about 1.8 contacts per student

    reach = Counter((bool(c["email"]), bool(c["roles"]["contact"].get("phone"))) for c in contacts)
    assert set(reach) == {(True, True), (True, False), (False, True), (False, False)}
    phone_types = {c["roles"]["contact"].get("phone_type") for c in contacts}
    assert {"Cell", "Home", "Work", "Other"} <= phone_types
    assert any("sis_id" not in c["roles"]["contact"] for c in contacts)
    assert any(c["name"]["first"] is None and " " in c["name"]["last"] for c in contacts)
    assert any(len(c["roles"]["contact"]["student_relationships"]) > 1 for c in contacts)
    relationships = {
        r["relationship"] for c in contacts for r in c["roles"]["contact"]["student_relationships"]
    }
    kinds = {r["type"] for c in contacts for r in c["roles"]["contact"]["student_relationships"]}
    assert {"Parent", "Grandparent"} <= relationships
    assert {"Parent/Guardian", "Emergency"} <= kinds
    emails = [c["email"] for c in contacts if c["email"]]
    assert any(e != e.strip().lower() for e in emails)  # not normalised, as a SIS sends them


def test_siblings_share_contacts(demo_store):
    contacts = _users(demo_store, "contact")
    shared = [c for c in contacts if len(c["roles"]["contact"]["student_relationships"]) > 1]
    assert len(shared) > len(contacts) * 0.1


def test_names_include_non_ascii(demo_store):
    names = [f"{u['name']['first']} {u['name']['last']}" for u in demo_store.iter_records("users")]
    assert any(not n.isascii() for n in names)


def test_students_look_like_clever_students(demo_store):
    for student in _users(demo_store, "student"):
        role = student["roles"]["student"]
        assert re.fullmatch(r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}", role["dob"])
        assert role["school"] in role["schools"]
        assert role["sis_id"] and role["student_number"] and role["state_id"]
        assert {"student"} == set(student["roles"])  # student roles never combine


def test_sections_have_teachers_and_realistic_sizes(demo_store):
    sections = list(demo_store.iter_records("sections"))
    assert all(s["teacher"] in s["teachers"] for s in sections)
    assert any(len(s["teachers"]) > 1 for s in sections)  # co-teachers
    assert all(1 <= len(s["students"]) <= 35 for s in sections)
    core = [s for s in sections if s["subject"] != "homeroom/advisory" and s["course"]]
    assert sum(20 <= len(s["students"]) <= 35 for s in sections) >= 0.9 * len(sections)
    assert core
    assert any(s["subject"] == "homeroom/advisory" for s in sections)  # elementary homerooms
    assert any(s["period"] not in ("HR", None) for s in sections)  # secondary periods
    name = sections[0]["name"]
    assert name.count(" - ") == 2  # "course - teacher last name - period", as Clever names them


def test_some_employees_hold_several_roles(demo_store):
    employees = [u for u in demo_store.iter_records("users") if len(u["roles"]) > 1]
    assert employees
    assert all(not {"student", "contact"} & set(u["roles"]) for u in employees)
