"""Families: family accounts, the invitations that reach them, and their connections to students.

A *guardian contact* is the roster's record of a student's contact, per district
(`directory.GuardianContact`). A *family member* is a person with a Homeroom account, who may be
connected to many students across schools and districts. An *invitation* goes to one person (one
contact) and lists every child the roster links them to; each child becomes a *connection* that
stays pending until the family claims it ("yes, this is my child") or declines it ("this is not
my child", which tells the school). The district never edits a family account's own details.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class FamilyMember(models.Model):
    """A person's family account: a login (the user, whose e-mail is the sign-in address), a
    verified phone number, and how they want to be notified."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="family_member"
    )
    name = models.CharField(max_length=200)
    # E.164; set only once verified with a code sent to it.
    phone = models.CharField(max_length=20, blank=True, default="")
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    # Notification preferences
    notify_unread_email = models.BooleanField(default=True)
    notify_unread_sms = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["phone"], name="family_member_phone")]

    def __str__(self) -> str:
        return self.name


class Invitation(models.Model):
    """An invitation to one person to create (or sign in to) a family account and claim the
    children it lists (its connections).

    Only a hash of the link's token is kept; the token exists in the message sent and nowhere
    else. A re-send replaces the token, so older links stop working. An invitation is issued by
    the sync that found the contact, or by a staff member, and sent once; it is never re-sent
    automatically.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        SMS = "sms", "Text message"

    class Status(models.TextChoices):
        ISSUED = "issued", "Issued, not sent yet"
        SENT = "sent", "Sent"
        ACCEPTED = "accepted", "Accepted"
        UNREACHABLE = "unreachable", "Unreachable by e-mail or text"
        REVOKED = "revoked", "Revoked"

    # Indexes are few on purpose: a large district's first family sync inserts 100,000+ of
    # these at once. `district` and `contact` are covered by the indexes in Meta.
    district = models.ForeignKey(
        "directory.District", on_delete=models.CASCADE, related_name="invitations", db_index=False
    )
    contact = models.ForeignKey(
        "directory.GuardianContact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitations",
        db_index=False,
    )
    # The account it was matched to when issued, or the one that accepted it.
    member = models.ForeignKey(
        FamilyMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations"
    )
    name = models.CharField(max_length=200, blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")  # normalised
    phone = models.CharField(max_length=20, blank=True, default="")  # E.164
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ISSUED)
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_count = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    # Which run issued it: a note, not a constraint to check 100,000 times per first sync.
    created_by_run = models.ForeignKey(
        "rostering.SyncRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    last_delivery = models.ForeignKey(
        "notify.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # One invitation per contact: the sync issues it once, re-sends reuse it.
            models.UniqueConstraint(
                fields=["contact"], condition=Q(contact__isnull=False), name="invitation_contact"
            )
        ]
        indexes = [models.Index(fields=["district", "status"], name="invitation_status")]

    def __str__(self) -> str:
        return f"invitation {self.pk} ({self.status})"


class Connection(models.Model):
    """A family member's (or an invitation's, until it is accepted) link to one student."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the family to confirm"
        CONFIRMED = "confirmed", "Confirmed"
        DECLINED = "declined", "Declined: not their child"
        REMOVED = "removed", "Removed: the guardian left the roster"

    student = models.ForeignKey(
        "directory.Student", on_delete=models.CASCADE, related_name="family_connections"
    )
    # `invitation` and `member` are covered by the indexes in Meta.
    invitation = models.ForeignKey(
        Invitation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="connections",
        db_index=False,
    )
    member = models.ForeignKey(
        FamilyMember,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="connections",
        db_index=False,
    )
    # The roster contact it came from; removal follows that contact's link to the student.
    contact = models.ForeignKey(
        "directory.GuardianContact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    relationship = models.CharField(max_length=30, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    removed_by_run = models.ForeignKey(
        "rostering.SyncRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["invitation", "student"],
                condition=Q(invitation__isnull=False),
                name="connection_invitation_student",
            )
        ]
        indexes = [models.Index(fields=["member", "status"], name="connection_member")]

    def __str__(self) -> str:
        return f"connection {self.pk} to student {self.student_id} ({self.status})"


class PhoneVerification(models.Model):
    """A code sent by text to a phone number a family member wants to use; kept as a hash."""

    member = models.ForeignKey(FamilyMember, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=20)
    code_hash = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"phone verification {self.pk}"
