"""Every sync setting (seeds 002-004), against the sandbox: what it syncs, what it leaves out,
and that changing it re-writes the affected rows on the next sync."""

from __future__ import annotations

import pytest
from django.utils import timezone

from homeroom.directory.models import (
    Course,
    Enrollment,
    GuardianContact,
    GuardianLink,
    School,
    Section,
    Staff,
    Student,
    Term,
)
from homeroom.rostering.models import SyncRun
from homeroom.rostering.services import ERR_NO_SCHOOLS, district_settings_update
from homeroom.rostering.sync.contacts import phone_e164
from homeroom.rostering.sync.reconcile import WARN_NO_REACH, WARN_NO_SCHOOL
from homeroom.sandbox.store import Store
from tests.rostering.conftest import (
    completed,
    new_district,
    snapshot,
    sync_from,
    table_dump,
    users_with_role,
)


def _student_ids(store: Store, school: str) -> set[str]:
    return {
        s["id"]
        for s in users_with_role(store, "student")
        if school
        in {s["roles"]["student"].get("school"), *s["roles"]["student"].get("schools", [])}
    }


def _held(model, district, **filters) -> set[str]:
    return set(
        model.objects.filter(district=district, **filters).values_list("external_id", flat=True)
    )


def _active(model, district) -> set[str]:
    return _held(model, district, archived_at=None)


def _contacts(store: Store, predicate) -> list[dict]:
    return [c for c in users_with_role(store, "contact") if predicate(c)]


# -- scope -------------------------------------------------------------------------------------
def test_scope_one_school_syncs_only_that_school(db, demo_store):
    # given a district that syncs one school of the four
    school = sorted(s["id"] for s in demo_store.iter_records("schools"))[1]
    district = new_district(all_schools=False, school_ids=[school])
    # when it syncs
    run = completed(sync_from(district, demo_store))
    # then only that school, its sections and its students are held
    assert _held(School, district) == {school}
    sections = {s["id"] for s in demo_store.iter_records("sections") if s["school"] == school}
    assert sections and _held(Section, district) == sections
    students = _student_ids(demo_store, school)
    assert students and _held(Student, district) == students
    assert set(
        Student.objects.filter(district=district).values_list("school__external_id", flat=True)
    ) == {school}
    # and staff with no school in scope are not synced; district admins are kept
    employees = [
        u
        for role in ("teacher", "staff", "district_admin")
        for u in users_with_role(demo_store, role)
    ]
    in_scope, admins, out_of_scope = set(), set(), set()
    for user in employees:
        roles = user["roles"]
        schools = {
            s
            for role in ("teacher", "staff")
            if role in roles
            for s in [roles[role].get("school"), *(roles[role].get("schools") or [])]
            if s
        }
        if school in schools:
            in_scope.add(user["id"])
        elif "district_admin" in roles:
            admins.add(user["id"])
        else:
            out_of_scope.add(user["id"])
    assert admins and out_of_scope
    assert _held(Staff, district) == in_scope | admins
    # (schools that are in the roster but out of scope are no sharing problem: no warning)
    warned = {w["external_id"] for w in run.warnings if w["reason"] == WARN_NO_SCHOOL}
    assert not out_of_scope & warned
    # and a district admin of several schools is linked to the school in scope only
    linked = set(
        Staff.schools.through.objects.filter(staff__district=district).values_list(
            "school__external_id", flat=True
        )
    )
    assert linked == {school}


def _narrowed(store: Store):
    """A district synced with all its schools, then narrowed to one (forced past the threshold:
    most students leave the scope)."""
    district = new_district()
    completed(sync_from(district, store))
    kept = sorted(s["id"] for s in store.iter_records("schools"))[1]
    district_settings_update(
        district=district, changes={"all_schools": False, "school_ids": [kept]}
    )
    run = completed(sync_from(district, store, force=True))
    return district, kept, run


def test_narrowing_the_scope_archives_schools_sections_and_students(db, demo_store):
    district, kept, _ = _narrowed(demo_store)
    # rows of the other schools are archived, not deleted
    assert _active(School, district) == {kept}
    assert _held(School, district) == {s["id"] for s in demo_store.iter_records("schools")}
    assert _active(Student, district) == _student_ids(demo_store, kept)
    assert _active(Section, district) == {
        s["id"] for s in demo_store.iter_records("sections") if s["school"] == kept
    }
    assert Student.objects.filter(district=district).count() == 600


