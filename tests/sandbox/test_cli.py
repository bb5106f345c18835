"""`homeroom sandbox …`: generate, inspect, change and steer a sandbox district from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homeroom.cli import main
from homeroom.sandbox.faults import FaultSettings
from homeroom.sandbox.runner import make_app, sandbox_thread

from .conftest import TOKEN, client_for

TINY = ["--size", "tiny", "--seed", "3"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder of this test's own, so no test sees a district another one changed."""
    folder = tmp_path / "data"
    monkeypatch.setenv("HOMEROOM_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def sandbox(cli_runner, data_dir):
    """Run `homeroom sandbox ARGS…`; parse stdout as JSON with `as_json=True`."""

    def run(*args: str, as_json: bool = False, ok: bool = True):
        result = cli_runner.invoke(main, ["sandbox", *args])
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return json.loads(result.stdout) if as_json else result

    return run


def test_generate_keeps_the_district_in_the_data_folder(sandbox, data_dir):
    result = sandbox("generate", *TINY)

    files = list((data_dir / "sandbox").iterdir())
    district = data_dir / "sandbox" / "tiny-seed3.sqlite3"
    assert district in files
    assert district.stat().st_size > 0
    assert str(district) in result.stdout


def test_stats_json_counts_the_tiny_district(sandbox):
    stats = sandbox("stats", *TINY, "--json", as_json=True)

    assert stats["size"] == "tiny"
    assert stats["seed"] == 3
    assert stats["users_by_role"]["student"] == 30
    assert stats["objects"]["schools"] == 1
    assert stats["events"] == 0


def test_stats_table_lists_the_counts(sandbox):
    result = sandbox("stats", *TINY)

    assert "tiny district, seed 3" in result.stdout
    assert "schools" in result.stdout
    assert "users with role student" in result.stdout


def test_mutate_changes_persist_across_invocations(sandbox):
    # When: changes are made in one invocation …
    summary = sandbox("mutate", *TINY, "--changes", "4", as_json=True)

    assert summary["changes"] >= 1
    assert summary["events"] >= 1
    # Then: a later invocation sees the events they recorded.
    assert sandbox("stats", *TINY, "--json", as_json=True)["events"] == summary["events"]

    # And: a second batch adds to them.
    more = sandbox("mutate", *TINY, "--changes", "2", as_json=True)
    stats = sandbox("stats", *TINY, "--json", as_json=True)
    assert stats["events"] == summary["events"] + more["events"]


def test_mutate_refuses_a_negative_number_of_changes(sandbox, data_dir):
    result = sandbox("mutate", *TINY, "--changes", "-1", ok=False)

    assert result.exit_code == 2  # click's usage error
    assert "--changes" in result.output
    # The district was not even opened.
    assert not (data_dir / "sandbox" / "tiny-seed3.sqlite3").exists()


def test_serve_help_lists_its_options(sandbox):
    result = sandbox("serve", "--help")

    for option in ("--token", "--port", "--host", "--rate-limit", "--error-rate", "--size"):
        assert option in result.stdout


# -- `sandbox faults` against a running sandbox ------------------------------------------------
@pytest.fixture
def running(demo_store):
    app = make_app(demo_store, token=TOKEN, faults=FaultSettings(rate_limit=0))
    with sandbox_thread(app) as server:
        yield server


def test_faults_sets_and_then_shows_knobs(sandbox, running):
    # When: a knob is set …
    knobs = sandbox("faults", "--url", running.url, "fail_next=1", as_json=True)
    assert knobs["fail_next"] == 1

    # Then: showing the knobs (which does not use the failure up) reports it …
    shown = sandbox("faults", "--url", running.url, as_json=True)
    assert shown["fail_next"] == 1
    assert shown == running.app.faults.snapshot()
    # … and the next API request fails once.
    with client_for(running.app) as api:
        assert [api.get("/v3.0/schools").status_code for _ in range(2)] == [503, 200]


def test_faults_takes_json_values(sandbox, running):
    knobs = sandbox(
        "faults",
        "--url",
        running.url,
        "error_statuses=[502, 504]",
        "token_revoked=true",
        "error_rate=0.25",
        as_json=True,
    )

    assert knobs["error_statuses"] == [502, 504]
    assert knobs["token_revoked"] is True
    assert knobs["error_rate"] == 0.25


def test_faults_reset(sandbox, running):
    sandbox("faults", "--url", running.url, "slow_ms=5", "rate_limit=9")

    knobs = sandbox("faults", "--url", running.url, "--reset", as_json=True)

    assert knobs == running.app.faults.snapshot()
    assert knobs["rate_limit"] == 1200
    assert knobs["slow_ms"] == 0


def test_faults_refuses_an_unknown_knob_without_asking_the_sandbox(sandbox, running):
    before = running.app.faults.snapshot()

    result = sandbox("faults", "--url", running.url, "bogus=1", ok=False)

    assert result.exit_code == 2
    assert "bogus" in result.output
    assert running.app.faults.snapshot() == before


def test_faults_reports_a_value_the_sandbox_rejects(sandbox, running):
    result = sandbox("faults", "--url", running.url, "error_rate=2", ok=False)

    assert result.exit_code == 1
    assert "error_rate" in result.output
    assert running.app.faults.snapshot()["error_rate"] == 0


def test_faults_with_wrong_client_credentials_fails(sandbox, running):
    result = sandbox(
        "faults", "--url", running.url, "--client-secret", "wrong", "fail_next=1", ok=False
    )

    assert result.exit_code == 1
    assert "Unauthorized" in result.output
    assert running.app.faults.snapshot()["fail_next"] == 0


def test_faults_refuses_a_value_that_is_not_json_with_a_usage_error(sandbox, running):
    # `slow_ms=fast` is a typo a user can make; it deserves a usage error, not a traceback.
    result = sandbox("faults", "--url", running.url, "slow_ms=fast", ok=False)

    assert result.exit_code == 2, result.exception
    assert "slow_ms" in result.output
