"""The family portal's pages: the invitation flow, the home page, and account settings.

Views only read the request, call one service or selector, and choose a page; the rules are in
`accounts` (writes) and `selectors` (what a family may see).
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from homeroom.families import accounts, selectors, session
from homeroom.families.forms import AccountForm, PhoneCodeForm, PhoneForm
from homeroom.families.models import Connection
from homeroom.families.ratelimit import Rate, rate_limit_exceeded, too_many_requests

INVITATION_OPEN_PER_IP = Rate(20, 600)
INVITATION_OPEN_PER_LINK = Rate(10, 3600)
PHONE_START_PER_IP = Rate(10, 3600)
PHONE_START_PER_ACCOUNT = Rate(5, 3600)
PHONE_CONFIRM_PER_IP = Rate(30, 600)
PHONE_CONFIRM_PER_ACCOUNT = Rate(10, 600)

# What each unusable link answers; the page says why and how to get a new one.
UNUSABLE_STATUS = {
    accounts.INVALID: 404,
    accounts.EXPIRED: 410,
    accounts.USED: 410,
    accounts.WITHDRAWN: 410,
    accounts.WRONG_ACCOUNT: 403,
}


# The first page's address carries the link's token, so no request from these pages may carry
# it in a Referer. "no-referrer" would do that, but browsers then send `Origin: null` with the
# page's own form posts, and Django's CSRF check (rightly) refuses those: the opening button
# would never work (the browser test saw it). "strict-origin" sends only the site's origin, never
# a path, to anyone: the token stays out of every Referer and CSRF keeps its Origin check.
INVITATION_REFERRER_POLICY = "strict-origin"


def invitation_page(view):
    """Invitation pages: never cached, never indexed, no token in a Referer."""

    @never_cache
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = INVITATION_REFERRER_POLICY
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapped


def family_page(view):
    """Pages of a signed-in family member (`request.family_member`); never cached."""

    @never_cache
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        request.family_member = accounts.family_member_for_user(user=request.user)
        return view(request, *args, **kwargs)

    return wrapped


@invitation_page
@require_http_methods(["GET", "POST"])
def invitation_link(request, token: str):
    """/i/<token>. A GET shows only a button: link scanners and previews fetch links, so nothing
    about the invitation (not even whether it exists) is shown until the person presses it."""
    if request.method == "GET":
        return render(request, "families/invitation_link.html")
    if rate_limit_exceeded(
        request,
        scope="invitation_open",
        target=token,
        per_ip=INVITATION_OPEN_PER_IP,
        per_target=INVITATION_OPEN_PER_LINK,
    ):
        return too_many_requests(request)
    try:
        invitation = accounts.invitation_open(token=token, now=timezone.now())
    except accounts.InvitationUnusable as error:
        return _unusable(request, error)
    session.invitation_remember(request, invitation)
    return redirect("families:invitation")


@invitation_page
@require_http_methods(["GET", "POST"])
def invitation(request):
    """The opened invitation's next step; a POST on the last step accepts it."""
    try:
        step = accounts.invitation_step(
            token_hash=session.invitation_hash(request), user=request.user, now=timezone.now()
        )
        if step.kind == "accept" and request.method == "POST":
            member = accounts.family_member_for_user(user=request.user)
            accounts.invitation_accept(
                invitation=step.invitation, member=member, now=timezone.now()
            )
            step = accounts.Step("accepted", step.invitation)
    except accounts.InvitationUnusable as error:
        return _unusable(request, error)
    except ValueError:  # a child was added meanwhile (a sync): ask about it first
        return redirect("families:invitation")
    if step.kind == "accepted":
        session.invitation_forget(request)
        messages.success(request, "Your children are connected to your account.")
        return redirect("families:home")
    return render(request, f"families/invitation_{step.kind}.html", {"step": step})


@invitation_page
@require_POST
def connection_confirm(request, connection_id: int):
    """The answer "yes, this is my child", for a child of the opened invitation."""
    return _invitation_decision(request, connection_id, decline=False)


@invitation_page
@require_http_methods(["GET", "POST"])
def connection_decline(request, connection_id: int):
    """The answer "this is not my child": a page to make sure, then the POST that tells the
    school."""
    return _invitation_decision(request, connection_id, decline=True)