def test_narrowing_the_scope_archives_staff_of_other_schools(db, demo_store):
    district, kept, run = _narrowed(demo_store)
    only_elsewhere = {
        s.external_id
        for s in Staff.objects.filter(district=district, is_district_admin=False)
        if kept not in set(s.schools.values_list("external_id", flat=True))
    }
    assert only_elsewhere
    assert _active(Staff, district) & only_elsewhere == set()
    # nor does a second run archive them (it skips them with a warning instead)
    completed(sync_from(district, demo_store, force=True))
    assert _active(Staff, district) & only_elsewhere == set()


def test_no_selected_school_in_the_roster_fails_the_run(db, tiny_store):
    # given a district whose selected school is not in the roster
    district = new_district(all_schools=False, school_ids=["5f0000000000000000000000"])
    # when it syncs
    run = sync_from(district, tiny_store)
    # then the run failed with a code and a message naming the school, and wrote nothing
    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == ERR_NO_SCHOOLS == "school_not_found"
    assert "5f0000000000000000000000" in run.error_message
    assert run.finished_at is not None
    assert all(rows == [] for rows in table_dump(district).values())


# -- classrooms --------------------------------------------------------------------------------
def test_sync_classrooms_off_syncs_no_classroom_data(db, tiny_store):
    district = new_district(sync_classrooms=False)
    run = completed(sync_from(district, tiny_store))
    for model in (Section, Term, Course):
        assert not model.objects.filter(district=district).exists()
    assert not Enrollment.objects.filter(student__district=district).exists()
    assert run.counts["sections"]["created"] == 0
    assert Student.objects.filter(district=district).count() == 30


def test_sync_classrooms_turned_off_keeps_existing_classrooms(db, tiny_store):
    # given a district synced with classrooms
    district = new_district()
    completed(sync_from(district, tiny_store))
    before = snapshot(district)
    # when classroom sync is turned off and it syncs again
    district_settings_update(district=district, changes={"sync_classrooms": False})
    run = completed(sync_from(district, tiny_store))
    # then no classroom, term or course is archived and enrollments stay
    after = snapshot(district)
    for name in ("sections", "terms", "courses", "enrollments", "section_teachers"):
        assert after[name] == before[name] and after[name], name
        assert run.counts.get(name, {}).get("archived", 0) == 0


def test_unique_class_names(db, tiny_store):
    # given a district synced with plain names
    district = new_district()
    completed(sync_from(district, tiny_store))
    records = {s["id"]: s for s in tiny_store.iter_records("sections")}
    plain = dict(Section.objects.filter(district=district).values_list("external_id", "name"))
    assert plain == {i: s["name"] for i, s in records.items()}
    # when unique class names are turned on (a changed setting re-writes the rows)
    district_settings_update(district=district, changes={"unique_class_names": True})
    run = completed(sync_from(district, tiny_store))
    # then each name is "Name - sis_id" (seed 003: "Classroom1 - 12345")
    unique = dict(Section.objects.filter(district=district).values_list("external_id", "name"))
    assert unique == {i: f"{s['name']} - {s['sis_id']}" for i, s in records.items()}
    assert run.counts["sections"]["updated"] == len(records)
    # and enrollments were rewritten as they were
    assert Enrollment.objects.filter(section__district=district).count() == sum(
        len(s["students"]) for s in records.values()
    )


def _remove_and_restore_section(store: Store, district, *, unarchive: bool):
    """Sync, take a section out of the roster, sync, put it back, sync; return the section."""
    district_settings_update(
        district=district,
        changes={"unarchive_classrooms": unarchive, "deletion_threshold_percent": 50},
    )
    completed(sync_from(district, store))
    record = next(store.iter_records("sections"))
    # when the section leaves the roster
    store.delete("sections", record["id"])
    run = completed(sync_from(district, store))
    assert run.counts["sections"]["archived"] == 1
    section = Section.objects.get(district=district, external_id=record["id"])
    assert section.archived_at is not None
    # and comes back
    store.replace("sections", record)
    run = completed(sync_from(district, store))
    section.refresh_from_db()
    return section, run


def test_unarchive_classrooms_on_brings_a_returning_section_back(db, tiny_store):
    section, run = _remove_and_restore_section(tiny_store, new_district(), unarchive=True)
    assert section.archived_at is None
    assert run.counts["sections"]["unarchived"] == 1


def test_unarchive_classrooms_off_leaves_a_returning_section_archived(db, tiny_store):
    section, run = _remove_and_restore_section(tiny_store, new_district(), unarchive=False)
    assert section.archived_at is not None
    assert run.counts["sections"]["unarchived"] == 0
    assert run.counts["sections"]["archived"] == 0


