"""The portal's security rules: CSRF on every form, rate limits on sign-in and invitation links,
unguessable single-use tokens, and no token in a log line or a Referer."""

from __future__ import annotations

import logging
import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from homeroom.families.models import Connection
from homeroom.families.redact import InvitationTokenFilter
from homeroom.families.tokens import token_digest, token_new
from homeroom.families.views import INVITATION_OPEN_PER_IP, INVITATION_OPEN_PER_LINK
from tests.directory.factories import StudentFactory
from tests.families.factories import PASSWORD, FamilyMemberFactory, invitation_sent

pytestmark = pytest.mark.django_db

POST_FORM = re.compile(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", re.S | re.I)


def test_tokens_are_long_random_and_stored_only_as_a_hash():
    tokens = {token_new()[0] for _ in range(200)}

    assert len(tokens) == 200
    assert all(len(t) == 22 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in tokens)
    token, token_hash = token_new()
    assert token_hash == token_digest(token) != token
    assert len(token_hash) == 64


def test_every_portal_form_carries_a_csrf_token():
    # Given a signed-in member with an opened invitation, every page that has a form
    member = FamilyMemberFactory()
    invitation, token = invitation_sent(students=[StudentFactory()])
    client = Client()
    pages = [f"/i/{token}"]
    client.post(f"/i/{token}")
    pending = invitation.connections.get()
    pages += [
        reverse("families:invitation"),
        reverse("families:connection_decline", args=[pending.pk]),
    ]
    forms = 0
    anonymous = Client()
    for url in (reverse("account_signup"), reverse("account_login")):
        forms += assert_forms_have_csrf(anonymous, url)
    client.force_login(member.user)
    pages += [
        reverse("families:home"),
        reverse("families:account"),
        reverse("families:phone"),
        reverse("families:phone_verify"),
        reverse("account_email"),
        reverse("account_change_password"),
    ]
    for url in pages:
        forms += assert_forms_have_csrf(client, url)
    assert forms >= len(pages) + 2


def assert_forms_have_csrf(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    forms = POST_FORM.findall(response.content.decode())
    for form in forms:
        assert 'name="csrfmiddlewaretoken"' in form, url
    return len(forms)


@pytest.mark.parametrize(
    "url_name",
    [
        "families:invitation",
        "families:account",
        "families:phone",
        "families:phone_verify",
        "account_login",
        "account_signup",
        "account_logout",
        "account_change_password",
        "account_email",
    ],
)
def test_posts_without_a_csrf_token_are_refused(url_name):
    member = FamilyMemberFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(member.user)

    response = client.post(reverse(url_name), {"name": "Changed"})

    assert response.status_code == 403
    member.refresh_from_db()
    assert member.name != "Changed"


def test_opening_confirming_and_declining_need_a_csrf_token():
    invitation, token = invitation_sent(students=[StudentFactory(), StudentFactory()])
    client = Client(enforce_csrf_checks=True)
    first, second = invitation.connections.order_by("pk")

    assert client.post(f"/i/{token}").status_code == 403
    # With the token from the page, it opens
    page = client.get(f"/i/{token}")
    csrf = page.context["csrf_token"]
    assert client.post(f"/i/{token}", {"csrfmiddlewaretoken": csrf}).status_code == 302
    # Confirming and declining without it do nothing
    for name, connection in (("connection_confirm", first), ("connection_decline", second)):
        response = client.post(reverse(f"families:{name}", args=[connection.pk]))
        assert response.status_code == 403
    assert set(invitation.connections.values_list("status", flat=True)) == {
        Connection.Status.PENDING
    }


def test_opening_one_link_too_often_is_rate_limited(client):
    invitation, token = invitation_sent(students=[StudentFactory()])

    codes = [
        client.post(f"/i/{token}", REMOTE_ADDR=f"10.0.0.{n}").status_code
        for n in range(INVITATION_OPEN_PER_LINK.count + 1)
    ]

    assert codes[:-1] == [302] * INVITATION_OPEN_PER_LINK.count
    assert codes[-1] == 429


def test_one_address_trying_many_links_is_rate_limited(client):
    codes = [
        client.post(f"/i/{token_new()[0]}", REMOTE_ADDR="10.0.0.9").status_code
        for _ in range(INVITATION_OPEN_PER_IP.count + 1)
    ]

    assert codes[:-1] == [404] * INVITATION_OPEN_PER_IP.count
    response = client.post(f"/i/{token_new()[0]}", REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 429
    assert response["Retry-After"]
    assert "Too many tries" in response.content.decode()
    # Another address is not affected
    assert client.post(f"/i/{token_new()[0]}", REMOTE_ADDR="10.0.0.10").status_code == 404


def test_failed_sign_ins_lock_the_address_for_a_while(client):
    member = FamilyMemberFactory()
    url = reverse("account_login")

    for _ in range(5):
        client.post(url, {"login": member.user.email, "password": "wrong"})
    right = client.post(url, {"login": member.user.email, "password": PASSWORD})

    # Even the right password is refused until the window passes
    assert right.status_code == 200
    assert "Too many failed login attempts" in right.content.decode()
    assert client.get(reverse("families:home")).status_code == 302


def test_sign_ins_from_one_address_are_rate_limited(client):
    url = reverse("account_login")

    codes = [
        client.post(url, {"login": f"p{n}@example.net", "password": "x"}).status_code
        for n in range(31)
    ]

    assert codes[:30] == [200] * 30
    assert codes[30] == 429
    assert client.post(url, {"login": "p@example.net", "password": "x"}).status_code == 429


def test_sign_ups_are_rate_limited(client):
    url = reverse("account_signup")
    codes = [
        client.post(
            url, {"name": "x", "email": f"p{n}@example.net", "password1": "short"}
        ).status_code
        for n in range(21)
    ]

    assert codes[-1] == 429


def test_invitation_pages_send_no_path_in_a_referer_and_are_not_cached(client):
    invitation, token = invitation_sent(students=[StudentFactory()])
    responses = [client.get(f"/i/{token}"), client.post(f"/i/{token}")]
    responses.append(client.get(reverse("families:invitation")))
    connection = invitation.connections.get()
    responses.append(client.get(reverse("families:connection_decline", args=[connection.pk])))
    responses.append(client.post(f"/i/{token_new()[0]}"))  # an unusable link's page too

    for response in responses:
        assert response["Referrer-Policy"] == "strict-origin"
        assert "no-store" in response["Cache-Control"]
        assert "noindex" in response["X-Robots-Tag"]


def test_log_lines_never_carry_an_invitation_token():
    token = token_new()[0]
    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        (f"GET /i/{token} HTTP/1.1", 200, 5),
        None,
    )

    InvitationTokenFilter().filter(record)

    assert token not in record.getMessage()
    assert record.getMessage() == '"GET /i/… HTTP/1.1" 200 5'
    # and the settings put the filter on every handler
    for handler in settings.LOGGING["handlers"].values():
        assert "redact_tokens" in handler["filters"]


def test_a_refused_link_logs_no_token(client, caplog):
    token = token_new()[0]

    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.post(f"/i/{token}")

    assert caplog.records  # "Not Found: /i/…"
    assert token not in caplog.text
