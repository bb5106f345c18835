"""Benchmarks of the Clever sandbox: how fast it serves a district, and what generating one costs.

The sandbox must never be what limits a sync: it should serve users well above the rate at which
Homeroom can write them (aim: 50,000 users/s with limit=10000).
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import click
import httpx
import orjson

from homeroom.paths import data_dir_from_env
from homeroom.sandbox.generator import generate
from homeroom.sandbox.runner import open_store, sandbox_process, store_path
from homeroom.sandbox.store import Store

TOKEN = "bench-token"


def bench_sandbox_serving(*, size: str, seed: int, limit: int, version: str) -> None:
    data_dir = data_dir_from_env()
    path = store_path(data_dir, size=size, seed=seed)
    click.echo(f"district: {size}, seed {seed} ({path})")
    started = time.perf_counter()
    open_store(path, size=size, seed=seed)
    click.echo(f"ready in {time.perf_counter() - started:.1f}s (generated once, then reused)")
    # The sandbox runs in its own process, as it does for a real sync: a server thread in this
    # process would share the GIL with the client and measure both at once.
    with (
        sandbox_process(size=size, seed=seed, token=TOKEN) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
        ) as client,
    ):
        for role in (None, "student", "contact"):
            for parse in (False, True):
                _page_all(client, version=version, limit=limit, role=role, parse=parse)


def _page_all(
    client: httpx.Client, *, version: str, limit: int, role: str | None, parse: bool
) -> None:
    users = pages = size_bytes = 0
    params: dict | None = {"limit": limit, **({"role": role} if role else {})}
    url: str | None = f"/{version}/users"
    started = time.perf_counter()
    while url:
        response = client.get(url, params=params)
        response.raise_for_status()
        content = response.content
        if parse:
            body = orjson.loads(content)
            users += len(body["data"])
            url = next((x["uri"] for x in body["links"] if x["rel"] == "next"), None)
        else:
            # Find the next link without decoding the page: the sandbox's own speed.
            users += content.count(b'{"data":{')
            tail = content[content.rfind(b'"links":') :]
            url = orjson.loads(tail[8:-1]) if b'"next"' in tail else None
            url = next(x["uri"] for x in url if x["rel"] == "next") if url else None
        pages += 1
        size_bytes += len(content)
        params = None
    elapsed = time.perf_counter() - started
    label = (f"/users?role={role}" if role else "/users") + (" +parse" if parse else "")
    click.echo(
        f"{label:<28} {users:>8,} users, {pages:>3} pages, {elapsed:6.2f}s: "
        f"{users / elapsed:>9,.0f} users/s, {size_bytes / elapsed / 1e6:6.1f} MB/s"
    )


def bench_generate(*, size: str, seed: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "district.sqlite3")
        started = time.perf_counter()
        generate(store, size=size, seed=seed)
        elapsed = time.perf_counter() - started
        stats = store.stats()
        file_mb = store.path.stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    roles = stats["users_by_role"]
    click.echo(
        f"generated {size} (seed {seed}): {roles['student']:,} students, "
        f"{roles['contact']:,} contacts, {roles['teacher']:,} teachers, "
        f"{stats['objects']['sections']:,} sections in {elapsed:.1f}s; "
        f"peak memory {peak_mb:,.0f} MB; file {file_mb:,.0f} MB"
    )
