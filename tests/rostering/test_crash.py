"""Crash safety: a sync whose process is killed mid-apply leaves the directory as it was, its run
is marked interrupted by the next sync, and the next sync converges."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from homeroom.directory.models import Student
from homeroom.rostering.models import SyncRun
from homeroom.rostering.services import ERR_INTERRUPTED, district_add, district_sync
from homeroom.sandbox.mutate import mutate
from homeroom.sandbox.runner import sandbox_thread
from tests.rostering.conftest import (
    TOKEN,
    completed,
    new_district,
    sandbox_app,
    snapshot,
    sync_from,
    table_dump,
)

REPO = Path(__file__).resolve().parents[2]

# Runs one sync of a district in a process of its own, which kills itself with SIGKILL (no
# cleanup, no rollback: as an OOM kill or a power cut would) on the third bulk write.
KILLED_SYNC = textwrap.dedent(
    """
    import os, signal, sys
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "homeroom.settings"
    django.setup()

    from homeroom.directory.models import District
    from homeroom.rostering.services import district_sync
    from homeroom.rostering.sync import apply

    calls = []

    def killing(name, real):
        def bulk(*args):
            calls.append(name)
            print("bulk statement", len(calls), flush=True)
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args)
        return bulk

    for name in ("_executemany", "_execute", "_update_by_pk", "rows_insert"):
        setattr(apply, name, killing(name, getattr(apply, name)))
    run = district_sync(district=District.objects.get(pk=int(sys.argv[1])))
    print("finished", run.status, run.error_code, flush=True)
    """
)


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_a_killed_sync_changes_nothing_and_the_next_one_converges(transactional_db, tiny_store):
    app = sandbox_app(tiny_store)
    with sandbox_thread(app) as sandbox:
        # given a district synced once from the sandbox, and a roster that changed since
        district = district_add(name="Crash", source_url=sandbox.url, token=TOKEN)
        completed(district_sync(district=district))
        reference = new_district("Reference")  # the same history, without the crash
        completed(sync_from(reference, tiny_store))
        mutate(tiny_store, changes=20, seed=5)
        before = table_dump(district)
        # when a sync runs in another process that is killed in the middle of applying
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "HOMEROOM_DATA_DIR": str(settings.DATA_DIR),
            "PYTHONPATH": str(REPO),
        }
        killed = subprocess.run(
            [sys.executable, "-c", KILLED_SYNC, str(district.pk)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        assert "bulk statement 3" in killed.stdout and "finished" not in killed.stdout
        # then its run is left running, and the directory is exactly as before it
        dead = SyncRun.objects.filter(district=district).order_by("-pk").first()
        assert dead.status == SyncRun.Status.RUNNING
        host, _, pid = dead.worker.rpartition(":")
        assert host == socket.gethostname() and int(pid) != os.getpid()
        assert table_dump(district) == before
        assert not Student.objects.filter(changed_by_run=dead).exists()
        # when the district syncs again
        run = completed(district_sync(district=district))
    # then the killed run is marked failed as interrupted
    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED
    assert dead.error_code == ERR_INTERRUPTED == "interrupted"
    assert dead.error_message and dead.finished_at is not None
    assert run.counts["sections"]["updated"] > 0
    # and the district holds what it would have without the crash
    completed(sync_from(reference, tiny_store))
    assert snapshot(district, active_only=False) == snapshot(reference, active_only=False)
