"""Family portal services: opening an invitation, claiming its children, accepting it into an
account, and the family's own account details.

The flow (seed 001): the person opens the link, confirms each child in turn ("yes, this is my
child") or declines one ("this is not my child", which stops that connection and tells the
school), then creates an account or signs in, and the invitation is accepted into that account.
An invitation the sync matched to an existing account (`invitation.member`) can only be accepted
by that account. The district never edits an account's own details: only the functions here,
called on the family's own requests, do.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.crypto import salted_hmac

from homeroom.directory.models import AuditEvent, Student
from homeroom.families import selectors
from homeroom.families.models import Connection, FamilyMember, Invitation, PhoneVerification
from homeroom.families.tokens import token_digest
from homeroom.notify.models import Delivery
from homeroom.notify.services import message_send
from homeroom.rostering.sync.contacts import email_normalize, phone_e164

# Why a link cannot be used; each page explains how to get a new one.
INVALID = "invalid"  # no such token: mistyped, or replaced by a re-send
EXPIRED = "expired"
USED = "used"
WITHDRAWN = "withdrawn"  # revoked by the school, or never sent
WRONG_ACCOUNT = "wrong_account"  # matched to another account than the one signed in

MSG_UNDECIDED = "Confirm or decline every child on the invitation first."
MSG_STUDENT_EMAIL = (
    "This looks like a student's school e-mail address. Please use your own personal e-mail "
    "address, not your child's."
)
MSG_PHONE_INVALID = "Enter a mobile number we can text, e.g. (312) 555-0123."
MSG_PHONE_TAKEN = "This number is already verified on another family account."
MSG_CODE_WRONG = "That code is not right. Check the text message and try again."
MSG_CODE_EXPIRED = "That code has expired or was used up. Send yourself a new one."
MSG_SMS_FAILED = "We could not send a text message to this number. Check it and try again."
MSG_SMS_NEEDS_PHONE = "Add and verify a mobile number before choosing text notifications."

PHONE_CODE_DIGITS = 6
PHONE_CODE_LIFETIME = timedelta(minutes=10)
PHONE_CODE_MAX_ATTEMPTS = 5


class InvitationUnusable(Exception):
    """The invitation cannot be used; `reason` is one of the constants above."""

    def __init__(self, reason: str, invitation: Invitation | None = None):
        super().__init__(reason)
        self.reason = reason
        self.invitation = invitation


@dataclass(frozen=True)
class Step:
    """Where an opened invitation stands for the person holding it.

    kind: "confirm" (`connection` is the next child to confirm), "account" (sign up or sign in),
    "accept" (signed in: add the confirmed children to this account), "accepted" (done, by this
    account) or "declined" (every child declined: nothing left to do).
    """

    kind: str
    invitation: Invitation
    connection: Connection | None = None
    position: int = 0  # the child's place in the invitation's list, from 1
    total: int = 0  # how many children the invitation lists


def invitation_open(*, token: str, now: datetime) -> Invitation:
    """The invitation a link's token opens, marked opened; raises InvitationUnusable."""
    invitation = _invitation_by_hash(token_hash=token_digest(token))
    _check_usable(invitation, now=now)
    if invitation.opened_at is None:
        invitation.opened_at = now
        invitation.save(update_fields=["opened_at"])
    return invitation


def invitation_resume(*, token_hash: str, now: datetime) -> Invitation:
    """The opened invitation (its token hash is kept in the person's session), while usable."""
    invitation = _invitation_by_hash(token_hash=token_hash)
    _check_usable(invitation, now=now)
    return invitation


def invitation_step(*, token_hash: str, user: AbstractBaseUser, now: datetime) -> Step:
    """The next step of an opened invitation (its token hash is kept in the person's session),
    for `user` (anonymous or signed in). Raises InvitationUnusable."""
    invitation = _invitation_by_hash(token_hash=token_hash)
    member = _member_of(user)
    if invitation.status == Invitation.Status.ACCEPTED and member is not None:
        if invitation.member_id == member.pk:
            return Step("accepted", invitation)
    _check_usable(invitation, now=now)
    connections = list(
        invitation.connections.select_related("student__school").order_by(
            "student__first_name", "student__last_name", "pk"
        )
    )
    pending = [c for c in connections if c.status == Connection.Status.PENDING]
    if pending:
        position = connections.index(pending[0]) + 1
        return Step("confirm", invitation, pending[0], position=position, total=len(connections))
    if not any(c.status == Connection.Status.CONFIRMED for c in connections):
        return Step("declined", invitation)
    if not user.is_authenticated:
        return Step("account", invitation)
    if invitation.member_id is not None and (member is None or invitation.member_id != member.pk):
        raise InvitationUnusable(WRONG_ACCOUNT, invitation)
    return Step("accept", invitation)


