"""Points Homeroom's data folder at a fresh temporary folder for the test run.

Loaded with `-p tests.data_dir_plugin` (see pyproject.toml) because pytest-django imports the
settings before it imports any conftest.py, and the settings create the data folder, the
SQLite databases and the dev secret key on import. Tests must never write into the repo.
"""

import os
import shutil
import tempfile

_data_dir = tempfile.mkdtemp(prefix="homeroom-test-")
os.environ["HOMEROOM_DATA_DIR"] = _data_dir
# Unit tests run Celery tasks in the calling process (see DESIGN.md, "jobs").
os.environ["HOMEROOM_CELERY_EAGER"] = "1"
# Text messages land in homeroom.notify.sms.outbox (pytest-django does the same for e-mail).
os.environ["HOMEROOM_SMS_BACKEND"] = "locmem"


def pytest_unconfigure(config):
    shutil.rmtree(_data_dir, ignore_errors=True)