@family_page
@require_POST
def pending_confirm(request, connection_id: int):
    """The answer "yes, this is my child", for a child the sync added to the account later."""
    return _member_decision(request, connection_id, decline=False)


@family_page
@require_http_methods(["GET", "POST"])
def pending_decline(request, connection_id: int):
    return _member_decision(request, connection_id, decline=True)


@family_page
def home(request):
    member = request.family_member
    context = {
        "children": selectors.member_children(member=member),
        "pending": selectors.member_pending(member=member),
    }
    return render(request, "families/home.html", context)


@family_page
def child(request, student_id: int):
    found = selectors.member_child(member=request.family_member, student_id=student_id)
    if found is None:
        raise Http404
    return render(request, "families/child.html", {"child": found})


@family_page
@require_http_methods(["GET", "POST"])
def account(request):
    """Account settings: name and notifications here; e-mail and password on allauth's pages,
    the phone number on its own verification pages."""
    member = request.family_member
    form = AccountForm(
        request.POST or None,
        initial={
            "name": member.name,
            "notify_unread_email": member.notify_unread_email,
            "notify_unread_sms": member.notify_unread_sms,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            accounts.family_member_update(member=member, **form.cleaned_data)
        except ValueError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Your settings are saved.")
            return redirect("families:account")
    return render(request, "families/account.html", {"form": form, "member": member})


@family_page
@require_http_methods(["GET", "POST"])
def phone(request):
    """Add or change the mobile number: a code is texted to it."""
    form = PhoneForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if rate_limit_exceeded(
            request,
            scope="phone_start",
            target=str(request.family_member.pk),
            per_ip=PHONE_START_PER_IP,
            per_target=PHONE_START_PER_ACCOUNT,
        ):
            return too_many_requests(request)
        try:
            accounts.phone_verification_start(
                member=request.family_member, phone=form.cleaned_data["phone"], now=timezone.now()
            )
        except ValueError as error:
            form.add_error("phone", str(error))
        else:
            return redirect("families:phone_verify")
    return render(request, "families/phone.html", {"form": form})


@family_page
@require_http_methods(["GET", "POST"])
def phone_verify(request):
    form = PhoneCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if rate_limit_exceeded(
            request,
            scope="phone_confirm",
            target=str(request.family_member.pk),
            per_ip=PHONE_CONFIRM_PER_IP,
            per_target=PHONE_CONFIRM_PER_ACCOUNT,
        ):
            return too_many_requests(request)
        try:
            accounts.phone_verification_confirm(
                member=request.family_member, code=form.cleaned_data["code"], now=timezone.now()
            )
        except ValueError as error:
            form.add_error("code", str(error))
        else:
            messages.success(request, "Your mobile number is verified.")
            return redirect("families:account")
    return render(request, "families/phone_verify.html", {"form": form})


def _invitation_decision(request, connection_id: int, *, decline: bool):
    try:
        invitation = accounts.invitation_resume(
            token_hash=session.invitation_hash(request), now=timezone.now()
        )
        connection = accounts.connection_pending(connection_id=connection_id, invitation=invitation)
    except accounts.InvitationUnusable as error:
        return _unusable(request, error)
    except Connection.DoesNotExist:
        raise Http404 from None
    return _decision(request, connection, decline=decline, done="families:invitation")


def _member_decision(request, connection_id: int, *, decline: bool):
    try:
        connection = accounts.connection_pending(
            connection_id=connection_id, member=request.family_member
        )
    except Connection.DoesNotExist:
        raise Http404 from None
    return _decision(request, connection, decline=decline, done="families:home")


def _decision(request, connection: Connection, *, decline: bool, done: str):
    """Confirm, or decline after a page that makes sure; then back to `done`."""
    if decline and request.method == "GET":
        context = {"connection": connection, "back": done}
        return render(request, "families/connection_decline.html", context)
    decide = accounts.connection_decline if decline else accounts.connection_confirm
    decide(connection=connection, now=timezone.now())
    return redirect(done)


def _unusable(request, error: accounts.InvitationUnusable):
    if error.reason != accounts.WRONG_ACCOUNT:
        session.invitation_forget(request)
    return render(
        request,
        "families/invitation_unusable.html",
        {"reason": error.reason, "invitation": error.invitation},
        status=UNUSABLE_STATUS[error.reason],
    )