def connection_pending(
    *, connection_id: int, invitation: Invitation | None = None, member: FamilyMember | None = None
) -> Connection:
    """A child waiting for the family's answer: one of the opened `invitation`'s, or one the
    sync added later to `member`'s account (a new child of an invitation they accepted).
    Raises Connection.DoesNotExist for anything else."""
    if invitation is not None:
        pending = invitation.connections.all()
    elif member is not None:
        pending = selectors.member_connections(member=member, status=Connection.Status.PENDING)
    else:
        raise Connection.DoesNotExist
    return pending.select_related("student__school").get(
        pk=connection_id, status=Connection.Status.PENDING
    )


def connection_confirm(*, connection: Connection, now: datetime) -> Connection:
    """The family says "yes, this is my child" (`connection` from connection_pending)."""
    connection.status = Connection.Status.CONFIRMED
    connection.decided_at = now
    connection.save(update_fields=["status", "decided_at"])
    return connection


def connection_decline(*, connection: Connection, now: datetime) -> Connection:
    """The family says "this is not my child": the connection stops for good (the sync never
    makes it again) and the district's staff see it in the audit log, so the school can correct
    the roster."""
    student = connection.student
    with transaction.atomic():
        connection.status = Connection.Status.DECLINED
        connection.decided_at = now
        connection.save(update_fields=["status", "decided_at"])
        AuditEvent.objects.create(
            district_id=student.district_id,
            user_id=connection.member.user_id if connection.member else None,
            occurred_at=now,
            action="connection_declined",
            summary=(
                f"A family contact says {student} (student {student.pk}) is not their child; "
                "that connection is stopped. Check the student's guardians in the SIS."
            ),
            detail={
                "invitation_id": connection.invitation_id,
                "connection_id": connection.pk,
                "student_id": student.pk,
                "contact_id": connection.contact_id,
                "member_id": connection.member_id,
            },
        )
    return connection


def invitation_accept(*, invitation: Invitation, member: FamilyMember, now: datetime) -> Invitation:
    """Add the invitation's confirmed children to `member`'s account; the link is used up.

    Raises InvitationUnusable (expired, used, another account's) or ValueError(MSG_UNDECIDED).
    """
    with transaction.atomic():
        # Locked, so two tabs accepting at once cannot both pass the checks.
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("contact")
            .get(pk=invitation.pk)
        )
        _check_usable(invitation, now=now)
        if invitation.member_id is not None and invitation.member_id != member.pk:
            raise InvitationUnusable(WRONG_ACCOUNT, invitation)
        if invitation.connections.filter(status=Connection.Status.PENDING).exists():
            raise ValueError(MSG_UNDECIDED)
        invitation.connections.filter(status=Connection.Status.CONFIRMED).update(member=member)
        invitation.member = member
        invitation.status = Invitation.Status.ACCEPTED
        invitation.accepted_at = now
        invitation.save(update_fields=["member", "status", "accepted_at"])
        contact = invitation.contact
        if contact is not None and contact.claimed_at is None:
            contact.claimed_at = now
            contact.save(update_fields=["claimed_at"])
    return invitation


def invitation_proves_email(*, invitation: Invitation | None, email: str) -> bool:
    """Whether opening this invitation proved the person reads `email`: it was sent there."""
    return (
        invitation is not None
        and invitation.channel == Invitation.Channel.EMAIL
        and bool(invitation.email)
        and invitation.email == email_normalize(email)
    )


def email_validate_personal(*, email: str, students) -> None:
    """Refuse a student's school address as a family account's e-mail (seed 001): any student's
    own address, or an address at the school domain of the children concerned (`students`).
    Raises ValueError(MSG_STUDENT_EMAIL)."""
    email = email_normalize(email)
    if not email:
        return
    domain = email.rsplit("@", 1)[1]
    school_domains = {s.email.rsplit("@", 1)[1].lower() for s in students if "@" in s.email}
    if domain in school_domains or Student.objects.filter(email__iexact=email).exists():
        raise ValueError(MSG_STUDENT_EMAIL)


def family_member_create(*, user: AbstractBaseUser, name: str) -> FamilyMember:
    return FamilyMember.objects.create(user=user, name=name.strip() or _name_from_user(user))


def family_member_for_user(*, user: AbstractBaseUser) -> FamilyMember:
    """The signed-in person's family account, made on first use for a login created elsewhere
    (e.g. a staff member who is also a parent)."""
    member = _member_of(user)
    if member is None:
        member, _ = FamilyMember.objects.get_or_create(
            user=user, defaults={"name": _name_from_user(user)}
        )
    return member


