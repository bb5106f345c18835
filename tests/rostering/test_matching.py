"""Matching: sync adopts rows an admin created by hand instead of creating duplicates."""

from __future__ import annotations

from homeroom.directory.models import School, Staff, Student
from tests.rostering.conftest import completed, new_district, sync_from, users_with_role


def test_school_with_a_hand_set_external_id_is_adopted(db, tiny_store):
    # given a school an admin created and matched to the Clever school by its id
    record = next(tiny_store.iter_records("schools"))
    district = new_district()
    school = School.objects.create(district=district, name="Our school", external_id=record["id"])
    # when the district syncs
    run = completed(sync_from(district, tiny_store))
    # then that school is the roster's school: same row, now sync-managed, no duplicate
    assert School.objects.filter(district=district).count() == 1
    school.refresh_from_db()
    assert school.sync_managed
    assert school.name == record["name"]
    assert school.changed_by_run == run
    assert run.counts["schools"] == {**run.counts["schools"], "created": 0, "updated": 1}
    assert set(Student.objects.filter(district=district).values_list("school", flat=True)) == {
        school.pk
    }


def _local_school(district) -> School:
    return School.objects.create(district=district, name="Added by hand")


def test_local_student_with_the_same_sis_id_is_adopted(db, tiny_store):
    # given a student added by hand with the SIS id of a roster student
    record = users_with_role(tiny_store, "student")[0]
    district = new_district()
    local = Student.objects.create(
        district=district,
        school=_local_school(district),
        first_name="Typed",
        last_name="By hand",
        sis_id=record["roles"]["student"]["sis_id"],
        notes="allergic to peanuts",
    )
    # when the district syncs
    run = completed(sync_from(district, tiny_store))
    # then the roster student is that row: same pk, sync-managed, the roster's values
    adopted = Student.objects.get(district=district, external_id=record["id"])
    assert adopted.pk == local.pk
    assert adopted.sync_managed
    assert adopted.first_name == record["name"]["first"]
    assert adopted.school.external_id == record["roles"]["student"]["school"]
    assert adopted.notes == "allergic to peanuts"  # fields sync does not own are kept
    assert Student.objects.filter(district=district).count() == 30
    assert run.counts["students"]["created"] == 29
    assert run.counts["students"]["updated"] == 1
    # and the next run leaves it alone
    again = completed(sync_from(district, tiny_store))
    assert again.counts["students"]["unchanged"] == 30


def test_ambiguous_local_match_is_not_adopted(db, tiny_store):
    # given two students added by hand with the same SIS id as a roster student
    record = users_with_role(tiny_store, "student")[0]
    district = new_district()
    school = _local_school(district)
    sis_id = record["roles"]["student"]["sis_id"]
    locals_ = [
        Student.objects.create(district=district, school=school, first_name=n, sis_id=sis_id)
        for n in ("One", "Two")
    ]
    # when the district syncs
    completed(sync_from(district, tiny_store))
    # then neither is adopted: the roster student is a new row
    synced = Student.objects.get(district=district, external_id=record["id"])
    assert synced.pk not in {s.pk for s in locals_}
    for local in locals_:
        local.refresh_from_db()
        assert local.external_id == "" and not local.sync_managed
        assert local.archived_at is None  # sync never archives local rows
    assert Student.objects.filter(district=district).count() == 32


def test_local_staff_with_the_same_email_is_adopted(db, tiny_store):
    record = next(u for u in users_with_role(tiny_store, "teacher") if u.get("email"))
    district = new_district()
    local = Staff.objects.create(
        district=district, first_name="Typed", email=f"  {record['email'].upper()} "
    )
    completed(sync_from(district, tiny_store))
    adopted = Staff.objects.get(district=district, external_id=record["id"])
    assert adopted.pk == local.pk and adopted.sync_managed
    assert adopted.email == record["email"].lower()
