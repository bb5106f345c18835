"""`homeroom district …` and `homeroom sync …` against a sandbox served on a real socket."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from homeroom.cli import main
from homeroom.directory.models import District
from homeroom.rostering.models import SyncRun
from homeroom.sandbox.runner import sandbox_thread
from homeroom.sandbox.store import Store
from tests.rostering.conftest import DIRECTORY_TABLES, TOKEN, sandbox_app, table_dump


@pytest.fixture(scope="module")
def sandbox_url(tiny_path) -> Iterator[str]:
    """The tiny district, served once for the module (these tests only read it)."""
    with sandbox_thread(sandbox_app(Store(tiny_path))) as sandbox:
        yield sandbox.url


def _add(runner: CliRunner, url: str, token: str = TOKEN):
    return runner.invoke(
        main, ["district", "add", "Tiny ISD", "--clever-url", url, "--token", token]
    )


def test_district_add_prints_the_slug(db, cli_runner, sandbox_url):
    result = _add(cli_runner, sandbox_url)
    assert result.exit_code == 0, result.output
    slug = result.stdout.strip().splitlines()[-1]
    assert slug == "tiny-isd"
    district = District.objects.get(slug=slug)
    assert district.source_url == sandbox_url
    assert district.external_id  # the Clever district the token belongs to
    assert TOKEN not in district.token_encrypted
    # a second district of the same name gets its own slug
    again = _add(cli_runner, sandbox_url)
    assert again.stdout.strip().splitlines()[-1] == "tiny-isd-2"


def test_district_add_with_a_wrong_token_creates_nothing(db, cli_runner, sandbox_url):
    result = _add(cli_runner, sandbox_url, token="wrong")
    assert result.exit_code == 1
    assert "Clever did not accept this district" in result.output
    assert "refused the district token" in result.output
    assert not District.objects.exists()


def test_district_settings_changes_a_setting(db, cli_runner, sandbox_url):
    slug = _add(cli_runner, sandbox_url).stdout.strip().splitlines()[-1]
    result = cli_runner.invoke(
        main, ["district", "settings", slug, "sync_classrooms=false", "school_ids=a,b"]
    )
    assert result.exit_code == 0, result.output
    settings = District.objects.get(slug=slug).sync
    assert settings.sync_classrooms is False
    assert settings.school_ids == ["a", "b"]


@pytest.mark.parametrize("change", ["bogus=1", "sync_classrooms", "sync_classrooms=maybe"])
def test_district_settings_rejects_a_bad_change_as_a_usage_error(
    db, cli_runner, sandbox_url, change
):
    slug = _add(cli_runner, sandbox_url).stdout.strip().splitlines()[-1]
    result = cli_runner.invoke(main, ["district", "settings", slug, change])
    assert result.exit_code == 2, result.output
    assert District.objects.get(slug=slug).sync.sync_classrooms is True


def test_district_settings_rejects_an_invalid_value(db, cli_runner, sandbox_url):
    slug = _add(cli_runner, sandbox_url).stdout.strip().splitlines()[-1]
    result = cli_runner.invoke(main, ["district", "settings", slug, "student_id=nickname"])
    assert result.exit_code == 1
    assert "student_id" in result.output
    assert District.objects.get(slug=slug).sync.student_id == "sis_id"


def test_sync_json_reports_a_completed_run(db, cli_runner, sandbox_url):
    slug = _add(cli_runner, sandbox_url).stdout.strip().splitlines()[-1]
    result = cli_runner.invoke(main, ["sync", slug, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "completed"
    assert report["district"] == slug
    assert report["kind"] == "full"
    assert report["counts"]["students"]["created"] == 30
    assert report["error_code"] == ""
    assert SyncRun.objects.get(pk=report["run"]).status == SyncRun.Status.COMPLETED


def test_a_failing_sync_exits_1(db, cli_runner, sandbox_url):
    slug = _add(cli_runner, sandbox_url).stdout.strip().splitlines()[-1]
    changed = cli_runner.invoke(main, ["district", "settings", slug, "--token", "revoked"])
    assert changed.exit_code == 0, changed.output
    result = cli_runner.invoke(main, ["sync", slug])
    assert result.exit_code == 1
    assert "FAILED" in result.stdout and "auth_failed" in result.stdout
    report = json.loads(cli_runner.invoke(main, ["sync", slug, "--json"]).stdout)
    assert report["status"] == "failed" and report["error_code"] == "auth_failed"


def test_sync_dry_run_writes_nothing(db, cli_runner, sandbox_url):
    slug = _add(cli_runner, sandbox_url).stdout.strip().splitlines()[-1]
    district = District.objects.get(slug=slug)
    result = cli_runner.invoke(main, ["sync", slug, "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["kind"] == "dry_run" and report["status"] == "completed"
    assert report["counts"]["students"]["created"] == 30  # what it would do
    assert all(rows == [] for rows in table_dump(district).values())
    assert len(table_dump(district)) == len(DIRECTORY_TABLES)
