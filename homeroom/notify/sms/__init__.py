"""Text messages: a small backend interface shaped like Django's e-mail backends.

`HOMEROOM_SMS_BACKEND` names the backend: `file` (the default: one file per message in
`<data dir>/outbox/sms`), `console`, `locmem` (tests: messages land in `outbox`), `twilio`, or
a dotted path to a class with the same `send` method. Nothing leaves the machine unless a
provider is configured.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

BACKENDS = {
    "console": "homeroom.notify.sms.backends.ConsoleBackend",
    "file": "homeroom.notify.sms.backends.FileBackend",
    "locmem": "homeroom.notify.sms.backends.LocmemBackend",
    "twilio": "homeroom.notify.sms.twilio.TwilioBackend",
}

# What the locmem backend sent, like django.core.mail.outbox.
outbox: list[SmsMessage] = []


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164
    body: str


class SmsError(Exception):
    """A provider refused or could not take a message; the text is the provider's reason."""


def sms_backend():
    name = settings.HOMEROOM_SMS_BACKEND
    return import_string(BACKENDS.get(name, name))()


def sms_send(*, to: str, body: str) -> tuple[str, str]:
    """Send one text message; returns (provider, provider's message id). Raises SmsError."""
    backend = sms_backend()
    return backend.name, backend.send(SmsMessage(to=to, body=body))
