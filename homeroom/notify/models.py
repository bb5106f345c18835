"""Notify: how e-mail and text messages leave Homeroom, and the record of each one.

E-mail goes through Django's e-mail backends (console or file by default; SMTP or a provider in
production); text messages through Homeroom's SMS backends, which have the same shape
(`homeroom.notify.sms`). Every message is a `Delivery`: queued, then sent or failed, and later
perhaps bounced, with the provider's reason. Nothing leaves the machine unless a real backend is
configured.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Delivery(models.Model):
    """One e-mail or text message to one address, and what became of it."""

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        SMS = "sms", "Text message"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"

    district = models.ForeignKey(
        "directory.District", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    to = models.CharField(max_length=254)
    # Which template it was rendered from, e.g. "invitation", "phone_code".
    template = models.CharField(max_length=60)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    reason = models.TextField(blank=True, default="")  # the provider's words on a failure
    provider = models.CharField(max_length=40, blank=True, default="")
    provider_id = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["provider", "provider_id"], name="delivery_provider_id"),
            models.Index(fields=["district", "-created_at"], name="delivery_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} delivery {self.pk} ({self.status})"
