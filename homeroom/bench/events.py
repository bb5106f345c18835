"""`homeroom bench events`: an events sync of a district's changes against a no-change full
re-sync of the same district (issue 5: an events sync of 1,000 changes ≤ 5 % of the re-sync).

The district is synced fully, then `--rounds` times: a no-change full re-sync, `--changes`
realistic changes made with `mutate` to a *copy* of the sandbox store (the cached store is
shared with the other benchmarks and must stay as generated), the events sync that applies them,
and a full sync that must find nothing left to write. The sandbox serves the store from its own
process throughout. The medians are compared: on a shared 2-core machine one run of a 0.3 s
sync varies by a third. Family sync is on, so its share of the events sync is measured.

Beside the ratio the bench prints the events sync's floor: what no code of Homeroom's can save,
measured in the same runs. It is the database's own time for the statements that write the
changes and for the commit (timed around each statement, so Homeroom's Python is not in it),
plus the time to fetch the same pages of events again without reading them (the source's time
to answer, with its cache warm: a lower bound).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from homeroom.bench.sync import TOKEN, _use_fresh_database
from homeroom.paths import data_dir_from_env
from homeroom.sandbox.runner import open_store, sandbox_process, store_path

TARGET = 0.05


def bench_events(
    *, size: str, seed: int, changes: int, rounds: int, database_url: str | None
) -> None:
    cached = store_path(data_dir_from_env(), size=size, seed=seed)
    store = open_store(cached, size=size, seed=seed)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    copy_dir = Path(tempfile.mkdtemp(prefix="homeroom-bench-events-"))
    copy = store_path(copy_dir, size=size, seed=seed)
    copy.parent.mkdir(parents=True)
    shutil.copy(cached, copy)
    try:
        _bench(
            size=size,
            seed=seed,
            changes=changes,
            rounds=rounds,
            database_url=database_url,
            copy=copy,
        )
    finally:
        shutil.rmtree(copy_dir, ignore_errors=True)


def _bench(
    *, size: str, seed: int, changes: int, rounds: int, database_url: str | None, copy: Path
) -> None:
    _use_fresh_database(database_url)
    from django.core.management import call_command
    from django.db import connection

    from homeroom.rostering.events import district_events_sync, events_cursor
    from homeroom.rostering.services import (
        Timings,
        district_add,
        district_settings_update,
        district_sync,
    )
    from homeroom.sandbox.mutate import mutate
    from homeroom.sandbox.store import Store

    call_command("migrate", verbosity=0)
    click.echo(f"district: {size} (seed {seed}); database: {connection.vendor}")

    def timed(label: str, sync) -> tuple[float, dict]:
        started = time.perf_counter()
        run = sync()
        elapsed = time.perf_counter() - started
        if run.status != "completed":
            raise click.ClickException(f"{label} failed: {run.error_message}")
        return elapsed, run

    with sandbox_process(size=size, seed=seed, token=TOKEN, data_dir=copy.parent.parent) as url:
        district = district_add(name=f"Bench {size}", source_url=url, token=TOKEN)
        district_settings_update(district=district, changes={"family_sync": True})
        district.sync.refresh_from_db()

        def full():
            return district_sync(district=district, send_invitations=False)

        first, _ = timed("full first sync", full)
        timed("first re-sync", full)  # confirms every row's wire hash
        resyncs, took, runs, stages, floors = [], [], [], [], []
        for n in range(rounds):
            # A round: a no-change re-sync, then changes and the events sync that applies them,
            # then a full sync that must find nothing left to write.
            resyncs.append(timed("no-change re-sync", full)[0])
            summary = mutate(Store(copy), changes=changes, seed=seed + 1000 + n)
            timings = Timings()
            cursor, _ = events_cursor(district)
            with _write_time() as writing:
                elapsed, run = timed(
                    "events sync",
                    lambda t=timings: district_events_sync(
                        district=district, send_invitations=False, timings=t
                    ),
                )
            if run.kind != "events":
                raise click.ClickException(f"the events sync fell back: {run.warnings[:1]}")
            floors.append((writing() + timings.stages["commit"], _fetch_time(district, cursor)))
            _, after = timed("full sync after it", full)
            if _written(after.counts):
                raise click.ClickException(
                    f"the full sync after the events sync wrote {_written(after.counts):,} rows"
                )
            took.append(elapsed)
            runs.append((summary, run))
            stages.append(timings.stages)
    resync, events_time = statistics.median(resyncs), statistics.median(took)
    click.echo(f"{'full first sync':<22} {first:7.2f}s  (family sync on: invitations issued)")
    for n, ((summary, run), elapsed) in enumerate(zip(runs, took, strict=True)):
        family = run.family_counts.get("invitations", {}).get("created", 0)
        click.echo(
            f"{f'events sync {n + 1}':<22} {elapsed:7.2f}s  ({summary['changes']:,} changes, "
            f"{summary['events']:,} events; {_written(run.counts):,} rows written; "
            f"{family:,} invitations); re-sync before it {resyncs[n]:.2f}s"
        )
    click.echo(f"{'no-change re-sync':<22} {resync:7.2f}s  (median of {rounds})")
    click.echo(f"{'events sync':<22} {events_time:7.2f}s  (median of {rounds})")
    parts = ", ".join(
        f"{name} {statistics.median(s[name] for s in stages):.3f}s" for name in stages[0]
    )
    click.echo(f"  its stages (medians): {parts}")
    click.echo(f"events / re-sync        {events_time / resync:6.1%}  (target <= {TARGET:.0%})")
    database = statistics.median(f[0] for f in floors)
    fetching = statistics.median(f[1] for f in floors)
    floor = database + fetching
    click.echo(
        f"{'its floor':<22} {floor:7.2f}s  (medians: the database writing the changes and "
        f"committing {database:.3f}s, fetching the events again {fetching:.3f}s)"
    )
    click.echo(f"floor / re-sync         {floor / resync:6.1%}  (what no code of Homeroom's saves)")
    click.echo("full syncs after them: 0 rows written (the events left nothing to do)")


@contextmanager
def _write_time() -> Iterator[Callable[[], float]]:
    """Sum the database's time in statements that write (INSERT, UPDATE, DELETE) meanwhile."""
    from django.db import connection

    spent = [0.0]

    def wrapper(execute, sql, params, many, context):
        if sql.lstrip()[:6].upper() not in ("INSERT", "UPDATE", "DELETE"):
            return execute(sql, params, many, context)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.perf_counter() - started

    with connection.execute_wrapper(wrapper):
        yield lambda: spent[0]


def _fetch_time(district, cursor: str | None) -> float:
    """Seconds to fetch the events after `cursor` again, page by page, without decoding them."""
    from homeroom.rostering.services import source_for
    from homeroom.rostering.sources.clever.events import EVENTS_PAGE

    source = source_for(district)
    try:
        params = {"starting_after": cursor} if cursor else {}
        started = time.perf_counter()
        for _ in source.client.pages(
            "/events", params, limit=EVENTS_PAGE, decode=lambda body: ((body,), None)
        ):
            pass
        return time.perf_counter() - started
    finally:
        source.close()


def _written(counts: dict[str, dict[str, int]]) -> int:
    actions = ("created", "updated", "archived", "unarchived")
    return sum(c[a] for c in counts.values() for a in actions)
