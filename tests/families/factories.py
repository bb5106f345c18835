"""factory_boy factories for family accounts, invitations and connections, and helpers that
make what the portal's tests start from: a sent invitation (with the token its link carries)
and a family account that can sign in."""

from __future__ import annotations

from datetime import timedelta

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.utils import timezone

from homeroom.directory.models import SectionTeacher, Staff
from homeroom.families.models import Connection, FamilyMember, Invitation
from homeroom.families.tokens import token_new
from tests.directory.factories import DistrictFactory

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.Sequence(lambda n: f"parent{n}@example.net")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(user, create, extracted, **kwargs):
        # allauth lets a person sign in only with a verified address.
        user.save()
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)


class FamilyMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FamilyMember

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Parent {n}")


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    district = factory.SubFactory(DistrictFactory)
    name = "Pat Guardian"
    email = factory.Sequence(lambda n: f"invited{n}@example.net")
    channel = Invitation.Channel.EMAIL
    status = Invitation.Status.SENT
    sent_at = factory.LazyFunction(timezone.now)
    send_count = 1
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=14))


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    relationship = "Parent"


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Staff

    district = factory.SubFactory(DistrictFactory)
    first_name = factory.Sequence(lambda n: f"Teacher{n}")
    last_name = "Example"
    is_teacher = True


class SectionTeacherFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SectionTeacher

    staff = factory.SubFactory(StaffFactory, district=factory.SelfAttribute("..section.district"))
    is_primary = True


def invitation_sent(*, students, **fields) -> tuple[Invitation, str]:
    """An invitation sent for `students` (one pending connection each) and its link's token.

    Stands in for the lead's `invitation_send`: a fresh token whose hash is stored.
    """
    token, token_hash = token_new()
    if students and "district" not in fields:
        fields["district"] = students[0].district
    invitation = InvitationFactory(token_hash=token_hash, **fields)
    for student in students:
        ConnectionFactory(invitation=invitation, student=student, member=invitation.member)
    return invitation, token


def connected_member(*, students, member=None) -> FamilyMember:
    """A family member with accepted, confirmed connections to `students`."""
    member = member or FamilyMemberFactory()
    for student in students:
        invitation = InvitationFactory(
            district=student.district,
            member=member,
            status=Invitation.Status.ACCEPTED,
            accepted_at=timezone.now(),
        )
        ConnectionFactory(
            invitation=invitation,
            student=student,
            member=member,
            status=Connection.Status.CONFIRMED,
        )
    return member
