"""Family sync and invitations: the writes that turn guardian contacts into invited families.

`family_sync` runs inside a roster sync's transaction. It issues one invitation per guardian
contact that passes the district's settings (not one per child: the invitation lists every child
the roster links the person to), adds children that appear later to the same invitation (or to
the account that accepted it, as pending connections), matches existing family accounts by the
both-must-match rule, and, when the district makes Clever the source of truth, removes the
connections of guardians who left the roster. Sending happens after the commit
(`invitations_send`), once: an invitation is never re-sent automatically, only by staff.

The portal's own writes (opening, confirming, creating accounts) are in `accounts.py`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from homeroom.directory.models import (
    AuditEvent,
    District,
    GuardianContact,
    GuardianLink,
    School,
    Student,
)
from homeroom.families.models import Connection, FamilyMember, Invitation
from homeroom.families.tokens import token_new
from homeroom.notify.models import Delivery
from homeroom.notify.services import delivery_bounced_signal, message_send
from homeroom.rostering.sync.apply import datetime_adapt, rows_insert, statistics_refresh
from homeroom.rostering.sync.contacts import email_normalize, phone_e164

logger = logging.getLogger(__name__)

MSG_NO_ADDRESS = "An invitation needs an e-mail address or a mobile phone number."
MSG_NO_STUDENTS = "Choose at least one student to connect."
MSG_RESEND_ACCEPTED = "This invitation was accepted; the family is already connected."
MSG_RESEND_REVOKED = "This invitation was revoked."
MSG_OTHER_DISTRICT = "Every student must belong to the invitation's district."
CHUNK = 500  # values per `IN (…)`
BULK = 10_000  # rows written at once beyond which PostgreSQL's statistics are refreshed
ROSTER_MODELS = (GuardianContact, GuardianLink, Student, School, Invitation, Connection)


# -- family sync -----------------------------------------------------------------------------
@dataclass
class FamilySyncCounts:
    invitations_created: int = 0
    accounts_matched: int = 0
    connections_created: int = 0
    connections_removed: int = 0

    def as_counts(self) -> dict[str, dict[str, int]]:
        return {
            "invitations": {
                "created": self.invitations_created,
                "matched_accounts": self.accounts_matched,
            },
            "connections": {
                "created": self.connections_created,
                "removed": self.connections_removed,
            },
        }


def family_sync(
    *,
    district: District,
    run_id: int | None,
    now: datetime,
    bulk: bool = False,
    contact_ids: Collection[int] | None = None,
):
    """Issue the invitations and connections the roster now calls for; remove those of guardians
    who left it when the district says so. Call inside the sync's transaction, after apply.
    Returns a FamilySyncCounts, or None when family sync is off for the district. `bulk` says
    the run has just written many roster rows (PostgreSQL then refreshes its statistics).

    `contact_ids` limits the work to these guardian contacts (an events sync passes those whose
    rows or students it changed), so that it costs in proportion to them; default: every one.

    The rows are written by INSERT … SELECT: a first family sync of a large district issues
    100,000+ invitations without carrying them through Python."""
    options = district.sync
    if not options.family_sync:
        return None
    counts = FamilySyncCounts()
    statistics_refresh(ROSTER_MODELS, always=bulk)
    stamp = datetime_adapt(now)
    scope, scope_params = _scope_sql(options)
    tables = _tables()
    parts = list(_contact_parts(contact_ids))
    # 1. An invitation for every active contact the roster links to an active student in scope
    # and that has none yet. Its children become connections when it is sent (from the roster
    # as it is then); an invitation that cannot be sent lists them at once (step 3).
    # The contacts that have one already are subtracted with EXCEPT, which reads them all before
    # the first row is written. As NOT EXISTS, PostgreSQL re-read the invitations for every
    # contact while the statement added to them: in a first sync with family sync on, this
    # statement took 108 s there, not 1.4 (measured; the table's statistics said it was empty).
    # The outer condition on the contacts lets SQLite look them up rather than scan them all.
    insert = f"""
        INSERT INTO {tables["invitation"]} (district_id, contact_id, name, email, phone, channel,
            status, created_at, send_count, created_by_run_id)
        SELECT c.district_id, c.id, TRIM(c.first_name || ' ' || c.last_name), c.email,
            c.sms_phone,
            CASE WHEN c.email <> '' THEN 'email' WHEN c.sms_phone <> '' THEN 'sms' ELSE '' END,
            CASE WHEN c.email <> '' OR c.sms_phone <> '' THEN 'issued' ELSE 'unreachable' END,
            %s, 0, %s
        FROM {tables["contact"]} c
        WHERE c.district_id = %s {{only_c}} AND c.id IN (
            SELECT c.id FROM {tables["contact"]} c
            WHERE c.district_id = %s AND c.archived_at IS NULL
              AND EXISTS (SELECT 1 FROM {tables["link"]} gl
                  JOIN {tables["student"]} s ON s.id = gl.student_id
                  JOIN {tables["school"]} sc ON sc.id = s.school_id
                  WHERE gl.contact_id = c.id AND s.archived_at IS NULL {scope}) {{only_c}}
            EXCEPT
            SELECT i.contact_id FROM {tables["invitation"]} i WHERE {{invited}})
    """
    with connection.cursor() as cursor:
        for only, only_params in parts:
            # The invitations of these contacts, by their index (not all the district's).
            invited = only.replace("AND {column}", "i.contact_id") if only else "i.district_id = %s"
            sql = insert.replace("{only_c}", only.replace("{column}", "c.id"))
            params = [stamp, run_id, district.pk, *only_params]  # the contacts
            params += [district.pk, *scope_params, *only_params]  # linked to students in scope
            params += only_params or [district.pk]  # less those invited
            cursor.execute(sql.replace("{invited}", invited), params)
            counts.invitations_created += max(cursor.rowcount, 0)
    if counts.invitations_created > BULK:
        statistics_refresh([Invitation], always=True)
    # 2. This run's invitations that belong to an existing account (seed 000's matching rule).
    if counts.invitations_created and FamilyMember.objects.exists():
        fresh = Invitation.objects.filter(district=district, created_by_run_id=run_id)
        addresses = {
            pk: ("", email, phone) for pk, email, phone in fresh.values_list("pk", "email", "phone")
        }
        matches = _members_matching(addresses)
        for invitation_id, member_id in matches.items():
            Invitation.objects.filter(pk=invitation_id).update(member_id=member_id)
        counts.accounts_matched = len(matches)
    # 3. Children the roster links to a contact whose invitation does not list them yet:
    # new pending connections (on the account, if the invitation has one), or a connection the
    # roster had removed coming back. Invitations this run issued for sending are left out.
    missing = f"""
        SELECT gl.student_id, i.id, i.member_id, gl.contact_id, gl.relationship, cn.id
        FROM {tables["link"]} gl
        JOIN {tables["contact"]} c ON c.id = gl.contact_id
        JOIN {tables["student"]} s ON s.id = gl.student_id
        JOIN {tables["school"]} sc ON sc.id = s.school_id
        JOIN {tables["invitation"]} i ON i.contact_id = gl.contact_id
        LEFT JOIN {tables["connection"]} cn ON cn.invitation_id = i.id
            AND cn.student_id = gl.student_id
        WHERE c.district_id = %s AND c.archived_at IS NULL AND s.archived_at IS NULL {scope}
          AND (cn.id IS NULL OR cn.status = %s)
          AND NOT (i.status = %s AND COALESCE(i.created_by_run_id, 0) = %s) {{only}}
    """
    params = [district.pk, *scope_params, Connection.Status.REMOVED, Invitation.Status.ISSUED]
    found = []
    with connection.cursor() as cursor:
        for only, only_params in parts:
            sql = missing.replace("{only}", only.replace("{column}", "gl.contact_id"))
            cursor.execute(sql, [*params, run_id or 0, *only_params])
            found += cursor.fetchall()
    rows = [row[:5] + (Connection.Status.PENDING, stamp) for row in found if row[5] is None]
    reactivate = [row[5] for row in found if row[5] is not None]
    columns = ("student_id", "invitation_id", "member_id", "contact_id", "relationship")
    rows_insert(Connection, columns + ("status", "created_at"), rows)
    _statuses_set(reactivate, Connection.Status.PENDING, now=now, run_id=None)
    counts.connections_created = len(rows) + len(reactivate)
    # 4. Clever as the source of truth: a guardian who left loses the child's connection.
    if options.remove_departed_guardians:
        departed = [pk for part in parts for pk in _departed_connections(district, only=part)]
        _statuses_set(departed, Connection.Status.REMOVED, now=now, run_id=run_id)
        counts.connections_removed = len(departed)
    return counts


def _tables() -> dict[str, str]:
    models = {
        "invitation": Invitation,
        "connection": Connection,
        "contact": GuardianContact,
        "link": GuardianLink,
        "student": Student,
        "school": School,
    }
    return {name: model._meta.db_table for name, model in models.items()}


def _scope_sql(options) -> tuple[str, list[str]]:
    """The family-sync scope as a condition on `sc` (the student's school)."""
    if options.family_sync_all_schools:
        return "", []
    school_ids = list(options.family_sync_school_ids) or [""]
    return f"AND sc.external_id IN ({', '.join(['%s'] * len(school_ids))})", school_ids


def _eligible_links(district: District, *, contact_id: int) -> list[tuple[int, int, str]]:
    """(contact, student, relationship) of the contact's links that family sync invites to:
    an active contact, an active student, a school in the family-sync scope."""
    scope, scope_params = _scope_sql(district.sync)
    tables = _tables()
    sql = f"""
        SELECT gl.contact_id, gl.student_id, gl.relationship
        FROM {tables["link"]} gl
        JOIN {tables["contact"]} c ON c.id = gl.contact_id
        JOIN {tables["student"]} s ON s.id = gl.student_id
        JOIN {tables["school"]} sc ON sc.id = s.school_id
        WHERE c.district_id = %s AND c.archived_at IS NULL AND s.archived_at IS NULL
          AND gl.contact_id = %s {scope}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [district.pk, contact_id, *scope_params])
        return cursor.fetchall()


def _contact_parts(contact_ids: Collection[int] | None) -> Iterator[tuple[str, list[int]]]:
    """A condition on a contact id column (`{column}` stands for it) with its parameters,
    per chunk of `contact_ids`; one empty condition when every contact counts."""
    if contact_ids is None:
        yield "", []
        return
    ids = sorted(contact_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        yield f"AND {{column}} IN ({', '.join(['%s'] * len(chunk))})", chunk


def _departed_connections(
    district: District, *, only: tuple[str, list[int]] = ("", [])
) -> list[int]:
    """Live connections whose guardian's link to the student is gone from the roster."""
    link_table = GuardianLink._meta.db_table
    sql = f"""
        SELECT cn.id
        FROM {Connection._meta.db_table} cn
        JOIN {GuardianContact._meta.db_table} c ON c.id = cn.contact_id
        LEFT JOIN {link_table} gl ON gl.contact_id = cn.contact_id AND gl.student_id = cn.student_id
        WHERE c.district_id = %s AND cn.status IN (%s, %s)
          AND (gl.id IS NULL OR c.archived_at IS NOT NULL) {{only}}
    """.replace("{only}", only[0].replace("{column}", "cn.contact_id"))
    live = [Connection.Status.PENDING, Connection.Status.CONFIRMED]
    with connection.cursor() as cursor:
        cursor.execute(sql, [district.pk, *live, *only[1]])
        return [pk for (pk,) in cursor.fetchall()]


def _statuses_set(pks: list[int], status: str, *, now: datetime, run_id: int | None) -> None:
    for start in range(0, len(pks), CHUNK):
        Connection.objects.filter(pk__in=pks[start : start + CHUNK]).update(
            status=status, decided_at=now, removed_by_run_id=run_id
        )


# -- matching family accounts ------------------------------------------------------------------
def member_match(*, email: str, phone: str) -> FamilyMember | None:
    """The family account a contact with this e-mail and phone belongs to, if any (seed 000).

    The contact needs an e-mail or a phone. An account that has both an e-mail and a phone is
    matched only when both match; an account without a phone is matched by its e-mail."""
    email = email_normalize(email)
    phone = phone_e164(phone) if phone else ""
    member_id = _members_matching({0: ("", email, phone)}).get(0)
    return FamilyMember.objects.get(pk=member_id) if member_id else None


def _members_matching(contacts: dict[int, tuple[str, str, str]]) -> dict[int, int]:
    """contact key -> family member id, for contacts given as key -> (name, e-mail, phone),
    by the rule of `member_match`.

    A few contacts (a nightly sync) are looked up by their addresses; many (a first family
    sync) against one read of every account, as a lookup per 500 addresses would scan the
    accounts again each time (e-mails compare lower-cased, which no index serves)."""
    emails = sorted({email for _, email, _ in contacts.values() if email})
    phones = sorted({phone for _, _, phone in contacts.values() if phone})
    user_table = get_user_model()._meta.db_table
    base = f"""
        SELECT m.id, LOWER(u.email), m.phone
        FROM {FamilyMember._meta.db_table} m JOIN {user_table} u ON u.id = m.user_id
    """
    queries: list[tuple[str, list[str]]] = []
    if len(emails) + len(phones) > 2 * CHUNK:
        queries.append((base, []))
    else:
        for column, values in (("LOWER(u.email)", emails), ("m.phone", phones)):
            if values:
                marks = ", ".join(["%s"] * len(values))
                queries.append((f"{base} WHERE {column} IN ({marks})", values))
    candidates: dict[str, list[tuple[int, str, str]]] = {}
    with connection.cursor() as cursor:
        for sql, params in queries:
            cursor.execute(sql, params)
            for member_id, member_email, member_phone in cursor.fetchall():
                for key in {member_email, member_phone} - {""}:
                    candidates.setdefault(key, []).append((member_id, member_email, member_phone))
    matched: dict[int, int] = {}
    for key, (_, email, phone) in contacts.items():
        for member_id, member_email, member_phone in candidates.get(email, []) + candidates.get(
            phone, []
        ):
            both = email == member_email and phone == member_phone
            if both or (not member_phone and email == member_email):
                matched[key] = member_id
                break
    return matched


# -- invitations by hand, sending, re-sending ----------------------------------------------------
def invitation_issue(
    *,
    district: District,
    name: str,
    email: str,
    phone: str,
    students: list[tuple[Student, str]],
    contact: GuardianContact | None = None,
    by_user=None,
    run=None,
    send: bool = True,
) -> Invitation:
    """Invite one person to connect to these students (staff inviting a family by hand).

    The invitation is sent after the transaction commits, unless `send` is false."""
    email = email_normalize(email)
    phone = phone_e164(phone) if phone else ""
    if not email and not phone:
        raise ValueError(MSG_NO_ADDRESS)
    if not students:
        raise ValueError(MSG_NO_STUDENTS)
    if any(student.district_id != district.pk for student, _ in students):
        raise ValueError(MSG_OTHER_DISTRICT)
    member = member_match(email=email, phone=phone)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            district=district,
            contact=contact,
            member=member,
            name=name,
            email=email,
            phone=phone,
            channel=Invitation.Channel.EMAIL if email else Invitation.Channel.SMS,
            created_by_run=run,
            created_by_user=by_user,
        )
        Connection.objects.bulk_create(
            Connection(
                student=student,
                invitation=invitation,
                member=member,
                contact=contact,
                relationship=relationship,
            )
            for student, relationship in students
        )
        AuditEvent.objects.create(
            district=district,
            user=by_user,
            run=run,
            action="invitation_issue",
            summary=f"Invitation {invitation.pk} issued for {len(students)} student(s)",
            detail={"invitation": invitation.pk, "students": [s.pk for s, _ in students]},
        )
        if send:
            transaction.on_commit(lambda: invitation_send(invitation=invitation))
    return invitation


