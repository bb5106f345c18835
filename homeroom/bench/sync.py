"""`homeroom bench sync`: a district's full first sync, a no-change re-sync, and the floor.

The floor is what writing the very same rows costs with nothing but `executemany` in one
transaction: the sync's own database work can only approach it. Targets (issue 3): full sync
≤ 2 × floor; no-change re-sync ≤ 0.25 × full sync; peak memory ≤ 1 GB; on SQLite and PostgreSQL.
Then family sync is switched on and the district synced again: issuing the first invitations
(one per guardian contact, a connection per child) must add ≤ 20 % to a full sync (issue 4).
Sending is timed apart, on a sample, with e-mail and SMS kept in memory.
The sandbox serves the district from its own process, as Clever would from its own servers.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time

import click

from homeroom.paths import data_dir_from_env
from homeroom.sandbox.runner import open_store, sandbox_process, store_path

TOKEN = "bench-token"


def bench_sync(*, size: str, seed: int, database_url: str | None) -> None:
    sandbox_dir = data_dir_from_env()
    open_store(store_path(sandbox_dir, size=size, seed=seed), size=size, seed=seed)
    _use_fresh_database(database_url)
    from django.core.management import call_command
    from django.db import connection

    from homeroom.rostering.services import Timings, district_add, district_sync

    call_command("migrate", verbosity=0)
    vendor = connection.vendor
    click.echo(f"district: {size} (seed {seed}); database: {vendor}")
    with sandbox_process(size=size, seed=seed, token=TOKEN, data_dir=sandbox_dir) as url:
        district = district_add(name=f"Bench {size}", source_url=url, token=TOKEN)
        runs = []
        for label in ("full first sync", "no-change re-sync"):
            timings = Timings()
            started = time.perf_counter()
            run = district_sync(district=district, timings=timings)
            elapsed = time.perf_counter() - started
            if run.status != "completed":
                raise click.ClickException(f"{label} failed: {run.error_message}")
            runs.append((label, elapsed, timings, run))
        family = _family_sync(district)
    sending = _sending(district)
    rows, floor = _floor()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    full, resync = runs[0][1], runs[1][1]
    for label, elapsed, timings, run in runs:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in timings.stages.items())
        written = sum(c["created"] + c["updated"] + c["archived"] for c in run.counts.values())
        click.echo(f"{label:<20} {elapsed:7.1f}s  ({stages}; {written:,} rows written)")
    click.echo(
        f"{'floor (executemany)':<20} {floor:7.1f}s  ({rows:,} rows, every table a sync writes)"
    )
    click.echo(f"full sync / floor      {full / floor:5.2f}   (target <= 2)")
    click.echo(f"re-sync / full sync    {resync / full:5.2f}   (target <= 0.25)")
    click.echo(f"peak memory          {peak_mb:7,.0f} MB (target <= 1024)")
    issued, issuing = family
    click.echo(
        f"{'issuing invitations':<20} {issuing:7.1f}s  ({issued:,} invitations, first family "
        f"sync) = {issuing / full:.0%} of the full sync (target <= 20%)"
    )
    count, seconds = sending
    click.echo(
        f"{'sending invitations':<20} {count / seconds:7,.0f}/s  ({count:,} sent, e-mail and SMS "
        "in memory)"
    )


def _use_fresh_database(database_url: str | None) -> None:
    """Point Django at an empty database: a new SQLite file, or a re-created PostgreSQL one."""
    os.environ["HOMEROOM_DATA_DIR"] = tempfile.mkdtemp(prefix="homeroom-bench-")
    if database_url:
        _recreate_postgres(database_url)
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    from homeroom.cli import django_setup

    django_setup()


def _recreate_postgres(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_url.rsplit("/", 1)[1].split("?")[0]
    if name in ("", "postgres", "template1"):
        raise click.ClickException(
            "give the benchmark a database of its own, e.g. …/homeroom_bench"
        )
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _floor() -> tuple[int, float]:
    """Re-insert every synced row with plain executemany, in one transaction; time it."""
    from django.db import connection, transaction

    from homeroom.families.models import Connection, Invitation
    from homeroom.rostering.sync.state import SYNCED_TABLES

    dumped = []
    with connection.cursor() as cursor:
        # The family sync's rows point at students and contacts; they are not part of the floor.
        for model in (Connection, Invitation):
            cursor.execute(f"DELETE FROM {model._meta.db_table}")
        for table in SYNCED_TABLES:
            cursor.execute(f"SELECT * FROM {table}")
            columns = [c[0] for c in cursor.description]
            dumped.append((table, columns, cursor.fetchall()))
        for table in reversed(SYNCED_TABLES):
            cursor.execute(f"DELETE FROM {table}")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for table, columns, rows in dumped:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    return sum(len(rows) for _, _, rows in dumped), time.perf_counter() - started


def _family_sync(district) -> tuple[int, float]:
    """Switch family sync on and sync again: the roster is unchanged, so the run's extra work
    is issuing the invitations. Returns (invitations issued, seconds of the family stage and of
    the commit, which writes only them)."""
    from homeroom.rostering.services import Timings, district_settings_update, district_sync

    district_settings_update(district=district, changes={"family_sync": True})
    district.sync.refresh_from_db()
    timings = Timings()
    run = district_sync(district=district, timings=timings, send_invitations=False)
    if run.status != "completed":
        raise click.ClickException(f"family sync failed: {run.error_message}")
    issuing = timings.stages["family sync"] + timings.stages["commit"]
    return run.family_counts["invitations"]["created"], issuing


def _sending(district, sample: int = 1000) -> tuple[int, float]:
    """Send `sample` of the issued invitations through in-memory backends; time it."""
    from django.test.utils import override_settings

    from homeroom.families.services import invitations_send
    from homeroom.notify import sms

    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        HOMEROOM_SMS_BACKEND="locmem",
    ):
        started = time.perf_counter()
        outcomes = invitations_send(district=district, limit=sample)
        elapsed = time.perf_counter() - started
    sms.outbox.clear()
    return sum(outcomes.values()), elapsed