# -- students ----------------------------------------------------------------------------------
def test_student_id_sis_id_then_student_number(db, tiny_store):
    records = {s["id"]: s["roles"]["student"] for s in users_with_role(tiny_store, "student")}
    assert all(r["sis_id"] != r["student_number"] for r in records.values())
    district = new_district()
    completed(sync_from(district, tiny_store))
    held = dict(Student.objects.filter(district=district).values_list("external_id", "student_id"))
    assert held == {i: r["sis_id"] for i, r in records.items()}
    # when the district shows the student number instead
    district_settings_update(district=district, changes={"student_id": "student_number"})
    run = completed(sync_from(district, tiny_store))
    held = dict(Student.objects.filter(district=district).values_list("external_id", "student_id"))
    assert held == {i: r["student_number"] for i, r in records.items()}
    assert run.counts["students"]["updated"] == 30
    # the SIS id itself is kept
    assert set(Student.objects.filter(district=district).values_list("sis_id", flat=True)) == {
        r["sis_id"] for r in records.values()
    }


def _withdraw_one_student(store: Store, archived_students: str):
    district = new_district(archived_students=archived_students)
    completed(sync_from(district, store))
    record = users_with_role(store, "student")[0]
    store.delete("users", record["id"])
    run = completed(sync_from(district, store))
    return Student.objects.get(district=district, external_id=record["id"]), run


def test_archived_students_archive(db, tiny_store):
    student, run = _withdraw_one_student(tiny_store, "archive")
    assert student.archived_at is not None
    assert run.counts["students"]["archived"] == 1


def test_archived_students_keep_active(db, tiny_store):
    student, run = _withdraw_one_student(tiny_store, "keep_active")
    assert student.archived_at is None
    assert run.counts["students"]["archived"] == 0


# -- guardians ---------------------------------------------------------------------------------
def test_manage_guardians_off_syncs_no_contacts(db, tiny_store):
    district = new_district(manage_guardians=False)
    run = completed(sync_from(district, tiny_store))
    assert not GuardianContact.objects.filter(district=district).exists()
    assert not GuardianLink.objects.filter(student__district=district).exists()
    assert run.counts["contacts"]["created"] == 0
    assert not [w for w in run.warnings if w["reason"] == WARN_NO_REACH]


def test_contact_types_and_relationships_filters(db, demo_store):
    # given a district that syncs only Parent/Guardian contacts who are parents
    district = new_district(contact_types=["Parent/Guardian"], relationships=["Parent"])
    completed(sync_from(district, demo_store))
    # then every link is of that type and relationship, and every such reachable link is there
    links = set(
        GuardianLink.objects.filter(contact__district=district).values_list(
            "contact__external_id", "student__external_id", "relationship", "contact_type"
        )
    )
    expected = {
        (c["id"], r["student"], r["relationship"], r["type"])
        for c in users_with_role(demo_store, "contact")
        if c.get("email") or c["roles"]["contact"].get("phone")
        for r in c["roles"]["contact"]["student_relationships"]
        if r.get("type") == "Parent/Guardian" and r.get("relationship") == "Parent"
    }
    assert expected and links == expected
    # and contacts with no link of that kind are not synced at all
    assert _held(GuardianContact, district) == {c for c, *_ in expected}


def test_empty_contact_type_counts_as_other(db, demo_store):
    # given a district that syncs only relationships "Other"; the demo has blank ones too
    district = new_district(relationships=["Other"])
    completed(sync_from(district, demo_store))
    kinds = set(
        GuardianLink.objects.filter(contact__district=district).values_list(
            "relationship", flat=True
        )
    )
    assert kinds == {"Other", ""}


def _phones(district) -> dict[str, tuple[str, str]]:
    return {
        c.external_id: (c.sms_phone, c.home_phone)
        for c in GuardianContact.objects.filter(district=district)
    }


def test_sms_phone_type_cell_then_work_then_home(db, tiny_store):
    contacts = {c["id"]: c["roles"]["contact"] for c in users_with_role(tiny_store, "contact")}
    by_type = {
        kind: {i for i, c in contacts.items() if c.get("phone_type") == kind and c.get("phone")}
        for kind in ("Cell", "Work", "Home")
    }
    assert all(by_type.values())
    district = new_district()
    for sms_type in ("Cell", "Work", "Home"):
        # when the district chooses this phone type for SMS
        district_settings_update(district=district, changes={"sms_phone_type": sms_type})
        completed(sync_from(district, tiny_store))
        phones = _phones(district)
        for contact_id, (sms, home) in phones.items():
            phone, kind = contacts[contact_id].get("phone"), contacts[contact_id].get("phone_type")
            # then only numbers of that type are SMS numbers, in E.164 …
            if kind == sms_type and sms_type != "Home":
                assert sms == phone_e164(phone) and sms.startswith("+1"), (sms_type, contact_id)
            else:
                assert sms == "", (sms_type, contact_id)
            # … and a Home number is the home phone, never the SMS number
            assert home == (phone_e164(phone) if kind == "Home" else ""), contact_id
        assert {i for i, (sms, _) in phones.items() if sms} == (
            by_type[sms_type] if sms_type != "Home" else set()
        )


