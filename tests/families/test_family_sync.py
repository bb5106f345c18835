"""Family sync (seed 000, issue 4): guardian contacts in the roster become invitations at the
sync that finds them, one per person listing every child, sent once, by e-mail else SMS."""

from __future__ import annotations

import re
import smtplib

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import transaction

from homeroom.directory.models import AuditEvent, GuardianContact, School, Student
from homeroom.families.models import Connection, FamilyMember, Invitation
from homeroom.families.services import (
    family_mismatches,
    invitation_issue,
    invitation_resend,
    invitations_unreachable,
    member_match,
)
from homeroom.families.tokens import token_digest
from homeroom.notify.models import Delivery
from homeroom.notify.services import delivery_bounced
from homeroom.rostering.services import district_settings_update, district_sync
from tests.rostering.conftest import (
    completed,
    new_district,
    sandbox_app,
    source_for_app,
    sync_from,
    users_with_role,
)

LINK = re.compile(r"http://testserver/i/([A-Za-z0-9_-]{22})\b")


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.HOMEROOM_BASE_URL = "http://testserver"


@pytest.fixture(autouse=True)
def _on_commit_now(monkeypatch):
    """Each test runs inside a transaction that never commits: run the after-commit work (the
    sending of invitations) at once, as a real commit would."""
    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())


def reachable(store) -> list[dict]:
    """The store's contacts that sync keeps: those with an e-mail or a phone."""
    return [
        c
        for c in users_with_role(store, "contact")
        if c.get("email") or c["roles"]["contact"].get("phone")
    ]


def family_district(**settings):
    return new_district(family_sync=True, **settings)


def member_with(email: str, phone: str = "") -> FamilyMember:
    user = get_user_model().objects.create_user(username=email, email=email, password="x" * 12)
    return FamilyMember.objects.create(user=user, name="Existing", phone=phone)


def test_family_sync_is_off_by_default(db, tiny_store):
    district = new_district()
    run = completed(sync_from(district, tiny_store))
    assert run.family_counts == {}
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_one_invitation_per_contact_listing_every_child(db, tiny_store):
    # given a district with family sync on
    district = family_district()
    # when it syncs
    run = completed(sync_from(district, tiny_store))
    # then every contact with an e-mail or a phone has one invitation, with one connection per
    # student the roster links them to, all pending
    contacts = reachable(tiny_store)
    assert Invitation.objects.filter(district=district).count() == len(contacts)
    for record in contacts:
        invitation = Invitation.objects.get(contact__external_id=record["id"])
        students = {r["student"] for r in record["roles"]["contact"]["student_relationships"]}
        held = set(invitation.connections.values_list("student__external_id", flat=True))
        assert held == students
        assert set(invitation.connections.values_list("status", flat=True)) == {"pending"}
        assert invitation.created_by_run_id == run.pk
    assert run.family_counts["invitations"]["created"] == len(contacts)
    # the children of an invitation are listed as it is sent (unreachable ones: at once)
    unreachable = Connection.objects.filter(invitation__status="unreachable").count()
    assert run.family_counts["connections"]["created"] == unreachable > 0


def test_channel_is_email_when_there_is_one_else_sms_to_the_chosen_phone(
    db, tiny_store, _sms_outbox
):
    district = family_district()
    completed(sync_from(district, tiny_store))
    for invitation in Invitation.objects.select_related("contact"):
        contact = invitation.contact
        if contact.email:
            assert invitation.channel == "email" and invitation.last_delivery.to == contact.email
        elif contact.sms_phone:
            assert invitation.channel == "sms" and invitation.last_delivery.to == contact.sms_phone
        else:  # a Home number only: never used for messages, so the family is unreachable
            assert invitation.status == "unreachable" and invitation.last_delivery is None
            continue
        assert invitation.status == "sent"
    emailed = Invitation.objects.filter(channel="email").count()
    texted = Invitation.objects.filter(channel="sms").count()
    assert len(mail.outbox) == emailed > 0
    assert len(_sms_outbox) == texted > 0
    home_only = GuardianContact.objects.filter(district=district, email="", sms_phone="")
    assert home_only.exists()
    assert set(invitations_unreachable(district=district)) == set(
        Invitation.objects.filter(contact__in=home_only)
    )