def invitations_send(*, district: District, limit: int | None = None) -> Counter:
    """Send the district's invitations that were issued and never sent; returns the number
    per outcome ("sent", "unreachable"). Each is claimed first (its `sent_at` set), so two
    senders running at once never send the same invitation twice."""
    outcomes: Counter = Counter()
    pending = Invitation.objects.filter(
        district=district, status=Invitation.Status.ISSUED, sent_at__isnull=True
    )
    pks = list(pending.order_by("pk").values_list("pk", flat=True)[:limit])
    for pk in pks:
        if not pending.filter(pk=pk).update(sent_at=timezone.now()):
            continue  # another sender has it
        invitation = Invitation.objects.select_related("district__sync").get(pk=pk)
        outcomes[invitation_send(invitation=invitation).status] += 1
    return outcomes


def invitation_send(
    *, invitation: Invitation, now: datetime | None = None, email: bool = True
) -> Invitation:
    """Send the invitation with a fresh link: by e-mail when there is an address, else by text
    to the phone of the district's chosen type; an e-mail that fails falls back to a text. An
    invitation neither reaches is marked unreachable (staff see it listed)."""
    now = now or timezone.now()
    district = invitation.district
    _connections_list(invitation)
    expires = now + timedelta(days=district.sync.invitation_expiry_days)
    token, digest = token_new()
    context = _message_context(invitation, token=token, expires=expires)
    channels = []
    if invitation.email and email:
        channels.append(Delivery.Channel.EMAIL)
    if invitation.phone:
        channels.append(Delivery.Channel.SMS)
    delivery = None
    for channel in channels:
        to = invitation.email if channel == Delivery.Channel.EMAIL else invitation.phone
        delivery = message_send(
            channel=channel, to=to, template="invitation", context=context, district=district
        )
        if delivery.status == Delivery.Status.SENT:
            invitation.channel = channel
            break
    invitation.last_delivery = delivery
    invitation.send_count += 1
    if delivery is not None and delivery.status == Delivery.Status.SENT:
        invitation.status = Invitation.Status.SENT
        invitation.token_hash = digest
        invitation.sent_at = now
        invitation.expires_at = expires
    else:
        invitation.status = Invitation.Status.UNREACHABLE
        invitation.token_hash = None
    invitation.save()
    return invitation


