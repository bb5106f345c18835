"""The invitation a person has opened, kept in their session between the portal's pages.

The session holds the token's hash, never the token, and every page looks the invitation up by
it again: a re-send (a new token) or an expiry stops a half-finished flow too.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest

from homeroom.directory.models import Student
from homeroom.families import accounts, selectors
from homeroom.families.models import FamilyMember, Invitation

SESSION_KEY = "families.invitation"


def invitation_remember(request: HttpRequest, invitation: Invitation) -> None:
    request.session[SESSION_KEY] = invitation.token_hash


def invitation_forget(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)


def invitation_hash(request: HttpRequest) -> str:
    return request.session.get(SESSION_KEY, "")


def invitation_opened(request: HttpRequest | None) -> Invitation | None:
    token_hash = invitation_hash(request) if request is not None else ""
    if not token_hash:
        return None
    return Invitation.objects.filter(token_hash=token_hash).first()


def students_concerned(request: HttpRequest | None) -> list[Student]:
    """The children whose school addresses a family e-mail must not be: those of the opened
    invitation, else the signed-in member's."""
    invitation = invitation_opened(request)
    if invitation is not None:
        return [c.student for c in invitation.connections.select_related("student")]
    if request is not None and request.user.is_authenticated:
        member = FamilyMember.objects.filter(user=request.user).first()
        if member is not None:
            return [child.student for child in selectors.member_children(member=member)]
    return []


def invitation_accept_into(request: HttpRequest, *, member: FamilyMember, now: datetime) -> bool:
    """Accept the opened invitation into a new account, if every child on it was decided."""
    invitation = invitation_opened(request)
    if invitation is None:
        return False
    try:
        accounts.invitation_accept(invitation=invitation, member=member, now=now)
    except (accounts.InvitationUnusable, ValueError):
        return False  # the invitation page says what is left to do
    return True