def test_the_invitation_message_carries_a_short_single_link_and_no_child_name(
    db, tiny_store, _sms_outbox
):
    district = family_district()
    completed(sync_from(district, tiny_store))
    names = {s.first_name for s in Student.objects.filter(district=district) if s.first_name}
    for message in mail.outbox:
        tokens = LINK.findall(message.body)
        assert len(set(tokens)) == 1
        assert Invitation.objects.filter(token_hash=token_digest(tokens[0])).exists()
        assert district.name in message.subject
    for text in _sms_outbox:
        assert len(LINK.findall(text.body)) == 1
        assert not any(name in text.body for name in names)
        assert len(text.body) <= 160


def test_invitations_are_sent_once_and_never_again_automatically(db, tiny_store, _sms_outbox):
    district = family_district()
    completed(sync_from(district, tiny_store))
    sent = len(mail.outbox) + len(_sms_outbox)
    hashes = set(Invitation.objects.values_list("token_hash", flat=True))
    # when the district syncs again, twice
    for _ in range(2):
        run = completed(sync_from(district, tiny_store))
        assert run.family_counts["invitations"]["created"] == 0
    # then nothing more is sent and the links still work
    assert len(mail.outbox) + len(_sms_outbox) == sent
    assert set(Invitation.objects.values_list("token_hash", flat=True)) == hashes


def test_a_child_added_later_joins_the_same_invitation_without_a_new_message(db, tiny_store):
    district = family_district()
    completed(sync_from(district, tiny_store))
    sent = len(mail.outbox)
    # given a contact the roster now also links to another student
    record = next(c for c in reachable(tiny_store) if c.get("email"))
    linked = {r["student"] for r in record["roles"]["contact"]["student_relationships"]}
    other = next(s for s in users_with_role(tiny_store, "student") if s["id"] not in linked)
    record["roles"]["contact"]["student_relationships"].append(
        {"student": other["id"], "relationship": "Grandparent", "type": "Parent/Guardian"}
    )
    tiny_store.replace("users", record)
    run = completed(sync_from(district, tiny_store))
    # then the same invitation lists the new child, pending, and no message goes out
    invitation = Invitation.objects.get(contact__external_id=record["id"])
    added = invitation.connections.get(student__external_id=other["id"])
    assert added.status == "pending" and added.relationship == "Grandparent"
    assert run.family_counts == {
        "invitations": {"created": 0, "matched_accounts": 0},
        "connections": {"created": 1, "removed": 0},
    }
    assert len(mail.outbox) == sent


def test_staff_resend_replaces_the_link(db, tiny_store):
    district = family_district()
    completed(sync_from(district, tiny_store))
    invitation = Invitation.objects.filter(channel="email").first()
    old_hash = invitation.token_hash
    mail.outbox.clear()
    invitation = invitation_resend(invitation=invitation)
    assert invitation.status == "sent" and invitation.send_count == 2
    assert invitation.token_hash != old_hash
    (token,) = LINK.findall(mail.outbox[0].body)
    assert token_digest(token) == invitation.token_hash
    assert AuditEvent.objects.filter(action="invitation_resend").count() == 1


def test_resend_of_an_accepted_invitation_is_refused(db, tiny_store):
    district = family_district()
    completed(sync_from(district, tiny_store))
    invitation = Invitation.objects.first()
    invitation.status = Invitation.Status.ACCEPTED
    invitation.save()
    with pytest.raises(ValueError, match="accepted"):
        invitation_resend(invitation=invitation)


# -- matching an existing family account -----------------------------------------------------
def _contact_with_email_and_cell(store) -> dict:
    return next(
        c
        for c in reachable(store)
        if c.get("email") and c["roles"]["contact"].get("phone_type") == "Cell"
    )


