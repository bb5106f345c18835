"""`homeroom sandbox …`: generate, serve, change and inspect a Clever-like sandbox district."""

from __future__ import annotations

import json
import os
import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from homeroom.paths import data_dir_from_env
from homeroom.sandbox.faults import FaultSettings
from homeroom.sandbox.generator import SIZES
from homeroom.sandbox.mutate import mutate
from homeroom.sandbox.runner import make_app, open_store, serve_forever, store_path

DEFAULT_TOKEN = "sandbox-district-token"
console = Console(stderr=True)


def _open(size: str, seed: int):
    path = store_path(data_dir_from_env(), size=size, seed=seed)
    with Progress(
        TextColumn(f"Generating the {size} district (seed {seed})"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("students"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("generate", total=SIZES[size].students, visible=False)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, visible=True)

        return open_store(path, size=size, seed=seed, progress=report)


size_option = click.option(
    "--size", type=click.Choice(list(SIZES)), default="demo", show_default=True
)
seed_option = click.option("--seed", type=int, default=1, show_default=True)


@click.group()
def sandbox() -> None:
    """A local stand-in for Clever's Data and Events APIs, with realistic districts.

    Districts are kept under HOMEROOM_DATA_DIR/sandbox, one file per size and seed, so a
    restarted sandbox serves the same district with the changes made to it since.
    """


@sandbox.command()
@size_option
@seed_option
def generate(size: str, seed: int) -> None:
    """Generate a district (if it is not generated yet) and print where it is kept."""
    started = time.perf_counter()
    store = _open(size, seed)
    click.echo(f"{store.path} ({time.perf_counter() - started:.1f}s)")


@sandbox.command()
@size_option
@seed_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8700, show_default=True)
@click.option(
    "--token",
    default=lambda: os.environ.get("HOMEROOM_SANDBOX_TOKEN", DEFAULT_TOKEN),
    help="The district token clients must send as 'Authorization: Bearer …'.",
)
@click.option("--client-id", default="sandbox-client", show_default=True)
@click.option("--client-secret", default="sandbox-secret", show_default=True)
@click.option("--rate-limit", type=int, default=1200, show_default=True, help="Requests/min.")
@click.option("--error-rate", type=float, default=0.0, help="Share of 500/502/503 answers.")
@click.option("--slow-ms", type=int, default=0, help="Delay every answer by this much.")
@click.option("--truncate-rate", type=float, default=0.0, help="Share of cut-off list bodies.")
def serve(
    size: str,
    seed: int,
    host: str,
    port: int,
    token: str,
    client_id: str,
    client_secret: str,
    rate_limit: int,
    error_rate: float,
    slow_ms: int,
    truncate_rate: float,
) -> None:
    """Serve the district over HTTP exactly as Clever's API does."""
    store = _open(size, seed)
    faults = FaultSettings(
        rate_limit=rate_limit, error_rate=error_rate, slow_ms=slow_ms, truncate_rate=truncate_rate
    )
    app = make_app(
        store, token=token, faults=faults, client_id=client_id, client_secret=client_secret
    )
    stats = store.stats()
    base = f"http://{host}:{port}"
    console.print(f"[bold]Clever sandbox[/bold]: {_summary(stats)}")
    console.print(f"  Data API   {base}/v3.0  and  {base}/v3.1  (Events API: …/events)")
    console.print(f"  Token      Authorization: Bearer {token}")
    console.print(f"  Try        curl -H 'Authorization: Bearer {token}' {base}/v3.0/schools")
    console.print(
        f"  Control    {base}/sandbox/faults, /sandbox/mutate, /sandbox/stats (HTTP Basic)"
    )
    console.print("  Press Ctrl-C to stop.")
    try:
        serve_forever(app, host=host, port=port)
    except KeyboardInterrupt:
        console.print("Stopped.")


@sandbox.command(name="mutate")
@size_option
@seed_option
@click.option("--changes", type=click.IntRange(0, 100_000), default=10, show_default=True)
@click.option("--change-seed", type=int, default=None, help="Seed for the changes themselves.")
def mutate_command(size: str, seed: int, changes: int, change_seed: int | None) -> None:
    """Apply realistic roster changes and record them as Clever events."""
    store = _open(size, seed)
    result = mutate(store, changes=changes, seed=change_seed)
    click.echo(json.dumps(result, indent=2))


@sandbox.command()
@size_option
@seed_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def stats(size: str, seed: int, as_json: bool) -> None:
    """Print counts per object type and per user role."""
    data = _open(size, seed).stats()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"Clever sandbox: {data['size']} district, seed {data['seed']}")
    table.add_column("object")
    table.add_column("count", justify="right")
    for name, count in data["objects"].items():
        table.add_row(name, f"{count:,}")
    for role, count in data["users_by_role"].items():
        table.add_row(f"  users with role {role}", f"{count:,}")
    table.add_row("events", f"{data['events']:,}")
    Console().print(table)


@sandbox.command()
@click.option("--url", default="http://127.0.0.1:8700", show_default=True)
@click.option("--client-id", default="sandbox-client", show_default=True)
@click.option("--client-secret", default="sandbox-secret", show_default=True)
@click.option("--reset", is_flag=True, help="Back to a healthy Clever.")
@click.argument("knobs", nargs=-1)
def faults(url: str, client_id: str, client_secret: str, reset: bool, knobs: tuple[str]) -> None:
    """Show or set a running sandbox's fault knobs, e.g. `faults error_rate=0.2 slow_ms=500`.

    Knobs: rate_limit, rate_window, error_rate, error_statuses, fail_next, fail_status, slow_ms,
    truncate_rate, truncate_next, token_revoked, revoke_after, seed.
    """
    import httpx

    known = FaultSettings.knob_names()
    changes = {}
    for knob in knobs:
        name, sep, raw = knob.partition("=")
        if not sep or name not in known:
            raise click.BadParameter(f"{knob!r}: use NAME=VALUE with NAME one of {sorted(known)}")
        try:
            changes[name] = json.loads(raw)
        except json.JSONDecodeError:
            raise click.BadParameter(
                f"{knob!r}: the value must be JSON, e.g. 0.2, 500, true or [502, 503]"
            ) from None
    auth = (client_id, client_secret)
    with httpx.Client(base_url=url, auth=auth, timeout=10) as client:
        if reset:
            response = client.post("/sandbox/faults/reset")
        elif changes:
            response = client.post("/sandbox/faults", json=changes)
        else:
            response = client.get("/sandbox/faults")
    if response.status_code != 200:
        raise click.ClickException(response.json().get("message", response.text))
    click.echo(json.dumps(response.json(), indent=2))


def _summary(stats: dict) -> str:
    roles = stats["users_by_role"]
    objects = stats["objects"]
    return (
        f"{stats['size']} district (seed {stats['seed']}): {objects['schools']:,} schools, "
        f"{objects['sections']:,} sections, {roles['student']:,} students, "
        f"{roles['teacher']:,} teachers, {roles['contact']:,} contacts"
    )
