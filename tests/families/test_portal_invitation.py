"""The invitation flow of seed 001, as a person goes through it: open the link, confirm or decline
each child, create an account or sign in, and find the children on the home page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from homeroom.directory.models import AuditEvent
from homeroom.families.models import Connection, FamilyMember, Invitation
from homeroom.families.services import invitation_issue, invitation_resend
from homeroom.families.tokens import token_new
from homeroom.notify import sms
from homeroom.rostering.models import SyncSettings
from tests.directory.factories import GuardianContactFactory, StudentFactory
from tests.families.factories import (
    PASSWORD,
    FamilyMemberFactory,
    connected_member,
    invitation_sent,
)

pytestmark = pytest.mark.django_db

INVITATION = reverse("families:invitation")
HOME = reverse("families:home")
CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def link(token: str) -> str:
    return f"/i/{token}"


def open_link(client, token: str):
    return client.post(link(token))


def confirm_all(client, invitation: Invitation) -> None:
    for connection in invitation.connections.order_by("pk"):
        response = client.post(reverse("families:connection_confirm", args=[connection.pk]))
        assert response.status_code == 302


def sign_up(client, *, email: str, name: str = "Pat Guardian", password: str = PASSWORD):
    return client.post(
        reverse("account_signup") + f"?next={INVITATION}",
        {"name": name, "email": email, "password1": password},
    )


def sign_in(client, *, email: str, password: str = PASSWORD, next_url: str = INVITATION):
    return client.post(
        reverse("account_login"), {"login": email, "password": password, "next": next_url}
    )


def home_children(client) -> list[str]:
    response = client.get(HOME)
    assert response.status_code == 200
    return [f"{c.student.first_name} {c.student.last_name}" for c in response.context["children"]]


def test_link_reveals_nothing_before_it_is_opened(client):
    student = StudentFactory(first_name="Ada", last_name="Lovelace", school__name="Hill Elementary")
    invitation, token = invitation_sent(students=[student], name="Pat Guardian")

    response = client.get(link(token))

    assert response.status_code == 200
    page = response.content.decode()
    for secret in ("Ada", "Lovelace", "Hill Elementary", "Pat Guardian", invitation.email):
        assert secret not in page
    assert "Open the invitation" in page
    assert response["Referrer-Policy"] == "strict-origin"
    assert "no-store" in response["Cache-Control"]
    invitation.refresh_from_db()
    assert invitation.opened_at is None


def test_a_get_of_an_unknown_link_looks_like_any_other(client):
    _, token = invitation_sent(students=[StudentFactory()])

    real = client.get(link(token)).content.decode()
    unknown = client.get(link("A" * 22)).content.decode()

    # The same page but for the CSRF token, which is masked afresh on every response
    assert CSRF_VALUE.sub("", real) == CSRF_VALUE.sub("", unknown)


def test_opening_shows_school_and_child_then_the_next_child(client):
    # Given an invitation listing two children at two schools
    ada = StudentFactory(first_name="Ada", school__name="Hill Elementary", grade="3")
    ben = StudentFactory(first_name="Ben", school__name="Lake Middle", district=ada.district)
    invitation, token = invitation_sent(students=[ben, ada])

    # When the person opens it
    response = open_link(client, token)

    # Then they land on the invitation page (the token is no longer in the address)
    assert response.status_code == 302
    assert response["Location"] == INVITATION
    page = client.get(INVITATION)
    assert page["Referrer-Policy"] == "strict-origin"
    assert page.context["step"].connection.student == ada
    assert "Hill Elementary" in page.content.decode()
    assert "Child 1 of 2" in page.content.decode()
    invitation.refresh_from_db()
    assert invitation.opened_at is not None

    # And confirming the first child shows the second
    client.post(reverse("families:connection_confirm", args=[page.context["step"].connection.pk]))
    page = client.get(INVITATION)
    assert page.context["step"].connection.student == ben
    assert "Lake Middle" in page.content.decode()
    assert "Child 2 of 2" in page.content.decode()


def test_new_parent_confirms_two_children_signs_up_and_sees_them(client):
    ada = StudentFactory(first_name="Ada", last_name="Park")
    ben = StudentFactory(first_name="Ben", last_name="Park", district=ada.district)
    contact = GuardianContactFactory(district=ada.district)
    invitation, token = invitation_sent(
        students=[ada, ben], email="pat@example.net", contact=contact
    )
    open_link(client, token)
    confirm_all(client, invitation)

    account_step = client.get(INVITATION)
    assert account_step.context["step"].kind == "account"
    signup_page = client.get(reverse("account_signup") + f"?next={INVITATION}")
    assert signup_page.context["form"]["email"].initial == "pat@example.net"
    assert signup_page.context["form"]["name"].initial == "Pat Guardian"

    # The invitation's own address counts as verified: signed in at once, no e-mail needed.
    response = sign_up(client, email="pat@example.net")
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 302  # the invitation page: done
    assert home_children(client) == ["Ada Park", "Ben Park"]

    invitation.refresh_from_db()
    member = FamilyMember.objects.get(user__email="pat@example.net")
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.member == member
    assert invitation.accepted_at is not None
    assert set(invitation.connections.values_list("member", "status")) == {
        (member.pk, Connection.Status.CONFIRMED)
    }
    contact.refresh_from_db()
    assert contact.claimed_at is not None
    assert member.name == "Pat Guardian"


def test_signing_up_with_another_address_asks_to_verify_it(client):
    student = StudentFactory(first_name="Ada")
    invitation, token = invitation_sent(students=[student], email="pat@example.net")
    open_link(client, token)
    confirm_all(client, invitation)

    response = sign_up(client, email="pat.personal@example.org")

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert [m.to for m in mail.outbox] == [["pat.personal@example.org"]]
    # The invitation is accepted into the new account already; the children show once the
    # person confirms the address and is signed in.
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.member.user.email == "pat.personal@example.org"
    assert client.get(HOME).status_code == 302  # not signed in yet


def test_students_school_email_is_refused_with_a_clear_message(client):
    student = StudentFactory(email="ada.park@students.hillsd.org")
    invitation, token = invitation_sent(students=[student])
    open_link(client, token)
    confirm_all(client, invitation)

    own = sign_up(client, email="Ada.Park@students.hillsd.org")
    sibling_domain = sign_up(client, email="ben.park@students.hillsd.org")

    for response in (own, sibling_domain):
        assert response.status_code == 200
        assert "student&#x27;s school e-mail address" in response.content.decode()
    assert not get_user_model().objects.exists()


def test_another_students_address_is_refused_anywhere(client):
    StudentFactory(email="kid@gmail.example")  # a student of another district
    invitation, token = invitation_sent(students=[StudentFactory()])
    open_link(client, token)
    confirm_all(client, invitation)

    response = sign_up(client, email="kid@gmail.example")

    assert response.status_code == 200
    assert response.context["form"].errors["email"]


def test_existing_parent_signs_in_to_add_a_child(client):
    # Given a parent whose account already shows one child
    first = StudentFactory(first_name="Ada")
    member = connected_member(students=[first])
    second = StudentFactory(first_name="Ben")
    invitation, token = invitation_sent(students=[second])

    # When they open the new invitation, confirm, and sign in
    open_link(client, token)
    confirm_all(client, invitation)
    response = sign_in(client, email=member.user.email)
    assert response["Location"] == INVITATION
    accept_page = client.get(INVITATION)
    assert accept_page.context["step"].kind == "accept"
    assert member.user.email in accept_page.content.decode()
    response = client.post(INVITATION)

    # Then both children are on the one account
    assert response["Location"] == HOME
    assert home_children(client) == ["Ada Example", "Ben Example"]
    assert FamilyMember.objects.count() == 1


def test_guardian_of_children_in_two_districts_ends_on_one_account(client):
    north = StudentFactory(first_name="Ada")
    south = StudentFactory(first_name="Ben")
    assert north.district != south.district
    by_email, email_token = invitation_sent(students=[north], email="pat@example.net")
    by_sms, sms_token = invitation_sent(
        students=[south], email="", phone="+13125550123", channel=Invitation.Channel.SMS
    )

    open_link(client, email_token)
    confirm_all(client, by_email)
    sign_up(client, email="pat@example.net")
    client.get(INVITATION)
    # Signed in already: the second district's text message link adds to the same account
    open_link(client, sms_token)
    confirm_all(client, by_sms)
    client.post(INVITATION)

    assert home_children(client) == ["Ada Example", "Ben Example"]
    assert FamilyMember.objects.count() == 1
    assert get_user_model().objects.count() == 1
    by_sms.refresh_from_db()
    by_email.refresh_from_db()
    assert by_sms.member == by_email.member is not None


def test_several_guardians_of_one_child(client):
    ada = StudentFactory(first_name="Ada")
    mum_invitation, mum_token = invitation_sent(students=[ada], email="mum@example.net")
    dad_invitation, dad_token = invitation_sent(students=[ada], email="dad@example.net")

    for token, invitation, email in (
        (mum_token, mum_invitation, "mum@example.net"),
        (dad_token, dad_invitation, "dad@example.net"),
    ):
        client.logout()
        open_link(client, token)
        confirm_all(client, invitation)
        sign_up(client, email=email)
        client.get(INVITATION)
        assert home_children(client) == ["Ada Example"]

    assert FamilyMember.objects.count() == 2


def test_not_my_child_tells_the_school_and_stops_that_connection(client):
    ada = StudentFactory(first_name="Ada")
    stranger = StudentFactory(first_name="Zed", district=ada.district)
    invitation, token = invitation_sent(students=[ada, stranger], email="pat@example.net")
    open_link(client, token)
    zed = invitation.connections.get(student=stranger)

    # The decline button asks first, naming the child; nothing is written by looking
    ask = client.get(reverse("families:connection_decline", args=[zed.pk]))
    assert "Zed" in ask.content.decode()
    zed.refresh_from_db()
    assert zed.status == Connection.Status.PENDING
    client.post(reverse("families:connection_decline", args=[zed.pk]))
    confirm_all_pending = invitation.connections.get(student=ada)
    client.post(reverse("families:connection_confirm", args=[confirm_all_pending.pk]))
    sign_up(client, email="pat@example.net")
    client.get(INVITATION)

    zed.refresh_from_db()
    assert zed.status == Connection.Status.DECLINED
    assert zed.decided_at is not None
    assert zed.member is None
    event = AuditEvent.objects.get(action="connection_declined")
    assert event.district == ada.district
    assert event.detail["student_id"] == stranger.pk
    assert "not their child" in event.summary
    assert home_children(client) == ["Ada Example"]
    # A declined child cannot be confirmed afterwards
    response = client.post(reverse("families:connection_confirm", args=[zed.pk]))
    assert response.status_code in (404, 410)


def test_declining_every_child_ends_without_an_account(client):
    invitation, token = invitation_sent(students=[StudentFactory()])
    open_link(client, token)
    only = invitation.connections.get()

    client.post(reverse("families:connection_decline", args=[only.pk]))
    page = client.get(INVITATION)

    assert page.context["step"].kind == "declined"
    assert "we told the school" in page.content.decode()
    assert not get_user_model().objects.exists()


def test_expired_link_explains_itself_and_how_to_get_a_new_one(client):
    invitation, token = invitation_sent(
        students=[StudentFactory(first_name="Ada")],
        expires_at=timezone.now() - timedelta(minutes=1),
    )

    response = open_link(client, token)

    assert response.status_code == 410
    page = " ".join(response.content.decode().split())
    assert "This invitation has expired" in page
    assert "ask your child's school or teacher to send you one" in page
    assert "The new link replaces this one" in page
    assert invitation.district.name in page
    assert "Ada" not in page


def test_invitation_expiring_mid_flow_stops_it(client):
    invitation, token = invitation_sent(students=[StudentFactory(), StudentFactory()])
    open_link(client, token)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())

    response = client.post(
        reverse("families:connection_confirm", args=[invitation.connections.first().pk])
    )

    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not Connection.objects.filter(status=Connection.Status.CONFIRMED).exists()


def test_used_link_explains_itself(client):
    invitation, token = invitation_sent(students=[StudentFactory()], email="pat@example.net")
    open_link(client, token)
    confirm_all(client, invitation)
    sign_up(client, email="pat@example.net")
    client.logout()

    response = open_link(client, token)

    assert response.status_code == 410
    assert "already accepted" in response.content.decode()
    assert reverse("account_login") in response.content.decode()


def test_used_link_cannot_add_children_to_another_account(client):
    invitation, token = invitation_sent(students=[StudentFactory()], email="pat@example.net")
    open_link(client, token)
    confirm_all(client, invitation)
    sign_up(client, email="pat@example.net")
    client.logout()
    other = FamilyMemberFactory()
    client.force_login(other.user)

    assert open_link(client, token).status_code == 410
    assert home_children(client) == []


def test_resend_replaces_the_token(client):
    invitation, old_token = invitation_sent(students=[StudentFactory(first_name="Ada")])
    # A re-send stores a new token's hash (what invitation_send does)
    new_token, new_hash = token_new()
    Invitation.objects.filter(pk=invitation.pk).update(token_hash=new_hash, send_count=2)

    old = open_link(client, old_token)
    new = open_link(client, new_token)

    assert old.status_code == 404
    assert "replaced by a newer invitation" in old.content.decode()
    assert new.status_code == 302
    assert "Ada" in client.get(INVITATION).content.decode()


def test_resend_stops_a_half_finished_flow(client):
    invitation, token = invitation_sent(students=[StudentFactory(), StudentFactory()])
    open_link(client, token)
    Invitation.objects.filter(pk=invitation.pk).update(token_hash=token_new()[1])

    response = client.get(INVITATION)

    assert response.status_code == 404
    assert "does not work" in response.content.decode()


def test_unknown_and_malformed_links(client):
    assert open_link(client, "A" * 22).status_code == 404
    assert client.post("/i/short").status_code == 404
    assert client.get(INVITATION).status_code == 404  # nothing opened in this session


def test_revoked_invitation_is_withdrawn(client):
    _, token = invitation_sent(students=[StudentFactory()], status=Invitation.Status.REVOKED)

    response = open_link(client, token)

    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()


def test_invitation_matched_to_an_account_needs_that_account(client):
    # Given an invitation the sync matched to an existing account
    owner = FamilyMemberFactory()
    invitation, token = invitation_sent(students=[StudentFactory(first_name="Ada")], member=owner)
    open_link(client, token)
    confirm_all(client, invitation)

    # Then the account step offers only signing in, and sign-up is closed
    step = client.get(INVITATION)
    assert step.context["step"].kind == "account"
    assert reverse("account_signup") not in step.content.decode()
    closed = sign_up(client, email=invitation.email)
    assert closed.status_code == 200
    assert "You already have a family account" in closed.content.decode()
    assert get_user_model().objects.count() == 1

    # And another signed-in account is turned away
    client.force_login(FamilyMemberFactory().user)
    wrong = client.get(INVITATION)
    assert wrong.status_code == 403
    assert "for another account" in wrong.content.decode()
    assert client.post(INVITATION).status_code == 403

    # And the matched account accepts it
    client.logout()
    open_link(client, token)
    sign_in(client, email=owner.user.email)
    client.post(INVITATION)
    assert home_children(client) == ["Ada Example"]


def test_pending_children_of_a_matched_invitation_stay_hidden(client):
    owner = FamilyMemberFactory()
    invitation, _ = invitation_sent(students=[StudentFactory()], member=owner)
    # Even confirmed by whoever holds the link, nothing shows until the account accepts it
    invitation.connections.update(status=Connection.Status.CONFIRMED)
    client.force_login(owner.user)

    assert home_children(client) == []


def test_signed_in_parent_must_decide_every_child_before_accepting(client):
    member = FamilyMemberFactory()
    invitation, token = invitation_sent(students=[StudentFactory(), StudentFactory()])
    client.force_login(member.user)
    open_link(client, token)

    response = client.post(INVITATION)  # not on the accept step yet

    assert response.status_code == 200
    assert response.context["step"].kind == "confirm"
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


def test_connection_of_another_invitation_cannot_be_confirmed(client):
    _, token = invitation_sent(students=[StudentFactory()])
    other, _ = invitation_sent(students=[StudentFactory()])
    open_link(client, token)

    response = client.post(
        reverse("families:connection_confirm", args=[other.connections.get().pk])
    )

    assert response.status_code == 404
    assert other.connections.get().status == Connection.Status.PENDING


# -- from the messages the lead's services send ---------------------------------------------------
LINK = re.compile(r"http://testserver/i/([A-Za-z0-9_-]{22})\b")


@pytest.fixture
def send_now(settings, django_capture_on_commit_callbacks):
    """Invitations issued by staff are sent after the commit: run that at once."""
    settings.HOMEROOM_BASE_URL = "http://testserver"

    def issue(**kwargs) -> Invitation:
        with django_capture_on_commit_callbacks(execute=True):
            return invitation_issue(**kwargs)

    return issue


def district_with_expiry(student, days: int = 14):
    SyncSettings.objects.get_or_create(
        district=student.district, defaults={"invitation_expiry_days": days}
    )
    return student.district


def test_flow_from_the_invitation_email(client, send_now):
    ada = StudentFactory(first_name="Ada", last_name="Park")
    ben = StudentFactory(first_name="Ben", last_name="Park", district=ada.district)
    invitation = send_now(
        district=district_with_expiry(ada, days=14),
        name="Pat Park",
        email="Pat@Example.net",
        phone="",
        students=[(ada, "Parent"), (ben, "Parent")],
    )
    [message] = mail.outbox
    [token] = LINK.findall(message.body)
    assert "Ada" not in message.body  # the e-mail names no child
    invitation.refresh_from_db()
    assert invitation.expires_at - invitation.sent_at == timedelta(days=14)

    open_link(client, token)
    confirm_all(client, invitation)
    sign_up(client, email="pat@example.net")  # the invitation's own address: no verification
    client.get(INVITATION)

    assert home_children(client) == ["Ada Park", "Ben Park"]


def test_staff_resend_stops_the_old_link(client, send_now):
    ada = StudentFactory(first_name="Ada")
    invitation = send_now(
        district=district_with_expiry(ada),
        name="Pat",
        email="pat@example.net",
        phone="",
        students=[(ada, "Parent")],
    )
    [old_token] = LINK.findall(mail.outbox[0].body)
    invitation_resend(invitation=invitation)
    [new_token] = LINK.findall(mail.outbox[1].body)

    assert open_link(client, old_token).status_code == 404
    assert open_link(client, new_token).status_code == 302
    assert "Ada" in client.get(INVITATION).content.decode()


def test_text_message_invitation_link_is_short(client, send_now):
    ada = StudentFactory(first_name="Ada")
    send_now(
        district=district_with_expiry(ada),
        name="Pat",
        email="",
        phone="(312) 555-0123",
        students=[(ada, "Parent")],
    )
    [message] = sms.outbox
    [token] = LINK.findall(message.body)

    assert len(f"http://testserver/i/{token}") - len("http://testserver") == 25
    assert open_link(client, token).status_code == 302
