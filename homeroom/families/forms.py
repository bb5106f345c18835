"""Forms of the family portal. Validation of what a person typed only; the rules live in
`homeroom.families.accounts`."""

from __future__ import annotations

from allauth.account.forms import AddEmailForm as AllauthAddEmailForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context
from django import forms

from homeroom.families import accounts, session


class PersonalEmailMixin:
    """A family's e-mail is their own, not a student's school address (seed 001). Only on
    sign-up and on adding an address: elsewhere (password reset) the answer would tell anyone
    whether an address is a student's."""

    def clean_email(self) -> str:
        email = super().clean_email()
        try:
            accounts.email_validate_personal(
                email=email, students=session.students_concerned(context.request)
            )
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
        return email


class AddEmailForm(PersonalEmailMixin, AllauthAddEmailForm):
    """allauth's change of sign-in address (verified before it replaces the old one)."""


class SignupForm(PersonalEmailMixin, AllauthSignupForm):
    """allauth's sign-up (e-mail, password) with the person's name; within an invitation, both
    start as the invitation has them."""

    name = forms.CharField(label="Your name", max_length=200)

    field_order = ["name", "email", "password1"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].help_text = "Your personal e-mail address, not your child's."
        invitation = session.invitation_opened(context.request)
        if invitation is not None and not self.is_bound:
            self.fields["name"].initial = invitation.name
            if invitation.channel == invitation.Channel.EMAIL:
                self.fields["email"].initial = invitation.email


class AccountForm(forms.Form):
    """Name and notification preferences."""

    name = forms.CharField(label="Name", max_length=200)
    notify_unread_email = forms.BooleanField(
        label="E-mail me when a message waits unread for 3 hours", required=False
    )
    notify_unread_sms = forms.BooleanField(
        label="Text me when a message waits unread for 3 hours", required=False
    )


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label="Mobile number",
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )


class PhoneCodeForm(forms.Form):
    code = forms.CharField(
        label="Code from the text message",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