def _connections_list(invitation: Invitation) -> None:
    """Give an invitation from the roster a pending connection for every child the roster
    links its contact to now (in the family-sync scope) that it does not list yet."""
    if invitation.contact_id is None:
        return
    links = _eligible_links(invitation.district, contact_id=invitation.contact_id)
    Connection.objects.bulk_create(
        [
            Connection(
                student_id=student_id,
                invitation=invitation,
                member_id=invitation.member_id,
                contact_id=contact_id,
                relationship=relationship,
            )
            for contact_id, student_id, relationship in links
        ],
        ignore_conflicts=True,  # the children it lists already
    )


def _message_context(invitation: Invitation, *, token: str, expires: datetime) -> dict:
    schools = sorted(
        set(
            invitation.connections.filter(status=Connection.Status.PENDING).values_list(
                "student__school__name", flat=True
            )
        )
    )
    children = invitation.connections.filter(status=Connection.Status.PENDING).count()
    return {
        "district": invitation.district.name,
        "name": invitation.name,
        "child_count": children,
        "schools": _join(schools) or invitation.district.name,
        "link": f"{django_settings.HOMEROOM_BASE_URL}/i/{token}",
        "expires": expires,
    }


def _join(words: list[str]) -> str:
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def invitation_resend(*, invitation: Invitation, by_user=None) -> Invitation:
    """Staff re-send an invitation: a new link (the old one stops working), a new message."""
    if invitation.status == Invitation.Status.ACCEPTED:
        raise ValueError(MSG_RESEND_ACCEPTED)
    if invitation.status == Invitation.Status.REVOKED:
        raise ValueError(MSG_RESEND_REVOKED)
    with transaction.atomic():
        invitation = invitation_send(invitation=invitation)
        AuditEvent.objects.create(
            district=invitation.district,
            user=by_user,
            action="invitation_resend",
            summary=f"Invitation {invitation.pk} re-sent ({invitation.status})",
            detail={"invitation": invitation.pk},
        )
    return invitation


