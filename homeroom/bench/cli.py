"""The `homeroom bench` command group."""

from __future__ import annotations

import click

from homeroom.sandbox.generator import SIZES


@click.group()
def bench() -> None:
    """Measure Homeroom on generated districts and print the figures."""


@bench.command()
@click.option("--size", type=click.Choice(list(SIZES)), default="large", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, 10_000), default=10_000, show_default=True)
@click.option("--version", "api_version", type=click.Choice(["v3.0", "v3.1"]), default="v3.0")
def sandbox(size: str, seed: int, limit: int, api_version: str) -> None:
    """Users served per second by the sandbox over HTTP, paging /users as a sync does."""
    from homeroom.bench.sandbox import bench_sandbox_serving

    bench_sandbox_serving(size=size, seed=seed, limit=limit, version=api_version)


@bench.command()
@click.option("--size", type=click.Choice(list(SIZES)), default="xl", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
def generate(size: str, seed: int) -> None:
    """Time and peak memory of generating a district (into a temporary file)."""
    from homeroom.bench.sandbox import bench_generate

    bench_generate(size=size, seed=seed)


@bench.command()
@click.option("--size", type=click.Choice(list(SIZES)), default="large", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--database-url",
    default=None,
    help="Benchmark on PostgreSQL: a database of its own, dropped and re-created "
    "(e.g. postgres://postgres@127.0.0.1:5432/homeroom_bench). Default: a new SQLite file.",
)
def sync(size: str, seed: int, database_url: str | None) -> None:
    """Full first sync, no-change re-sync and the executemany floor, with peak memory."""
    from homeroom.bench.sync import bench_sync

    bench_sync(size=size, seed=seed, database_url=database_url)


@bench.command()
@click.option("--size", type=click.Choice(list(SIZES)), default="large", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--changes", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--rounds", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option(
    "--database-url",
    default=None,
    help="Benchmark on PostgreSQL: a database of its own, dropped and re-created. "
    "Default: a new SQLite file.",
)
def events(size: str, seed: int, changes: int, rounds: int, database_url: str | None) -> None:
    """Events syncs of `--changes` changes against no-change full re-syncs (medians)."""
    from homeroom.bench.events import bench_events

    bench_events(size=size, seed=seed, changes=changes, rounds=rounds, database_url=database_url)