def test_contact_without_email_or_phone_is_skipped_with_a_warning(db, tiny_store):
    # given a contact whose e-mail is not an address and who has no phone
    contact = next(c for c in users_with_role(tiny_store, "contact") if c.get("email"))
    contact["email"] = "not an address"
    contact["roles"]["contact"].pop("phone", None)
    tiny_store.replace("users", contact)
    district = new_district()
    run = completed(sync_from(district, tiny_store))
    assert not GuardianContact.objects.filter(district=district, external_id=contact["id"]).exists()
    assert {"entity": "contacts", "external_id": contact["id"], "reason": WARN_NO_REACH} in (
        run.warnings
    )


def _claimed_contact_changes(store: Store, *, update_active: bool):
    district = new_district(update_active_contacts=update_active)
    completed(sync_from(district, store))
    record = next(
        c
        for c in users_with_role(store, "contact")
        if c.get("email") and c["roles"]["contact"].get("sis_id")
    )
    contact = GuardianContact.objects.get(district=district, external_id=record["id"])
    old_email = contact.email
    # given the contact claimed their account
    GuardianContact.objects.filter(pk=contact.pk).update(claimed_at=timezone.now())
    # when the SIS changes their e-mail and name
    record["email"] = "new.address@example.org"
    record["name"]["first"] = "Renamed"
    store.replace("users", record)
    completed(sync_from(district, store))
    contact.refresh_from_db()
    return contact, old_email


def test_update_active_contacts_off_keeps_a_claimed_contacts_email(db, tiny_store):
    contact, old_email = _claimed_contact_changes(tiny_store, update_active=False)
    assert contact.email == old_email != "new.address@example.org"
    assert contact.first_name == "Renamed"


def test_update_active_contacts_on_takes_the_new_email(db, tiny_store):
    contact, _ = _claimed_contact_changes(tiny_store, update_active=True)
    assert contact.email == "new.address@example.org"
    assert contact.first_name == "Renamed"


def test_update_active_contacts_off_keeps_a_claimed_staff_email(db, tiny_store):
    district = new_district()
    completed(sync_from(district, tiny_store))
    record = users_with_role(tiny_store, "teacher")[0]
    staff = Staff.objects.get(district=district, external_id=record["id"])
    Staff.objects.filter(pk=staff.pk).update(claimed_at=timezone.now())
    record["email"] = "moved@example.org"
    record["name"]["last"] = "Renamed"
    tiny_store.replace("users", record)
    completed(sync_from(district, tiny_store))
    staff.refresh_from_db()
    assert staff.email != "moved@example.org"
    assert staff.last_name == "Renamed"


def _withdraw_contact(store: Store, *, remove_departed: bool):
    """Sync; one contact leaves the roster and another loses one of its two students; sync."""
    district = new_district(remove_departed_guardians=remove_departed)
    completed(sync_from(district, store))
    contacts = [c for c in users_with_role(store, "contact") if c.get("email")]
    gone = contacts[0]
    store.delete("users", gone["id"])
    shared = next(
        c
        for c in contacts[1:]
        if len({r["student"] for r in c["roles"]["contact"]["student_relationships"]}) >= 2
    )
    relationships = shared["roles"]["contact"]["student_relationships"]
    dropped = relationships[0]["student"]
    shared["roles"]["contact"]["student_relationships"] = [
        r for r in relationships if r["student"] != dropped
    ]
    store.replace("users", shared)
    run = completed(sync_from(district, store))
    return district, gone["id"], shared["id"], dropped, run


def test_remove_departed_guardians_off_keeps_contacts_and_links(db, tiny_store):
    district, gone, shared, dropped, run = _withdraw_contact(tiny_store, remove_departed=False)
    contact = GuardianContact.objects.get(district=district, external_id=gone)
    assert contact.archived_at is None
    assert contact.links.exists()
    assert GuardianLink.objects.filter(
        contact__external_id=shared, contact__district=district, student__external_id=dropped
    ).exists()
    assert run.counts["contacts"]["archived"] == 0


