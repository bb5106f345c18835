"""Sending e-mail and text messages, and recording what became of each one.

Every message is rendered from a template a district can read
(`homeroom/notify/templates/notify/<template>/`: `subject.txt` and `body.txt` for e-mail,
`sms.txt` for a text message) and recorded as a `Delivery`. A failure is recorded with the
provider's reason and returned, not raised: callers decide what comes next (an invitation falls
back from e-mail to SMS). Addresses and message bodies are never logged.
"""

from __future__ import annotations

import logging
import smtplib
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.utils import timezone

from homeroom.notify.models import Delivery
from homeroom.notify.sms import SmsError, sms_send

logger = logging.getLogger(__name__)

# Sent when a delivery that had been sent bounces later (provider callback, bounce report):
# `delivery` is the Delivery. The app that asked for the message decides what to do.
delivery_bounced_signal = Signal()

REASON_MAX = 500


def message_render(*, channel: str, template: str, context: dict[str, Any]) -> tuple[str, str]:
    """The (subject, body) of a message; the subject is empty for a text message."""
    if channel == Delivery.Channel.SMS:
        return "", render_to_string(f"notify/{template}/sms.txt", context).strip()
    subject = render_to_string(f"notify/{template}/subject.txt", context)
    body = render_to_string(f"notify/{template}/body.txt", context)
    return " ".join(subject.split()), body


def message_send(
    *, channel: str, to: str, template: str, context: dict[str, Any], district=None
) -> Delivery:
    """Render and send one message; the returned Delivery says `sent` or `failed` (and why)."""
    subject, body = message_render(channel=channel, template=template, context=context)
    delivery = Delivery.objects.create(district=district, channel=channel, to=to, template=template)
    try:
        if channel == Delivery.Channel.EMAIL:
            delivery.provider, delivery.provider_id = "email", _email_send(to, subject, body)
        else:
            delivery.provider, delivery.provider_id = sms_send(to=to, body=body)
    except (SmsError, smtplib.SMTPException, OSError) as exc:
        delivery.status = Delivery.Status.FAILED
        delivery.reason = (str(exc) or type(exc).__name__)[:REASON_MAX]
        logger.warning("delivery %s (%s) failed: %s", delivery.pk, channel, type(exc).__name__)
    else:
        delivery.status = Delivery.Status.SENT
        delivery.sent_at = timezone.now()
    delivery.updated_at = timezone.now()
    delivery.save()
    return delivery


def _email_send(to: str, subject: str, body: str) -> str:
    domain = settings.HOMEROOM_EMAIL_DOMAIN
    message_id = make_msgid(domain=domain)
    message = EmailMessage(subject, body, to=[to], headers={"Message-ID": message_id})
    message.send()
    return message_id.strip("<>")


def delivery_bounced(*, provider: str, provider_id: str, reason: str) -> Delivery | None:
    """Record that a sent message bounced (or a provider reported it undelivered) and tell the
    app that asked for it. Unknown ids are ignored: providers call back for old messages too."""
    delivery = Delivery.objects.filter(provider=provider, provider_id=provider_id).first()
    if delivery is None or delivery.status == Delivery.Status.BOUNCED:
        return delivery
    delivery.status = Delivery.Status.BOUNCED
    delivery.reason = reason[:REASON_MAX]
    delivery.updated_at = timezone.now()
    delivery.save(update_fields=["status", "reason", "updated_at"])
    delivery_bounced_signal.send(sender=Delivery, delivery=delivery)
    return delivery
