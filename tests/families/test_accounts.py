"""The portal's services (homeroom.families.accounts) on their own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from homeroom.families import accounts
from homeroom.families.models import Connection, FamilyMember, Invitation, PhoneVerification
from homeroom.notify import sms
from tests.directory.factories import StudentFactory
from tests.families.factories import (
    FamilyMemberFactory,
    StaffFactory,
    UserFactory,
    invitation_sent,
)

pytestmark = pytest.mark.django_db


def decide_all(invitation: Invitation, status=Connection.Status.CONFIRMED) -> None:
    invitation.connections.update(status=status, decided_at=timezone.now())


def test_open_marks_the_first_opening_only():
    invitation, token = invitation_sent(students=[StudentFactory()])
    first = timezone.now()

    accounts.invitation_open(token=token, now=first)
    accounts.invitation_open(token=token, now=first + timedelta(hours=1))

    invitation.refresh_from_db()
    assert invitation.opened_at == first


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"status": Invitation.Status.ACCEPTED}, accounts.USED),
        ({"status": Invitation.Status.REVOKED}, accounts.WITHDRAWN),
        ({"status": Invitation.Status.UNREACHABLE}, accounts.WITHDRAWN),
        ({"status": Invitation.Status.ISSUED}, accounts.WITHDRAWN),
        ({"expires_at": None}, accounts.EXPIRED),
    ],
)
def test_open_refuses_unusable_invitations(fields, reason):
    _, token = invitation_sent(students=[StudentFactory()], **fields)

    with pytest.raises(accounts.InvitationUnusable) as raised:
        accounts.invitation_open(token=token, now=timezone.now())

    assert raised.value.reason == reason


def test_invitation_expires_at_its_time():
    invitation, token = invitation_sent(students=[StudentFactory()])

    accounts.invitation_open(token=token, now=invitation.expires_at - timedelta(seconds=1))
    with pytest.raises(accounts.InvitationUnusable):
        accounts.invitation_open(token=token, now=invitation.expires_at)


def test_accept_attaches_only_confirmed_children_and_uses_the_link_up():
    ada, zed = StudentFactory(), StudentFactory()
    invitation, token = invitation_sent(students=[ada, zed])
    invitation.connections.filter(student=ada).update(status=Connection.Status.CONFIRMED)
    invitation.connections.filter(student=zed).update(status=Connection.Status.DECLINED)
    member = FamilyMemberFactory()

    accounts.invitation_accept(invitation=invitation, member=member, now=timezone.now())

    assert list(member.connections.values_list("student", flat=True)) == [ada.pk]
    with pytest.raises(accounts.InvitationUnusable) as raised:
        accounts.invitation_open(token=token, now=timezone.now())
    assert raised.value.reason == accounts.USED
    with pytest.raises(accounts.InvitationUnusable):
        accounts.invitation_accept(
            invitation=invitation, member=FamilyMemberFactory(), now=timezone.now()
        )


def test_accept_needs_every_child_decided():
    invitation, _ = invitation_sent(students=[StudentFactory(), StudentFactory()])
    invitation.connections.filter(pk=invitation.connections.first().pk).update(
        status=Connection.Status.CONFIRMED
    )

    with pytest.raises(ValueError, match="every child"):
        accounts.invitation_accept(
            invitation=invitation, member=FamilyMemberFactory(), now=timezone.now()
        )
    assert Invitation.objects.get().status == Invitation.Status.SENT


def test_accept_of_a_matched_invitation_by_another_account_is_refused():
    invitation, _ = invitation_sent(students=[StudentFactory()], member=FamilyMemberFactory())
    decide_all(invitation)

    with pytest.raises(accounts.InvitationUnusable) as raised:
        accounts.invitation_accept(
            invitation=invitation, member=FamilyMemberFactory(), now=timezone.now()
        )

    assert raised.value.reason == accounts.WRONG_ACCOUNT


def test_step_walks_through_the_flow():
    user = UserFactory()
    invitation, _ = invitation_sent(students=[StudentFactory(), StudentFactory()])
    anonymous = type("Anonymous", (), {"is_authenticated": False})()

    def step(who):
        return accounts.invitation_step(
            token_hash=invitation.token_hash, user=who, now=timezone.now()
        )

    first = step(anonymous)
    assert (first.kind, first.position, first.total) == ("confirm", 1, 2)
    accounts.connection_confirm(connection=first.connection, now=timezone.now())
    second = step(anonymous)
    assert (second.kind, second.position) == ("confirm", 2)
    assert second.connection != first.connection
    accounts.connection_confirm(connection=second.connection, now=timezone.now())
    assert step(anonymous).kind == "account"
    assert step(user).kind == "accept"
    member = accounts.family_member_for_user(user=user)
    accounts.invitation_accept(invitation=invitation, member=member, now=timezone.now())
    assert step(user).kind == "accepted"
    with pytest.raises(accounts.InvitationUnusable):
        step(anonymous)


@pytest.mark.parametrize(
    ("email", "refused"),
    [
        ("ada@students.hillsd.org", True),  # the child's own address
        ("ADA@Students.HillSD.org", True),
        ("ben@students.hillsd.org", True),  # a sibling's address at the children's school domain
        ("kid@gmail.example", True),  # any student's own address
        ("pat@gmail.example", False),
        ("pat@hillsd.org", False),  # the district's staff domain is not the students'
        ("", False),
    ],
)
def test_personal_email_rule(email, refused):
    ada = StudentFactory(email="ada@students.hillsd.org")
    StudentFactory(email="kid@gmail.example")
    StaffFactory(email="teacher@hillsd.org")

    if refused:
        with pytest.raises(ValueError, match="student's school e-mail"):
            accounts.email_validate_personal(email=email, students=[ada])
    else:
        accounts.email_validate_personal(email=email, students=[ada])


def test_invitation_proves_only_its_own_email():
    by_email, _ = invitation_sent(students=[StudentFactory()], email="pat@example.net")
    by_sms, _ = invitation_sent(
        students=[StudentFactory()], email="pat@example.net", channel=Invitation.Channel.SMS
    )

    assert accounts.invitation_proves_email(invitation=by_email, email=" Pat@Example.NET ")
    assert not accounts.invitation_proves_email(invitation=by_email, email="other@example.net")
    assert not accounts.invitation_proves_email(invitation=by_sms, email="pat@example.net")
    assert not accounts.invitation_proves_email(invitation=None, email="pat@example.net")


def test_family_member_for_user_makes_one_on_first_use():
    user = UserFactory(first_name="Robin", last_name="Staff")

    first = accounts.family_member_for_user(user=user)
    again = accounts.family_member_for_user(user=user)

    assert first == again
    assert first.name == "Robin Staff"
    assert FamilyMember.objects.count() == 1


def test_text_notifications_need_a_verified_phone():
    member = FamilyMemberFactory()

    with pytest.raises(ValueError, match="verify a mobile number"):
        accounts.family_member_update(
            member=member, name="Pat", notify_unread_email=True, notify_unread_sms=True
        )

    member.refresh_from_db()
    assert member.notify_unread_sms is False


def test_phone_verification_texts_a_code_and_verifies_the_number():
    member = FamilyMemberFactory()
    now = timezone.now()

    verification = accounts.phone_verification_start(member=member, phone="(312) 555-0123", now=now)

    assert verification.phone == "+13125550123"
    [message] = sms.outbox
    assert message.to == "+13125550123"
    code = message.body.split("code is ")[1][:6]
    assert code.isdigit()
    assert code not in verification.code_hash
    accounts.phone_verification_confirm(member=member, code=code, now=now)
    member.refresh_from_db()
    assert member.phone == "+13125550123"
    assert member.phone_verified_at == now
    # A verified number allows text notifications
    accounts.family_member_update(
        member=member, name="Pat", notify_unread_email=False, notify_unread_sms=True
    )


def test_phone_code_wrong_expired_or_guessed_too_often():
    member = FamilyMemberFactory()
    now = timezone.now()
    accounts.phone_verification_start(member=member, phone="+13125550123", now=now)
    code = sms.outbox[-1].body.split("code is ")[1][:6]
    wrong = "000000" if code != "000000" else "111111"

    with pytest.raises(ValueError, match="not right"):
        accounts.phone_verification_confirm(member=member, code=wrong, now=now)
    with pytest.raises(ValueError, match="expired"):
        accounts.phone_verification_confirm(
            member=member, code=code, now=now + accounts.PHONE_CODE_LIFETIME
        )
    for _ in range(accounts.PHONE_CODE_MAX_ATTEMPTS - 1):
        with pytest.raises(ValueError):
            accounts.phone_verification_confirm(member=member, code=wrong, now=now)
    # Five wrong guesses: even the right code no longer works
    with pytest.raises(ValueError, match="expired"):
        accounts.phone_verification_confirm(member=member, code=code, now=now)
    member.refresh_from_db()
    assert member.phone == ""


def test_a_new_code_replaces_the_old_one():
    member = FamilyMemberFactory()
    now = timezone.now()
    accounts.phone_verification_start(member=member, phone="+13125550123", now=now)
    old = sms.outbox[-1].body.split("code is ")[1][:6]
    accounts.phone_verification_start(member=member, phone="+13125550199", now=now)
    new = sms.outbox[-1].body.split("code is ")[1][:6]

    if old != new:
        with pytest.raises(ValueError):
            accounts.phone_verification_confirm(member=member, code=old, now=now)
    accounts.phone_verification_confirm(member=member, code=new, now=now)

    member.refresh_from_db()
    assert member.phone == "+13125550199"
    assert PhoneVerification.objects.filter(verified_at__isnull=False).count() == 1


def test_phone_must_be_possible_and_not_another_accounts():
    FamilyMemberFactory(phone="+13125550123", phone_verified_at=timezone.now())
    member = FamilyMemberFactory()

    with pytest.raises(ValueError, match="mobile number"):
        accounts.phone_verification_start(member=member, phone="12", now=timezone.now())
    with pytest.raises(ValueError, match="another family account"):
        accounts.phone_verification_start(member=member, phone="312 555 0123", now=timezone.now())
    assert sms.outbox == []


def test_a_text_that_cannot_be_sent_is_reported(settings):
    settings.HOMEROOM_SMS_BACKEND = "tests.families.test_accounts.RefusingBackend"

    with pytest.raises(ValueError, match="could not send"):
        accounts.phone_verification_start(
            member=FamilyMemberFactory(), phone="+13125550123", now=timezone.now()
        )


class RefusingBackend:
    name = "refusing"

    def send(self, message):
        raise sms.SmsError("unreachable number")