@receiver(delivery_bounced_signal)
def _invitation_bounced(sender, delivery: Delivery, **kwargs) -> None:
    """An invitation e-mail that bounces falls back to a text where there is a phone."""
    invitation = Invitation.objects.filter(last_delivery=delivery).first()
    if invitation is None or invitation.status != Invitation.Status.SENT:
        return
    invitation_bounced(invitation=invitation, delivery=delivery)


def invitation_bounced(*, invitation: Invitation, delivery: Delivery) -> Invitation:
    """A sent invitation did not arrive: try a text if it was an e-mail, else mark the family
    unreachable so staff see it."""
    if delivery.channel == Delivery.Channel.EMAIL and invitation.phone:
        return invitation_send(invitation=invitation, email=False)
    invitation.status = Invitation.Status.UNREACHABLE
    invitation.token_hash = None
    invitation.save(update_fields=["status", "token_hash"])
    return invitation


# -- what staff see ------------------------------------------------------------------------------
def invitations_unreachable(*, district: District):
    """Families that can be reached by neither e-mail nor text."""
    return Invitation.objects.filter(
        district=district, status=Invitation.Status.UNREACHABLE
    ).select_related("last_delivery")


def family_mismatches(*, district: District) -> list[dict]:
    """Accounts whose own details disagree with the roster. The account wins (seed 000: only
    the family member can change them); staff see the list and fix the SIS or ask the family."""
    found = []
    invitations = (
        Invitation.objects.filter(
            district=district, status=Invitation.Status.ACCEPTED, contact__isnull=False
        )
        .exclude(Q(member__isnull=True))
        .select_related("contact", "member__user")
    )
    for invitation in invitations:
        contact, member = invitation.contact, invitation.member
        account_email = email_normalize(member.user.email)
        if contact.email and contact.email != account_email:
            found.append(_mismatch(invitation, "email", contact.email, account_email))
        if contact.sms_phone and member.phone and contact.sms_phone != member.phone:
            found.append(_mismatch(invitation, "phone", contact.sms_phone, member.phone))
    return found


def _mismatch(invitation: Invitation, field: str, roster: str, account: str) -> dict:
    return {
        "invitation": invitation.pk,
        "contact": invitation.contact.external_id or invitation.contact.pk,
        "member": invitation.member_id,
        "field": field,
        "roster": roster,
        "account": account,
    }
