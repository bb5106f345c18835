"""Jobs on a real Celery worker: one on the machine's Redis, one on the embedded file-system
broker; a worker killed in the middle of a sync leaves the run failed and the data as it was.

The worker is a separate process started by the test, on the test database, fed through the
broker exactly as `homeroom serve` feeds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection
from kombu import pools

from homeroom.celery import app
from homeroom.directory.models import Student
from homeroom.rostering.models import SyncRun
from homeroom.rostering.services import ERR_INTERRUPTED, district_add, runs_interrupted_mark
from homeroom.rostering.tasks import district_sync_task
from homeroom.sandbox.runner import sandbox_thread
from homeroom.sandbox.store import Store
from tests.rostering.conftest import TOKEN, sandbox_app

REDIS_URL = os.environ.get("HOMEROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WAIT_SECONDS = 90


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@contextmanager
def worker(*, broker: str) -> Iterator[subprocess.Popen]:
    """A Celery worker process on the test database and the given broker ("redis" or
    "embedded"); this process sends to the same broker for the block's duration."""
    env = {**os.environ, "DATABASE_URL": _database_url(), "HOMEROOM_CELERY_EAGER": "0"}
    env.pop("REDIS_URL", None)
    saved = {k: app.conf[k] for k in ("task_always_eager", "broker_url")}
    app.conf.task_always_eager = False
    if broker == "redis":
        env["REDIS_URL"] = REDIS_URL
        app.conf.broker_url = REDIS_URL
    command = [sys.executable, "-m", "celery", "-A", "homeroom.celery", "worker"]
    command += ["--concurrency=1", "--pool=prefork", "--loglevel=WARNING", "--without-gossip"]
    command += ["--without-mingle", "--without-heartbeat"]
    _producers_reset()  # connect anew, to this broker
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        app.conf.update(saved)
        _producers_reset()


def _producers_reset() -> None:
    """Drop the app's cached connections and producers, so the next send connects anew."""
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    pools.reset()  # kombu's own registry of pools, per connection


def _wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def served(tiny_path) -> Iterator[str]:
    with sandbox_thread(sandbox_app(Store(tiny_path))) as sandbox:
        yield sandbox


@pytest.mark.parametrize("broker", ["redis", "embedded"])
def test_a_sync_queued_through_the_broker_runs_on_the_worker(transactional_db, served, broker):
    assert broker == "embedded" or settings.CELERY_BROKER_URL  # the embedded default is set
    district = district_add(name=f"Jobs {broker}", source_url=served.url, token=TOKEN)
    with worker(broker=broker):
        district_sync_task.delay(district.pk)
        run = _wait_for(
            lambda: SyncRun.objects.filter(district=district, status="completed").first(),
            "the run to complete",
        )
    assert run.worker.split(":")[1] != str(os.getpid())  # it ran in the worker, not here
    assert Student.objects.filter(district=district).count() == 30


def test_a_worker_killed_mid_run_leaves_the_run_failed_and_the_data_as_it_was(
    transactional_db, tiny_path
):
    # given a sandbox that answers slowly, so the sync is still fetching when the worker dies
    app_ = sandbox_app(Store(tiny_path), slow_ms=400)
    with sandbox_thread(app_) as sandbox:
        district = district_add(name="Killed", source_url=sandbox.url, token=TOKEN)
        with worker(broker="embedded") as process:
            district_sync_task.delay(district.pk)
            run = _wait_for(
                lambda: SyncRun.objects.filter(district=district, status="running").first(),
                "the run to start",
            )
            # when the worker's whole process group is killed (-9: no clean-up)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # then the run is failed as interrupted once anyone looks (the killed process may take a
    # moment to be gone), and nothing was written
    _wait_for(lambda: runs_interrupted_mark(district=district) == 1, "the run to be failed")
    run.refresh_from_db()
    assert (run.status, run.error_code) == ("failed", ERR_INTERRUPTED)
    assert not Student.objects.filter(district=district).exists()
