"""The project skeleton: settings, database, CLI and Celery."""

import os
import stat

import pytest
from django.conf import settings
from django.db import connection

from homeroom import __version__
from homeroom.celery import app as celery_app
from homeroom.cli import main
from homeroom.settings import databases_for, secret_key_for


@celery_app.task
def add(x: int, y: int) -> int:
    return x + y


@pytest.mark.django_db
def test_database_follows_database_url():
    with connection.cursor() as cursor:
        if os.environ.get("DATABASE_URL"):
            assert connection.vendor == "postgresql"
            cursor.execute("SELECT current_database()")
            assert cursor.fetchone()[0] == settings.DATABASES["default"]["NAME"]
        else:
            assert connection.vendor == "sqlite"
            assert str(settings.DATABASES["default"]["NAME"]).startswith(str(settings.DATA_DIR))
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA synchronous")
            assert cursor.fetchone()[0] == 1  # NORMAL
            cursor.execute("PRAGMA cache_size")
            assert cursor.fetchone()[0] == -65536  # KiB: a sync's dirty pages stay in memory
            assert connection.transaction_mode == "IMMEDIATE"


def test_databases_for_picks_engine_from_url(tmp_path):
    postgres = databases_for(database_url="postgres://u:p@db.example:5432/hr", data_dir=tmp_path)
    sqlite = databases_for(database_url="", data_dir=tmp_path)

    assert postgres["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert postgres["default"]["NAME"] == "hr"
    assert sqlite["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert sqlite["default"]["NAME"] == tmp_path / "homeroom.sqlite3"


def test_dev_secret_key_is_generated_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("HOMEROOM_SECRET_KEY", raising=False)

    first = secret_key_for(data_dir=tmp_path)
    second = secret_key_for(data_dir=tmp_path)

    assert first == second
    assert len(first) >= 50
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_secret_key_from_env_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("HOMEROOM_SECRET_KEY", "from-env")

    assert secret_key_for(data_dir=tmp_path) == "from-env"
    assert not (tmp_path / "secret_key").exists()


def test_help_says_what_homeroom_is(cli_runner):
    result = cli_runner.invoke(main, ["--help"])

    assert result.exit_code == 0, result.output
    assert "roster" in result.output
    for command in ("manage", "version", "sandbox"):
        assert command in result.output


def test_version(cli_runner):
    result = cli_runner.invoke(main, ["version"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == __version__ == "0.1.0"


def test_manage_check_passes(cli_runner):
    result = cli_runner.invoke(main, ["manage", "check"])

    assert result.exit_code == 0, result.output
    assert "System check identified no issues" in result.output


def test_manage_reports_unknown_command(cli_runner):
    result = cli_runner.invoke(main, ["manage", "no-such-command"])

    assert result.exit_code == 1


def test_celery_runs_a_task_eagerly():
    assert celery_app.conf.task_always_eager is True

    assert add.delay(2, 3).get(timeout=1) == 5


def test_celery_broker_follows_redis_url():
    if os.environ.get("REDIS_URL"):
        assert celery_app.conf.broker_url == os.environ["REDIS_URL"]
    else:
        assert celery_app.conf.broker_url == "filesystem://"
        options = celery_app.conf.broker_transport_options
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            assert options[key].startswith(str(settings.DATA_DIR))
            assert os.path.isdir(options[key])
