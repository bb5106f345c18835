"""Twilio's Messages API: the production SMS adapter.

Settings: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM (a number or a messaging service
sid). Twilio reports later outcomes (delivered, undelivered, failed) to the status callback at
`/notify/twilio/status`, which `homeroom.notify.views` checks against Twilio's signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx
from django.conf import settings

from homeroom.notify.sms import SmsError, SmsMessage

API = "https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json"
MSG_NOT_CONFIGURED = (
    "Twilio is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM"
)


class TwilioBackend:
    name = "twilio"

    def __init__(self, *, transport: httpx.BaseTransport | None = None) -> None:
        self.sid = settings.TWILIO_ACCOUNT_SID
        self.token = settings.TWILIO_AUTH_TOKEN
        self.sender = settings.TWILIO_FROM
        if not (self.sid and self.token and self.sender):
            raise SmsError(MSG_NOT_CONFIGURED)
        self.transport = transport

    def send(self, message: SmsMessage) -> str:
        sender_key = "MessagingServiceSid" if self.sender.startswith("MG") else "From"
        form = {"To": message.to, sender_key: self.sender, "Body": message.body}
        if settings.HOMEROOM_BASE_URL.startswith("https://"):
            form["StatusCallback"] = f"{settings.HOMEROOM_BASE_URL}/notify/twilio/status"
        try:
            with httpx.Client(transport=self.transport, timeout=15) as client:
                response = client.post(
                    API.format(sid=self.sid), data=form, auth=(self.sid, self.token)
                )
        except httpx.HTTPError as exc:
            raise SmsError(f"Twilio could not be reached ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            try:
                reason = response.json().get("message") or response.reason_phrase
            except ValueError:
                reason = response.reason_phrase
            raise SmsError(f"Twilio refused the message: {reason}")
        return response.json()["sid"]


def twilio_signature_valid(*, url: str, params: dict[str, str], signature: str) -> bool:
    """Twilio signs a callback with HMAC-SHA1 over the URL followed by the sorted parameters."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(settings.TWILIO_AUTH_TOKEN.encode(), payload.encode(), hashlib.sha1)
    expected = base64.b64encode(digest.digest()).decode()
    return bool(settings.TWILIO_AUTH_TOKEN) and hmac.compare_digest(expected, signature)
