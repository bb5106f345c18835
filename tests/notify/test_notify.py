"""Notify: messages rendered from templates, recorded as deliveries, sent through the configured
backend; failures recorded with the provider's reason; the Twilio adapter and its signature."""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx
import pytest
from django.core import mail

from homeroom.notify import sms
from homeroom.notify.models import Delivery
from homeroom.notify.services import delivery_bounced, message_send
from homeroom.notify.sms.twilio import TwilioBackend, twilio_signature_valid

CONTEXT = {
    "district": "Springfield USD",
    "name": "Pat O'Brien",
    "child_count": 2,
    "schools": "Lincoln Elementary",
    "link": "http://testserver/i/abc",
    "expires": None,
}


def test_email_is_rendered_sent_and_recorded(db):
    delivery = message_send(
        channel="email", to="pat@example.org", template="invitation", context=CONTEXT
    )
    assert delivery.status == "sent" and delivery.sent_at is not None
    (message,) = mail.outbox
    assert message.to == ["pat@example.org"]
    assert message.subject == "Springfield USD invites you to Homeroom"
    assert "Pat O'Brien" in message.body  # plain text: nothing HTML-escaped
    assert message.extra_headers["Message-ID"].strip("<>") == delivery.provider_id


def test_sms_goes_through_the_configured_backend(db, _sms_outbox):
    delivery = message_send(
        channel="sms", to="+15005550006", template="invitation", context=CONTEXT
    )
    assert delivery.status == "sent" and delivery.provider == "locmem"
    assert _sms_outbox[0].to == "+15005550006"
    assert "http://testserver/i/abc" in _sms_outbox[0].body


def test_file_backend_writes_one_file_per_message(db, settings, tmp_path):
    settings.HOMEROOM_SMS_BACKEND = "file"
    settings.HOMEROOM_SMS_FILE_PATH = tmp_path
    message_send(channel="sms", to="+15005550006", template="invitation", context=CONTEXT)
    (written,) = tmp_path.iterdir()
    assert written.read_text().startswith("To: +15005550006")


def test_a_provider_failure_is_recorded_with_its_reason_not_raised(db, settings):
    settings.HOMEROOM_SMS_BACKEND = "twilio"  # not configured: the adapter refuses
    delivery = message_send(
        channel="sms", to="+15005550006", template="invitation", context=CONTEXT
    )
    assert delivery.status == "failed"
    assert "TWILIO_ACCOUNT_SID" in delivery.reason


def test_a_bounce_is_recorded_once(db):
    delivery = message_send(
        channel="email", to="pat@example.org", template="invitation", context=CONTEXT
    )
    assert delivery_bounced(provider="email", provider_id=delivery.provider_id, reason="550")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.reason) == ("bounced", "550")
    assert delivery_bounced(provider="email", provider_id="unknown", reason="x") is None


@pytest.fixture
def twilio(settings):
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = "secret"
    settings.TWILIO_FROM = "+15005550001"
    settings.HOMEROOM_BASE_URL = "https://homeroom.example.org"


def test_twilio_posts_the_message_with_a_status_callback(twilio):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SM42"})

    backend = TwilioBackend(transport=httpx.MockTransport(handler))
    assert backend.send(sms.SmsMessage(to="+15005550006", body="hello")) == "SM42"
    (request,) = seen
    assert request.url.path == "/2010-04-01/Accounts/AC123/Messages.json"
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form["To"] == "+15005550006" and form["From"] == "+15005550001"
    assert form["StatusCallback"] == "https://homeroom.example.org/notify/twilio/status"
    expected = "Basic " + base64.b64encode(b"AC123:secret").decode()
    assert request.headers["authorization"] == expected


def test_twilio_refusal_carries_twilios_message(twilio):
    def handler(request):
        return httpx.Response(400, json={"message": "The 'To' number is not a valid phone"})

    backend = TwilioBackend(transport=httpx.MockTransport(handler))
    with pytest.raises(sms.SmsError, match="not a valid phone"):
        backend.send(sms.SmsMessage(to="+1", body="hello"))


def test_twilio_signature(twilio):
    url = "https://homeroom.example.org/notify/twilio/status"
    params = {"MessageSid": "SM42", "MessageStatus": "undelivered"}
    payload = url + "MessageSidSM42MessageStatusundelivered"
    good = base64.b64encode(hmac.new(b"secret", payload.encode(), hashlib.sha1).digest()).decode()
    assert twilio_signature_valid(url=url, params=params, signature=good)
    assert not twilio_signature_valid(url=url, params={**params, "x": "1"}, signature=good)


def test_twilio_status_callback_records_an_undelivered_text(db, twilio, client):
    delivery = Delivery.objects.create(
        channel="sms",
        to="+15005550006",
        template="invitation",
        status="sent",
        provider="twilio",
        provider_id="SM42",
    )
    url = "https://homeroom.example.org/notify/twilio/status"
    params = {"MessageSid": "SM42", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    signature = base64.b64encode(
        hmac.new(b"secret", payload.encode(), hashlib.sha1).digest()
    ).decode()
    assert client.post("/notify/twilio/status", params).status_code == 403
    response = client.post("/notify/twilio/status", params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.status == "bounced" and "30003" in delivery.reason
