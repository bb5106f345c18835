"""Account settings (seed 001): change name, e-mail (verified), mobile number (verified by a
texted code), password, and notification preferences. Only the family changes these."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from homeroom.families.views import PHONE_START_PER_ACCOUNT
from homeroom.notify import sms
from tests.directory.factories import StudentFactory
from tests.families.factories import PASSWORD, FamilyMemberFactory, connected_member

pytestmark = pytest.mark.django_db

ACCOUNT = reverse("families:account")


@pytest.fixture
def member(client):
    member = FamilyMemberFactory(name="Pat Guardian")
    client.force_login(member.user)
    return member


def test_settings_need_a_signed_in_account(client):
    assert client.get(ACCOUNT).status_code == 302


def test_change_name_and_notifications(client, member):
    page = client.get(ACCOUNT).content.decode()
    assert "Pat Guardian" in page

    response = client.post(
        ACCOUNT, {"name": "Pat Q. Guardian", "notify_unread_email": ""}, follow=True
    )

    assert "Your settings are saved." in response.content.decode()
    member.refresh_from_db()
    assert member.name == "Pat Q. Guardian"
    assert member.notify_unread_email is False
    assert "Pat Q. Guardian" in client.get(reverse("families:home")).content.decode()


def test_text_notifications_without_a_phone_are_explained(client, member):
    response = client.post(ACCOUNT, {"name": "Pat", "notify_unread_sms": "on"})

    assert response.status_code == 200
    assert "verify a mobile number" in response.content.decode()
    member.refresh_from_db()
    assert member.notify_unread_sms is False
    assert member.name == "Pat Guardian"


def test_add_a_mobile_number_with_a_texted_code(client, member):
    response = client.post(reverse("families:phone"), {"phone": "(312) 555-0123"})
    assert response["Location"] == reverse("families:phone_verify")
    [message] = sms.outbox
    code = re.search(r"\b(\d{6})\b", message.body).group(1)

    wrong = client.post(reverse("families:phone_verify"), {"code": "not-it"})
    assert "not right" in wrong.content.decode()
    right = client.post(reverse("families:phone_verify"), {"code": code}, follow=True)

    assert "Your mobile number is verified." in right.content.decode()
    member.refresh_from_db()
    assert member.phone == "+13125550123"
    assert "+13125550123" in client.get(ACCOUNT).content.decode()


def test_invalid_phone_is_explained(client, member):
    response = client.post(reverse("families:phone"), {"phone": "12"})

    assert response.status_code == 200
    assert "Enter a mobile number we can text" in response.content.decode()
    assert sms.outbox == []


def test_texting_codes_is_rate_limited(client, member):
    codes = [
        client.post(reverse("families:phone"), {"phone": "+13125550123"}).status_code
        for _ in range(PHONE_START_PER_ACCOUNT.count + 1)
    ]

    assert codes[:-1] == [302] * PHONE_START_PER_ACCOUNT.count
    assert codes[-1] == 429
    assert len(sms.outbox) == PHONE_START_PER_ACCOUNT.count


def test_change_email_is_verified_before_it_is_used(client, member):
    old = member.user.email

    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "pat.new@example.org"}
    )

    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == ["pat.new@example.org"]
    member.user.refresh_from_db()
    assert member.user.email == old  # unchanged until verified
    # Following the link and confirming switches the sign-in address
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", message.body).group(0)
    path = link.split("testserver", 1)[1]
    client.post(path)
    member.user.refresh_from_db()
    assert member.user.email == "pat.new@example.org"
    assert not EmailAddress.objects.filter(user=member.user, email=old).exists()


def test_change_email_to_a_students_address_is_refused(client):
    ada = StudentFactory(email="ada@students.hillsd.org")
    member = connected_member(students=[ada])
    client.force_login(member.user)

    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "ben@students.hillsd.org"}
    )

    assert response.status_code == 200
    assert "student&#x27;s school e-mail address" in response.content.decode()
    assert mail.outbox == []


def test_change_password(client, member):
    response = client.post(
        reverse("account_change_password"),
        {
            "oldpassword": PASSWORD,
            "password1": "a whole new passphrase",
            "password2": "a whole new passphrase",
        },
    )

    assert response.status_code == 302
    member.user.refresh_from_db()
    assert member.user.check_password("a whole new passphrase")
    # The person is told by e-mail that their password changed
    assert [m.to for m in mail.outbox] == [[member.user.email]]


def test_password_reset_does_not_tell_whether_an_address_is_a_students(client):
    StudentFactory(email="ada@students.hillsd.org")

    response = client.post(reverse("account_reset_password"), {"email": "ada@students.hillsd.org"})

    assert response.status_code == 302  # the same answer as for any address
    assert "school e-mail" not in response.content.decode()