def family_member_update(
    *, member: FamilyMember, name: str, notify_unread_email: bool, notify_unread_sms: bool
) -> FamilyMember:
    """The family's own change of name and notification preferences."""
    if notify_unread_sms and not member.phone_verified_at:
        raise ValueError(MSG_SMS_NEEDS_PHONE)
    member.name = name.strip()
    member.notify_unread_email = notify_unread_email
    member.notify_unread_sms = notify_unread_sms
    member.save(update_fields=["name", "notify_unread_email", "notify_unread_sms"])
    return member


def phone_verification_start(
    *, member: FamilyMember, phone: str, now: datetime
) -> PhoneVerification:
    """Text a one-time code to `phone`; the number is the member's once the code comes back.
    Earlier unused codes stop working. Raises ValueError with a message for the person."""
    e164 = phone_e164(phone)
    if not e164:
        raise ValueError(MSG_PHONE_INVALID)
    taken = FamilyMember.objects.filter(phone=e164, phone_verified_at__isnull=False)
    if taken.exclude(pk=member.pk).exists():
        raise ValueError(MSG_PHONE_TAKEN)
    code = "".join(secrets.choice("0123456789") for _ in range(PHONE_CODE_DIGITS))
    with transaction.atomic():
        _open_verifications(member, now=now).update(expires_at=now)
        verification = PhoneVerification.objects.create(
            member=member,
            phone=e164,
            code_hash=_code_hash(code, phone=e164),
            created_at=now,
            expires_at=now + PHONE_CODE_LIFETIME,
        )
    # Sent once the code is stored (outside the transaction), so the person hears at once
    # whether the text went out.
    delivery = message_send(channel="sms", to=e164, template="phone_code", context={"code": code})
    if delivery.status != Delivery.Status.SENT:
        raise ValueError(MSG_SMS_FAILED)
    return verification


def phone_verification_confirm(*, member: FamilyMember, code: str, now: datetime) -> FamilyMember:
    """Check the code texted by phone_verification_start; on success the number becomes the
    member's verified phone. Raises ValueError(MSG_CODE_WRONG or MSG_CODE_EXPIRED)."""
    with transaction.atomic():
        verification = (
            _open_verifications(member, now=now).select_for_update().order_by("-pk").first()
        )
        if verification is None or verification.attempts >= PHONE_CODE_MAX_ATTEMPTS:
            raise ValueError(MSG_CODE_EXPIRED)
        expected = _code_hash(code.strip(), phone=verification.phone)
        matched = hmac.compare_digest(expected, verification.code_hash)
        if matched:
            verification.verified_at = now
            verification.save(update_fields=["verified_at"])
            member.phone = verification.phone
            member.phone_verified_at = now
            member.save(update_fields=["phone", "phone_verified_at"])
        else:
            # Counted, and committed: raising inside the block would roll the count back.
            verification.attempts += 1
            verification.save(update_fields=["attempts"])
    if not matched:
        raise ValueError(MSG_CODE_WRONG)
    return member


def _invitation_by_hash(*, token_hash: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("district").filter(token_hash=token_hash).first()
        if token_hash
        else None
    )
    if invitation is None:
        raise InvitationUnusable(INVALID)
    return invitation


def _check_usable(invitation: Invitation, *, now: datetime) -> None:
    if invitation.status == Invitation.Status.ACCEPTED:
        raise InvitationUnusable(USED, invitation)
    if invitation.status != Invitation.Status.SENT:
        raise InvitationUnusable(WITHDRAWN, invitation)
    # A sent invitation always has an expiry; one without is treated as expired (fail closed).
    if invitation.expires_at is None or invitation.expires_at <= now:
        raise InvitationUnusable(EXPIRED, invitation)


def _member_of(user: AbstractBaseUser) -> FamilyMember | None:
    if not user.is_authenticated:
        return None
    return FamilyMember.objects.filter(user=user).first()


def _name_from_user(user: AbstractBaseUser) -> str:
    return user.get_full_name().strip() or user.email.split("@", 1)[0]


def _open_verifications(member: FamilyMember, *, now: datetime):
    return PhoneVerification.objects.filter(
        member=member, verified_at__isnull=True, expires_at__gt=now
    )


def _code_hash(code: str, *, phone: str) -> str:
    # Keyed: six digits are a million guesses, so a plain hash would be read back at once.
    return salted_hmac("homeroom.families.phone_code", f"{phone}:{code}").hexdigest()