def test_remove_departed_guardians_on_archives_contacts_and_removes_links(db, tiny_store):
    district, gone, shared, dropped, run = _withdraw_contact(tiny_store, remove_departed=True)
    contact = GuardianContact.objects.get(district=district, external_id=gone)
    assert contact.archived_at is not None
    assert not contact.links.exists()
    assert run.counts["contacts"]["archived"] == 1
    shared_links = GuardianLink.objects.filter(
        contact__external_id=shared, contact__district=district
    )
    assert shared_links.exists()
    assert not shared_links.filter(student__external_id=dropped).exists()


@pytest.mark.parametrize("remove_departed", [False, True])
def test_an_updated_contact_keeps_its_link_rows_and_a_changed_relationship_is_set_in_place(
    db, tiny_store, remove_departed
):
    # given a synced contact of two students
    district = new_district(remove_departed_guardians=remove_departed)
    completed(sync_from(district, tiny_store))
    contact = next(
        c
        for c in users_with_role(tiny_store, "contact")
        if len({r["student"] for r in c["roles"]["contact"]["student_relationships"]}) >= 2
    )
    links = GuardianLink.objects.filter(
        contact__external_id=contact["id"], contact__district=district
    )
    before = dict(links.values_list("student__external_id", "pk"))
    # when its phone changes and so does its relationship to one of them
    contact["phone"] = "555-201-0199"
    changed = contact["roles"]["contact"]["student_relationships"][0]
    changed["relationship"] = "Aunt/Uncle" if changed["relationship"] != "Aunt/Uncle" else "Other"
    tiny_store.replace("users", contact)
    run = completed(sync_from(district, tiny_store))
    # then the contact is updated, its links are the same rows, and the one relationship moved
    assert run.counts["contacts"]["updated"] == 1
    assert dict(links.values_list("student__external_id", "pk")) == before
    assert (
        links.get(student__external_id=changed["student"]).relationship == changed["relationship"]
    )


# -- the deletion threshold ----------------------------------------------------------------------
def test_deletion_threshold_blocks_mass_archiving_until_forced(db, tiny_store):
    # given a district synced with its 30 students
    district = new_district()
    completed(sync_from(district, tiny_store))
    # when 4 of them (13 %, more than the 10 % threshold) leave the roster
    gone = [s["id"] for s in users_with_role(tiny_store, "student")[:4]]
    for student_id in gone:
        tiny_store.delete("users", student_id)
    run = completed(sync_from(district, tiny_store))
    # then nothing is archived and the first warning says why
    assert not Student.objects.filter(district=district).exclude(archived_at=None).exists()
    assert all(counts["archived"] == 0 for counts in run.counts.values())
    first = run.warnings[0]
    assert first["entity"] == "students"
    assert "Nothing was archived" in first["reason"]
    assert "4 of 30 students" in first["reason"] and "10 %" in first["reason"]
    assert "--force" in first["reason"]
    # when the run is forced
    forced = completed(sync_from(district, tiny_store, force=True))
    assert forced.forced
    assert _held(Student, district, archived_at__isnull=False) == set(gone)
    assert forced.counts["students"]["archived"] == 4


def test_deletion_threshold_allows_archiving_within_it(db, tiny_store):
    district = new_district()
    completed(sync_from(district, tiny_store))
    # 3 of 30 is exactly 10 %: within the threshold
    gone = [s["id"] for s in users_with_role(tiny_store, "student")[:3]]
    for student_id in gone:
        tiny_store.delete("users", student_id)
    run = completed(sync_from(district, tiny_store))
    assert _held(Student, district, archived_at__isnull=False) == set(gone)
    assert not any("Nothing was archived" in w["reason"] for w in run.warnings)


# -- changing settings -------------------------------------------------------------------------
def test_changing_a_setting_rewrites_only_the_affected_rows(db, tiny_store):
    district = new_district()
    completed(sync_from(district, tiny_store))
    # when the SMS phone type changes
    district_settings_update(district=district, changes={"sms_phone_type": "Work"})
    run = completed(sync_from(district, tiny_store))
    # then contacts are re-written and nothing else is
    contacts = GuardianContact.objects.filter(district=district).count()
    assert run.counts["contacts"]["updated"] == contacts
    for name in ("schools", "terms", "courses", "sections", "staff", "students"):
        assert run.counts[name]["updated"] == 0, name
    assert (
        not GuardianContact.objects.filter(district=district).exclude(changed_by_run=run).exists()
    )
    # and the next run with the same settings writes nothing
    again = completed(sync_from(district, tiny_store))
    assert all(c["updated"] == c["created"] == 0 for c in again.counts.values())
