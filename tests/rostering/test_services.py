"""Rostering services around a sync: adding a district, changing its settings, runs' bookkeeping."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from homeroom.rostering.models import SyncRun
from homeroom.rostering.services import (
    ERR_BUSY,
    ERR_INTERRUPTED,
    district_settings_update,
    run_report,
    run_start,
    runs_interrupted_mark,
)
from tests.rostering.conftest import completed, new_district, sync_from


def test_district_add_makes_unique_slugs_and_default_settings(db):
    first, second = new_district("Springfield USD"), new_district("Springfield USD")
    assert (first.slug, second.slug) == ("springfield-usd", "springfield-usd-2")
    settings = first.sync
    assert settings.all_schools and settings.sync_classrooms and settings.unarchive_classrooms
    assert not settings.unique_class_names and not settings.update_active_contacts
    assert settings.manage_guardians and not settings.remove_departed_guardians
    assert settings.student_id == "sis_id" and settings.archived_students == "archive"
    assert settings.sms_phone_type == "Cell" and settings.deletion_threshold_percent == 10


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"sms_phone_type": "Pager"}, "sms_phone_type"),
        ({"student_id": "nickname"}, "student_id"),
        ({"bogus": True}, "bogus"),
        ({"contact_types": ["Parents"]}, "contact_types"),
        ({"relationships": "Parent"}, "relationships"),
        ({"school_ids": "5f0000000000000000000000"}, "school_ids"),
    ],
)
def test_settings_update_rejects_an_invalid_value_naming_the_setting(db, changes, setting):
    district = new_district()
    with pytest.raises(ValueError, match=setting):
        district_settings_update(district=district, changes=changes)
    district.sync.refresh_from_db()
    assert district.sync.contact_types == [
        "Parent/Guardian",
        "Primary",
        "Secondary",
        "Family",
        "Emergency",
        "Other",
    ]
    assert district.sync.relationships[0] == "Parent" and district.sync.school_ids == []


def test_run_report(db, tiny_store):
    district = new_district()
    run = completed(sync_from(district, tiny_store))
    report = run_report(run)
    assert report["run"] == run.pk and report["district"] == district.slug
    assert (report["kind"], report["trigger"], report["status"]) == ("full", "manual", "completed")
    assert report["started_at"] == run.started_at.isoformat()
    assert report["counts"]["students"]["created"] == 30
    assert report["warning_count"] == len(report["warnings"]) > 0
    assert (report["error_code"], report["error_message"]) == ("", "")


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_runs_interrupted_mark_judges_only_dead_processes_of_this_machine(db):
    host = socket.gethostname()
    runs = {}
    for name, worker in (
        ("dead", f"{host}:{_dead_pid()}"),
        ("alive", f"{host}:{os.getpid()}"),
        ("remote", "another-host:1"),
    ):
        district = new_district(name=name)
        runs[name] = SyncRun.objects.create(
            district=district, status=SyncRun.Status.RUNNING, worker=worker
        )
        expected = 1 if name == "dead" else 0
        assert runs_interrupted_mark(district=district) == expected
    dead = runs["dead"]
    dead.refresh_from_db()
    assert (dead.status, dead.error_code) == (SyncRun.Status.FAILED, ERR_INTERRUPTED)
    assert dead.finished_at is not None
    for run in (runs["alive"], runs["remote"]):
        run.refresh_from_db()
        assert run.status == SyncRun.Status.RUNNING


def test_a_run_whose_lease_ran_out_is_failed_wherever_it_ran(db):
    district = new_district()
    stale = SyncRun.objects.create(
        district=district,
        status=SyncRun.Status.RUNNING,
        worker="another-host:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert runs_interrupted_mark(district=district) == 1
    stale.refresh_from_db()
    assert (stale.status, stale.error_code) == (SyncRun.Status.FAILED, ERR_INTERRUPTED)


def test_the_database_holds_one_running_run_per_district(db):
    district = new_district()
    first = run_start(district=district, kind="full", trigger="manual")
    second = run_start(district=district, kind="full", trigger="scheduled")
    assert first.status == SyncRun.Status.RUNNING and first.lease_expires_at > timezone.now()
    assert (second.status, second.error_code) == (SyncRun.Status.FAILED, ERR_BUSY)
    assert f"run {first.pk}" in second.error_message
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(district=district, status=SyncRun.Status.RUNNING)
    # another district is not held up
    other = run_start(district=new_district(name="Other"), kind="full", trigger="manual")
    assert other.status == SyncRun.Status.RUNNING


def test_a_second_sync_while_one_runs_is_refused(db, tiny_store):
    district = new_district()
    live = SyncRun.objects.create(
        district=district,
        status=SyncRun.Status.RUNNING,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    run = sync_from(district, tiny_store)
    assert run.status == SyncRun.Status.FAILED and run.error_code == ERR_BUSY
    assert f"run {live.pk}" in run.error_message
    assert not district.sync.district.runs.filter(status=SyncRun.Status.COMPLETED).exists()


def test_settings_changes_are_audited_without_the_token(db):
    # Given a district
    district = new_district()
    # When an admin turns classroom data off and replaces the token
    district_settings_update(
        district=district, changes={"sync_classrooms": False, "token": "new-secret-token"}
    )
    # Then one audit event names the change, and the token appears nowhere in it
    from homeroom.directory.models import AuditEvent

    event = AuditEvent.objects.get(district=district, action="sync_settings_update")
    assert event.detail == {"changes": {"sync_classrooms": False}, "token_replaced": True}
    assert "new-secret-token" not in f"{event.summary} {event.detail}"


def test_an_unexpected_error_fails_the_run_and_logs_no_personal_data(
    db, tiny_store, monkeypatch, caplog
):
    # Given an apply that fails with a database-style message quoting a row's e-mail
    import homeroom.rostering.services as services

    email = "jane.doe" + "@example.com"  # data, as a real failure would carry it

    def broken_apply(*args, **kwargs):
        raise RuntimeError(f"duplicate key (email)=({email})")

    monkeypatch.setattr(services, "plan_apply", broken_apply)
    district = new_district()
    # When a sync runs
    with caplog.at_level("DEBUG"):
        run = sync_from(district, tiny_store)
    # Then the run failed with an actionable message, and the log has the error's type only
    assert run.status == SyncRun.Status.FAILED and run.error_code == "internal_error"
    assert f"run {run.pk}" in run.error_message
    assert "RuntimeError" in caplog.text
    assert "jane.doe@example.com" not in caplog.text


def test_the_report_counts_warnings_by_reason_beyond_the_stored_list(db, demo_store, monkeypatch):
    # Given a run that stores only 5 warnings
    monkeypatch.setattr(SyncRun, "MAX_WARNINGS", 5)
    # When the demo district syncs (dozens of its contacts have neither e-mail nor phone)
    run = completed(sync_from(new_district(), demo_store))
    # Then the summary counts every warning by reason, most frequent first
    assert len(run.warnings) == 5 and run.warning_count > 5
    assert sum(line["count"] for line in run.warning_summary) == run.warning_count
    top = run.warning_summary[0]
    assert top["entity"] == "contacts" and "neither an e-mail" in top["reason"]
    assert run_report(run)["warning_summary"] == run.warning_summary


def test_two_requests_at_the_same_moment_start_one_run(transactional_db):
    # given two workers asking to sync the same district at once, each on its own connection
    district = new_district()
    barrier = threading.Barrier(2)
    runs = []

    def request(trigger: str) -> None:
        barrier.wait()
        try:
            runs.append(run_start(district=district, kind="full", trigger=trigger))
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(t,)) for t in ("manual", "scheduled")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly one holds the district; the other is refused with a clear message
    assert sorted(run.status for run in runs) == ["failed", "running"]
    refused = next(run for run in runs if run.status == "failed")
    assert refused.error_code == ERR_BUSY
    assert SyncRun.objects.filter(district=district, status="running").count() == 1
