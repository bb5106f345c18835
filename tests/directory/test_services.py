"""Staff's own writes to the directory: archiving students outside the sync, merging duplicates."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from homeroom.directory.models import AuditEvent, Enrollment, GuardianLink, Student
from homeroom.directory.services import (
    MSG_MERGE_SAME,
    student_merge,
    students_archive_unsynced,
)
from tests.directory.factories import (
    DistrictFactory,
    EnrollmentFactory,
    GuardianContactFactory,
    GuardianLinkFactory,
    SchoolFactory,
    SectionFactory,
    StudentFactory,
    SyncedStudentFactory,
)


@pytest.fixture
def school(db):
    return SchoolFactory()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("admin", password="x")


# -- archiving students outside the sync ------------------------------------------------------
def test_archive_unsynced_archives_only_active_local_students(school, user):
    # given local, synced, and already archived students, and a student of another district
    local = StudentFactory.create_batch(3, school=school)
    synced = SyncedStudentFactory.create_batch(2, school=school)
    archived = StudentFactory(school=school, archived_at="2024-01-01T00:00:00Z")
    elsewhere = StudentFactory()
    # when the district's unsynced students are archived
    count = students_archive_unsynced(district=school.district, user=user)
    # then only the active local ones were
    assert count == 3
    assert all(Student.objects.get(pk=s.pk).archived_at is not None for s in local)
    assert all(Student.objects.get(pk=s.pk).archived_at is None for s in synced)
    assert Student.objects.get(pk=archived.pk).archived_at.year == 2024  # left as it was
    assert Student.objects.get(pk=elsewhere.pk).archived_at is None
    # and it is audited: who, what, which students
    event = AuditEvent.objects.get(district=school.district, action="students_archive_unsynced")
    assert event.user == user
    assert "Archived 3 students" in event.summary
    assert sorted(event.detail["student_ids"]) == sorted(s.pk for s in local)
    assert event.detail["school_id"] is None


def test_archive_unsynced_of_one_school(school):
    other_school = SchoolFactory(district=school.district)
    here = StudentFactory(school=school)
    there = StudentFactory(school=other_school)
    count = students_archive_unsynced(district=school.district, school=school)
    assert count == 1
    assert Student.objects.get(pk=here.pk).archived_at is not None
    assert Student.objects.get(pk=there.pk).archived_at is None
    event = AuditEvent.objects.get(action="students_archive_unsynced")
    assert event.detail == {"student_ids": [here.pk], "school_id": school.pk}
    assert school.name in event.summary


# -- merging duplicates -------------------------------------------------------------------------
def _related(school):
    """Two students sharing one section and one guardian, each with one of their own."""
    keep, other = StudentFactory(school=school), StudentFactory(school=school)
    shared_section, own_section = SectionFactory(school=school), SectionFactory(school=school)
    shared_contact = GuardianContactFactory(district=school.district)
    own_contact = GuardianContactFactory(district=school.district)
    for student in (keep, other):
        EnrollmentFactory(section=shared_section, student=student)
        GuardianLinkFactory(contact=shared_contact, student=student)
    EnrollmentFactory(section=own_section, student=other)
    GuardianLinkFactory(contact=own_contact, student=other, relationship="Grandparent")
    return keep, other, {shared_section.pk, own_section.pk}, {shared_contact.pk, own_contact.pk}


def test_merge_moves_enrollments_and_guardian_links_and_archives_the_other(school, user):
    keep, other, sections, contacts = _related(school)
    merged = student_merge(keep=keep, other=other, user=user)
    assert merged.pk == keep.pk
    # every enrollment and link is now the kept student's, duplicates dropped
    assert (
        set(Enrollment.objects.filter(student=keep).values_list("section", flat=True)) == sections
    )
    assert Enrollment.objects.filter(student=keep).count() == 2
    assert set(GuardianLink.objects.filter(student=keep).values_list("contact", flat=True)) == (
        contacts
    )
    assert GuardianLink.objects.filter(student=keep, relationship="Grandparent").count() == 1
    assert not Enrollment.objects.filter(student=other).exists()
    assert not GuardianLink.objects.filter(student=other).exists()
    other.refresh_from_db()
    assert other.archived_at is not None
    keep.refresh_from_db()
    assert keep.archived_at is None
    event = AuditEvent.objects.get(action="student_merge")
    assert event.user == user and event.district_id == school.district_id
    assert event.detail["kept"] == keep.pk and event.detail["merged"] == other.pk
    assert event.detail["moved"] == {
        "enrollments": 1,
        "guardian_links": 1,
        "family_connections": 0,
    }


def test_merge_inherits_the_other_students_place_in_the_roster(school):
    keep = StudentFactory(school=school)
    other = SyncedStudentFactory(school=school, wire_hash=-42)
    external_id, digest = other.external_id, other.sync_hash
    student_merge(keep=keep, other=other)
    keep.refresh_from_db()
    other.refresh_from_db()
    assert (keep.external_id, keep.sync_hash, keep.sync_managed) == (external_id, digest, True)
    assert keep.wire_hash == -42  # still the roster's confirmed student, for a re-sync
    assert (other.external_id, other.sync_managed, other.wire_hash) == ("", False, None)
    assert other.archived_at is not None


def test_merge_keeps_the_kept_students_identity_when_only_it_is_synced(school):
    keep = SyncedStudentFactory(school=school)
    other = StudentFactory(school=school)
    external_id = keep.external_id
    student_merge(keep=keep, other=other)
    keep.refresh_from_db()
    assert keep.external_id == external_id and keep.sync_managed


def test_merge_refuses_two_synced_students(school):
    keep, other = SyncedStudentFactory(school=school), SyncedStudentFactory(school=school)
    EnrollmentFactory(section=SectionFactory(school=school), student=other)
    with pytest.raises(ValueError) as refused:
        student_merge(keep=keep, other=other)
    assert str(refused.value) == (
        f"Both students are in the roster the district syncs (external ids {keep.external_id} "
        f"and {other.external_id}); merging them would be undone by the next sync. Fix the "
        "duplicate in the SIS instead."
    )
    assert Enrollment.objects.filter(student=other).count() == 1
    assert Student.objects.get(pk=other.pk).archived_at is None
    assert not AuditEvent.objects.exists()


def test_merge_refuses_itself_and_other_districts(school):
    student = StudentFactory(school=school)
    with pytest.raises(ValueError, match=MSG_MERGE_SAME):
        student_merge(keep=student, other=student)
    stranger = StudentFactory(school=SchoolFactory(district=DistrictFactory()))
    with pytest.raises(ValueError, match="different districts"):
        student_merge(keep=student, other=stranger)
    assert not AuditEvent.objects.exists()