def test_an_account_with_email_only_is_matched_by_email(db, tiny_store):
    record = _contact_with_email_and_cell(tiny_store)
    member = member_with(record["email"].upper())
    district = family_district()
    run = completed(sync_from(district, tiny_store))
    invitation = Invitation.objects.get(contact__external_id=record["id"])
    assert invitation.member == member
    assert set(invitation.connections.values_list("member", flat=True)) == {member.pk}
    assert run.family_counts["invitations"]["matched_accounts"] == 1
    assert FamilyMember.objects.count() == 1  # no second account


def test_an_account_with_email_and_phone_needs_both_to_match(db, tiny_store):
    record = _contact_with_email_and_cell(tiny_store)
    # given an account with the contact's e-mail but another phone
    member_with(record["email"], phone="+15005550006")
    district = family_district()
    completed(sync_from(district, tiny_store))
    # then the contact is not matched to it
    assert Invitation.objects.get(contact__external_id=record["id"]).member is None


def test_an_account_whose_email_and_phone_both_match_is_matched(db, tiny_store):
    record = _contact_with_email_and_cell(tiny_store)
    district = family_district()
    completed(sync_from(district, tiny_store))
    contact = GuardianContact.objects.get(district=district, external_id=record["id"])
    member = member_with(contact.email, phone=contact.sms_phone)
    assert member_match(email=contact.email, phone=contact.sms_phone) == member
    assert member_match(email=contact.email, phone="") is None
    assert member_match(email="", phone=contact.sms_phone) is None


def test_a_guardian_of_children_in_two_districts_is_matched_to_one_account(db, tiny_store):
    record = _contact_with_email_and_cell(tiny_store)
    first, second = family_district(), new_district(name="Second", family_sync=True)
    completed(sync_from(first, tiny_store))
    contact = GuardianContact.objects.get(district=first, external_id=record["id"])
    # given the guardian made an account from the first district's invitation
    member = member_with(contact.email, phone=contact.sms_phone)
    Invitation.objects.filter(contact=contact).update(member=member, status="accepted")
    # when the second district (same roster) syncs
    completed(sync_from(second, tiny_store))
    # then its invitation goes to the same account, with the children pending there
    invitation = Invitation.objects.get(district=second, contact__external_id=record["id"])
    assert invitation.member == member
    pending = member.connections.filter(status="pending", student__district=second)
    assert pending.count() == len(record["roles"]["contact"]["student_relationships"])


# -- removal -----------------------------------------------------------------------------------
def _drop_one_child(store) -> tuple[dict, str]:
    record = next(
        c
        for c in reachable(store)
        if c.get("email") and len(c["roles"]["contact"]["student_relationships"]) >= 2
    )
    relationships = record["roles"]["contact"]["student_relationships"]
    dropped = relationships[0]["student"]
    record["roles"]["contact"]["student_relationships"] = relationships[1:]
    store.replace("users", record)
    return record, dropped


@pytest.mark.parametrize("remove", [True, False])
def test_a_guardian_removed_from_the_roster_loses_the_connection_only_when_set(
    db, tiny_store, remove
):
    district = family_district(remove_departed_guardians=remove)
    completed(sync_from(district, tiny_store))
    Connection.objects.update(status="confirmed")
    record, dropped = _drop_one_child(tiny_store)
    run = completed(sync_from(district, tiny_store))
    connection = Connection.objects.get(
        contact__external_id=record["id"], student__external_id=dropped
    )
    others = Connection.objects.filter(contact__external_id=record["id"]).exclude(pk=connection.pk)
    if remove:
        assert connection.status == "removed" and connection.removed_by_run_id == run.pk
        assert run.family_counts["connections"]["removed"] == 1
    else:
        assert connection.status == "confirmed"
        assert run.family_counts["connections"]["removed"] == 0
    assert set(others.values_list("status", flat=True)) == {"confirmed"}


# -- scope --------------------------------------------------------------------------------------
def test_family_sync_for_selected_schools_invites_only_their_families(db, demo_store):
    district = family_district()
    completed(sync_from(district, demo_store))
    Invitation.objects.all().delete()
    school = School.objects.filter(district=district).order_by("external_id").first()
    district_settings_update(
        district=district,
        changes={"family_sync_all_schools": False, "family_sync_school_ids": [school.external_id]},
    )
    completed(sync_from(district, demo_store))
    schools = set(
        Connection.objects.values_list("student__school__external_id", flat=True).distinct()
    )
    assert schools == {school.external_id}
    assert Invitation.objects.exists()


