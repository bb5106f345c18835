"""django-allauth's hooks for family accounts: sign-up within an invitation.

Glue only: each hook asks a service in `homeroom.families.accounts`.
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.utils import timezone

from homeroom.families import accounts, session


class FamilyAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # An invitation matched to an existing account is accepted by signing in to it: never a
        # second account for the same person.
        invitation = session.invitation_opened(request)
        return invitation is None or invitation.member_id is None

    def is_email_verified(self, request, email: str) -> bool:
        # The invitation e-mail's own address: opening its link proved the person reads it.
        invitation = session.invitation_opened(request)
        return super().is_email_verified(request, email) or accounts.invitation_proves_email(
            invitation=invitation, email=email
        )

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            member = accounts.family_member_create(user=user, name=form.cleaned_data["name"])
            session.invitation_accept_into(request, member=member, now=timezone.now())
        return user
