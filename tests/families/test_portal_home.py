"""The home and child pages: a family sees only the children it confirmed, and of each only the
classrooms Family Access lets families see (seed 000)."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from homeroom.directory.models import AuditEvent
from homeroom.families.models import Connection, Invitation
from tests.directory.factories import EnrollmentFactory, SectionFactory, StudentFactory
from tests.families.factories import (
    ConnectionFactory,
    FamilyMemberFactory,
    SectionTeacherFactory,
    connected_member,
    invitation_sent,
)

pytestmark = pytest.mark.django_db

HOME = reverse("families:home")


def child_url(student) -> str:
    return reverse("families:child", args=[student.pk])


def enroll(student, *, name: str, teacher: str = "", **section_fields):
    section = SectionFactory(
        school=section_fields.pop("school", student.school), name=name, **section_fields
    )
    EnrollmentFactory(section=section, student=student)
    if teacher:
        SectionTeacherFactory(section=section, staff__last_name=teacher)
    return section


def test_home_needs_a_signed_in_account(client):
    response = client.get(HOME)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_family_sees_its_children_with_classes_and_teachers(client):
    ada = StudentFactory(first_name="Ada", school__name="Hill Elementary", grade="3")
    enroll(ada, name="Room 12", teacher="Okafor", period="1")
    member = connected_member(students=[ada])
    client.force_login(member.user)

    page = client.get(HOME).content.decode()

    assert "Ada" in page
    assert "Hill Elementary" in page
    assert "Room 12" in page
    assert "Okafor" in page


def test_family_never_sees_unconfirmed_declined_or_other_childrens_pages(client):
    # Given a member with one confirmed child
    mine = StudentFactory(first_name="Mine")
    member = connected_member(students=[mine])
    # and children it has not confirmed, declined, lost, or that belong to someone else
    pending = StudentFactory(first_name="Pending")
    declined = StudentFactory(first_name="Declined")
    removed = StudentFactory(first_name="Removed")
    for student, status in (
        (pending, Connection.Status.PENDING),
        (declined, Connection.Status.DECLINED),
        (removed, Connection.Status.REMOVED),
    ):
        ConnectionFactory(student=student, member=member, status=status)
    not_yet_accepted, _ = invitation_sent(students=[StudentFactory(first_name="Unaccepted")])
    not_yet_accepted.connections.update(member=member, status=Connection.Status.CONFIRMED)
    someone_elses = StudentFactory(first_name="Other")
    connected_member(students=[someone_elses])
    client.force_login(member.user)

    response = client.get(HOME)
    home = response.content.decode()

    assert [c.student for c in response.context["children"]] == [mine]
    for name in ("Declined", "Removed", "Unaccepted", "Other"):
        assert name not in home
    # A pending child is only asked about, with none of its classes
    assert [c.student for c in response.context["pending"]] == [pending]
    assert client.get(child_url(mine)).status_code == 200
    hidden = [pending, declined, removed, someone_elses, not_yet_accepted.connections.get().student]
    for student in hidden:
        assert client.get(child_url(student)).status_code == 404
    assert client.get(reverse("families:child", args=[999999])).status_code == 404


def test_archived_student_leaves_the_page(client):
    ada = StudentFactory(first_name="Ada")
    member = connected_member(students=[ada])
    ada.archived_at = timezone.now()
    ada.save()
    client.force_login(member.user)

    assert client.get(HOME).context["children"] == []
    assert client.get(child_url(ada)).status_code == 404


def test_family_access_off_for_a_school_keeps_the_child_and_hides_classes(client):
    ada = StudentFactory(first_name="Ada", school__name="Hill Elementary")
    enroll(ada, name="Room 12", teacher="Okafor")
    ada.school.family_access = False
    ada.school.save()
    member = connected_member(students=[ada])
    client.force_login(member.user)

    for url in (HOME, child_url(ada)):
        page = client.get(url).content.decode()
        assert "Ada" in page  # still connected
        assert "Room 12" not in page
        assert "Okafor" not in page
        assert "Hill Elementary has turned Family Access off" in page


def test_family_access_off_for_a_classroom_hides_only_that_classroom(client):
    ada = StudentFactory(first_name="Ada")
    enroll(ada, name="Room 12", teacher="Okafor")
    enroll(ada, name="Art", teacher="Nguyen", family_access=False)
    member = connected_member(students=[ada])
    client.force_login(member.user)

    for url in (HOME, child_url(ada)):
        page = client.get(url).content.decode()
        assert "Room 12" in page and "Okafor" in page
        assert "Art" not in page and "Nguyen" not in page


def test_classroom_of_another_school_follows_that_schools_access(client):
    ada = StudentFactory(first_name="Ada")
    other_school = SectionFactory(school__district=ada.district).school
    other_school.family_access = False
    other_school.save()
    enroll(ada, name="Band", school=other_school)
    enroll(ada, name="Room 12")
    member = connected_member(students=[ada])
    client.force_login(member.user)

    page = client.get(HOME).content.decode()

    assert "Room 12" in page
    assert "Band" not in page


def test_archived_classroom_and_teacher_are_hidden(client):
    ada = StudentFactory(first_name="Ada")
    enroll(ada, name="Old class", archived_at=timezone.now())
    current = enroll(ada, name="Room 12", teacher="Okafor")
    gone = SectionTeacherFactory(section=current, staff__last_name="Departed", is_primary=False)
    gone.staff.archived_at = timezone.now()
    gone.staff.save()
    member = connected_member(students=[ada])
    client.force_login(member.user)

    page = client.get(HOME).content.decode()

    assert "Room 12" in page and "Okafor" in page
    assert "Old class" not in page and "Departed" not in page


def test_children_across_districts_and_a_child_connected_twice_shows_once(client):
    north = StudentFactory(first_name="Ada")
    south = StudentFactory(first_name="Ben")
    member = connected_member(students=[north, south])
    connected_member(students=[north], member=member)  # a second invitation for Ada
    client.force_login(member.user)

    children = client.get(HOME).context["children"]

    assert [c.student for c in children] == [north, south]
    assert {c.student.district for c in children} == {north.district, south.district}


def test_home_page_queries_do_not_grow_with_children_or_classes(client):
    def queries_for(member) -> int:
        client.force_login(member.user)
        with CaptureQueriesContext(db_connection) as queries:
            assert client.get(HOME).status_code == 200
        return len(queries)

    def family(children: int, classes: int):
        students = [StudentFactory() for _ in range(children)]
        for student in students:
            for n in range(classes):
                enroll(student, name=f"Class {n}", teacher=f"T{n}")
        return connected_member(students=students)

    small = queries_for(family(1, 1))
    large = queries_for(family(5, 4))

    # session, user, family member, connections, enrollments, teachers, pending connections
    assert small == large == 7


def test_invitation_member_is_not_enough_to_see_a_child(client):
    # A connection's member alone does not show a child: it has to be confirmed and accepted.
    owner = FamilyMemberFactory()
    invitation, _ = invitation_sent(students=[StudentFactory()], member=owner)
    assert invitation.connections.get().member == owner
    client.force_login(owner.user)

    assert client.get(HOME).context["children"] == []
    Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.ACCEPTED)
    assert client.get(HOME).context["children"] == []  # still pending


def test_child_added_later_is_asked_about_on_the_home_page(client):
    # Given an accepted invitation to which the sync later added a second child
    ada = StudentFactory(first_name="Ada")
    member = connected_member(students=[ada])
    invitation = member.invitations.get()
    ben = StudentFactory(first_name="Ben", district=ada.district, school__name="Lake Middle")
    enroll(ben, name="Room 7")
    later = ConnectionFactory(invitation=invitation, student=ben, member=member)
    client.force_login(member.user)

    # Then the home page asks about Ben, without showing his classes
    response = client.get(HOME)
    assert [c.student for c in response.context["pending"]] == [ben]
    assert "Lake Middle" in response.content.decode()
    assert "Room 7" not in response.content.decode()
    assert client.get(child_url(ben)).status_code == 404

    # When the parent confirms, Ben joins the children
    client.post(reverse("families:pending_confirm", args=[later.pk]))
    response = client.get(HOME)
    assert [c.student for c in response.context["children"]] == [ada, ben]
    assert response.context["pending"] == []
    assert "Room 7" in response.content.decode()


def test_child_added_later_can_be_declined(client):
    ada = StudentFactory(first_name="Ada")
    member = connected_member(students=[ada])
    stranger = StudentFactory(first_name="Zed", district=ada.district)
    later = ConnectionFactory(invitation=member.invitations.get(), student=stranger, member=member)
    client.force_login(member.user)

    ask = client.get(reverse("families:pending_decline", args=[later.pk]))
    client.post(reverse("families:pending_decline", args=[later.pk]))

    assert "Zed" in ask.content.decode()
    later.refresh_from_db()
    assert later.status == Connection.Status.DECLINED
    event = AuditEvent.objects.get(action="connection_declined")
    assert event.user == member.user
    assert event.detail["student_id"] == stranger.pk
    assert client.get(HOME).context["pending"] == []


def test_another_familys_pending_child_cannot_be_decided(client):
    owner = connected_member(students=[StudentFactory()])
    theirs = ConnectionFactory(
        invitation=owner.invitations.get(), student=StudentFactory(), member=owner
    )
    client.force_login(FamilyMemberFactory().user)

    for name in ("pending_confirm", "pending_decline"):
        assert client.post(reverse(f"families:{name}", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Connection.Status.PENDING
