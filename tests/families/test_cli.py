"""`homeroom sync` with family sync on, and `homeroom families …`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.core import mail

from homeroom.cli import main
from homeroom.directory.models import AuditEvent, School, Student
from homeroom.families.models import Invitation
from homeroom.sandbox.runner import sandbox_thread
from homeroom.sandbox.store import Store
from tests.rostering.conftest import TOKEN, sandbox_app


@pytest.fixture(scope="module")
def sandbox_url(tiny_path) -> Iterator[str]:
    with sandbox_thread(sandbox_app(Store(tiny_path))) as sandbox:
        yield sandbox.url


@pytest.fixture
def slug(db, cli_runner, sandbox_url) -> str:
    added = cli_runner.invoke(
        main, ["district", "add", "Tiny ISD", "--clever-url", sandbox_url, "--token", TOKEN]
    )
    slug = added.stdout.strip().splitlines()[-1]
    cli_runner.invoke(main, ["district", "settings", slug, "family_sync=true"])
    return slug


def test_sync_issues_and_sends_invitations_and_reports_them(cli_runner, slug, _sms_outbox):
    result = cli_runner.invoke(main, ["sync", slug])
    assert result.exit_code == 0, result.output
    issued = Invitation.objects.count()
    assert f"Family sync: {issued:,} invitations issued" in result.stdout
    sent = Invitation.objects.filter(status="sent").count()
    assert sent > 0 and len(mail.outbox) + len(_sms_outbox) == sent
    report = json.loads(cli_runner.invoke(main, ["sync", slug, "--json"]).stdout)
    assert report["family_counts"]["invitations"]["created"] == 0  # sent once, not again


def test_families_invitations_lists_counts_by_status(cli_runner, slug):
    cli_runner.invoke(main, ["sync", slug])
    result = cli_runner.invoke(main, ["families", "invitations", slug, "--json"])
    data = json.loads(result.stdout)
    assert data["by_status"]["sent"] == Invitation.objects.filter(status="sent").count()
    assert len(data["invitations"]) == min(50, Invitation.objects.count())


def test_families_resend_invite_unreachable_and_access(
    cli_runner, slug, django_capture_on_commit_callbacks
):
    cli_runner.invoke(main, ["sync", slug])
    invitation = Invitation.objects.filter(status="sent").first()
    mail.outbox.clear()
    resent = cli_runner.invoke(main, ["families", "resend", str(invitation.pk)])
    assert resent.exit_code == 0 and "sent" in resent.stdout
    student = Student.objects.first()
    with django_capture_on_commit_callbacks(execute=True):  # it is sent once committed
        invited = cli_runner.invoke(
            main,
            ["families", "invite", slug, "--student", student.sis_id, "--email", "new@example.org"],
        )
    assert invited.exit_code == 0, invited.output
    assert Invitation.objects.filter(email="new@example.org", status="sent").exists()
    missing = cli_runner.invoke(main, ["families", "invite", slug, "--student", "nope"])
    assert missing.exit_code != 0 and "no student" in missing.output
    unreachable = cli_runner.invoke(main, ["families", "unreachable", slug])
    assert unreachable.stdout.count("\n") == Invitation.objects.filter(status="unreachable").count()
    school = School.objects.first()
    off = cli_runner.invoke(main, ["families", "access", slug, "off", "--school", str(school.pk)])
    assert off.exit_code == 0, off.output
    school.refresh_from_db()
    assert school.family_access is False
    assert AuditEvent.objects.filter(action="family_access_set").count() == 1


def test_families_templates_prints_the_message_texts(cli_runner):
    result = cli_runner.invoke(main, ["families", "templates"])
    assert "== invitation/sms.txt" in result.stdout
    assert "{{ link }}" in result.stdout