def test_a_self_check_issues_no_invitation(db, tiny_store):
    district = family_district()
    run = district_sync(
        district=district, source=source_for_app(sandbox_app(tiny_store)), dry_run=True
    )
    assert run.status == "completed" and run.family_counts == {}
    assert not Invitation.objects.exists() and not Connection.objects.exists()
    assert mail.outbox == []


# -- delivery failures --------------------------------------------------------------------------
class FailingEmailBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({"x": (550, b"no such mailbox")})


def test_an_email_that_fails_falls_back_to_sms_and_neither_is_unreachable(
    db, tiny_store, settings, _sms_outbox
):
    settings.EMAIL_BACKEND = f"{__name__}.FailingEmailBackend"
    district = family_district()
    completed(sync_from(district, tiny_store))
    with_phone = Invitation.objects.exclude(phone="")
    assert with_phone.exists()
    for invitation in with_phone:
        assert invitation.status == "sent" and invitation.channel == "sms"
    unreachable = set(invitations_unreachable(district=district))
    assert unreachable == set(Invitation.objects.filter(phone=""))
    assert all(i.token_hash is None for i in unreachable)
    failed = Delivery.objects.filter(channel="email", status="failed")
    assert failed.count() == Invitation.objects.exclude(email="").count()
    assert "no such mailbox" in failed.first().reason


def test_a_bounced_invitation_email_falls_back_to_sms(db, tiny_store, _sms_outbox):
    district = family_district()
    completed(sync_from(district, tiny_store))
    invitation = Invitation.objects.filter(channel="email").exclude(phone="").first()
    delivery = invitation.last_delivery
    texts = len(_sms_outbox)
    delivery_bounced(provider="email", provider_id=delivery.provider_id, reason="550 unknown")
    invitation.refresh_from_db()
    delivery.refresh_from_db()
    assert delivery.status == "bounced" and delivery.reason == "550 unknown"
    assert invitation.channel == "sms" and invitation.status == "sent"
    assert len(_sms_outbox) == texts + 1


def test_a_bounce_with_no_phone_makes_the_family_unreachable(db, tiny_store):
    district = family_district()
    completed(sync_from(district, tiny_store))
    invitation = Invitation.objects.filter(channel="email", phone="").first()
    delivery_bounced(
        provider="email", provider_id=invitation.last_delivery.provider_id, reason="gone"
    )
    invitation.refresh_from_db()
    assert invitation.status == "unreachable" and invitation.token_hash is None


# -- by hand, and what staff see -------------------------------------------------------------
def test_staff_invite_a_family_by_hand(db, tiny_store):
    district = family_district()
    completed(sync_from(district, tiny_store))
    students = list(Student.objects.filter(district=district)[:2])
    mail.outbox.clear()
    invitation = invitation_issue(
        district=district,
        name="Robin Hand",
        email="Robin@Example.org",
        phone="",
        students=[(s, "Parent") for s in students],
    )
    invitation.refresh_from_db()
    assert invitation.email == "robin@example.org" and invitation.status == "sent"
    assert invitation.connections.count() == 2
    assert len(mail.outbox) == 1 and "2 students" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action="invitation_issue").exists()
    with pytest.raises(ValueError):
        invitation_issue(district=district, name="", email="", phone="", students=students)


def test_mismatched_account_details_are_listed_and_the_account_wins(db, tiny_store):
    record = _contact_with_email_and_cell(tiny_store)
    district = family_district()
    completed(sync_from(district, tiny_store))
    contact = GuardianContact.objects.get(district=district, external_id=record["id"])
    member = member_with("own@example.org", phone=contact.sms_phone)
    Invitation.objects.filter(contact=contact).update(member=member, status="accepted")
    completed(sync_from(district, tiny_store))
    member.user.refresh_from_db()
    assert member.user.email == "own@example.org"
    (row,) = family_mismatches(district=district)
    assert row["field"] == "email"
    assert (row["roster"], row["account"]) == (contact.email, "own@example.org")
