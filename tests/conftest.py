"""Shared test set-up.

pytest-django provides the database; tests/data_dir_plugin.py, the data folder.
"""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.conf import settings


def pytest_configure(config):
    # Fail the whole run, not one test at a time, if the data folder was not redirected
    # (e.g. `-p tests.data_dir_plugin` dropped from addopts): tests would write into the repo.
    if Path(settings.DATA_DIR) != Path(os.environ["HOMEROOM_DATA_DIR"]).resolve():
        raise pytest.UsageError(f"tests would use the data folder {settings.DATA_DIR}")


@pytest.fixture
def cli_runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def _sms_outbox():
    """An empty SMS outbox per test, as pytest-django gives an empty mail outbox."""
    from homeroom.notify import sms

    sms.outbox.clear()
    yield sms.outbox
