"""Running the sandbox: in the foreground for `homeroom sandbox serve`, or on a background thread
for tests and benchmarks (a real socket, so dropped connections and slow answers are real too)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from waitress.server import create_server

from homeroom.sandbox.faults import Faults, FaultSettings
from homeroom.sandbox.generator import generate
from homeroom.sandbox.mutate import mutate
from homeroom.sandbox.server import ApiError, Credentials, SandboxApp
from homeroom.sandbox.store import Store

# Enough threads for a sync that pages several collections at once; the work is SQLite reads.
SERVER_THREADS = 8
# A page of 10,000 users is about 7-9 MB. Waitress spills answers over `outbuf_overflow` (1 MB by
# default) to a temporary file; a page is kept in memory instead.
WAITRESS_OPTIONS = {"threads": SERVER_THREADS, "outbuf_overflow": 64 * 1024 * 1024}


def store_path(data_dir: Path, *, size: str, seed: int) -> Path:
    """Where the sandbox keeps a district: one file per size and seed, reused across restarts."""
    return Path(data_dir) / "sandbox" / f"{size}-seed{seed}.sqlite3"


def open_store(path: Path, *, size: str, seed: int, progress=None) -> Store:
    """Open a sandbox store, generating the district first if the file does not hold one."""
    store = Store(path)
    if not store.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        store = Store(path)
        generate(store, size=size, seed=seed, progress=progress)
    return store


def _mutate_from_request(store: Store, payload: dict) -> dict:
    changes = payload.get("changes", 10)
    seed = payload.get("seed")
    if not isinstance(changes, int) or changes < 0 or changes > 100_000:
        raise ApiError(400, "changes must be a whole number from 0 to 100000")
    if seed is not None and not isinstance(seed, int):
        raise ApiError(400, "seed must be a whole number")
    return mutate(store, changes=changes, seed=seed)


def make_app(
    store: Store, *, token: str, faults: FaultSettings | None = None, **credentials: str
) -> SandboxApp:
    return SandboxApp(
        store,
        Credentials(token=token, **credentials),
        Faults(faults),
        mutator=_mutate_from_request,
    )


@dataclass
class RunningSandbox:
    url: str
    app: SandboxApp


@contextmanager
def sandbox_thread(app: SandboxApp, *, port: int = 0) -> Iterator[RunningSandbox]:
    """Serve `app` on 127.0.0.1 from a background thread until the block ends."""
    server = create_server(app, host="127.0.0.1", port=port, **WAITRESS_OPTIONS)
    thread = threading.Thread(target=server.run, name="clever-sandbox", daemon=True)
    thread.start()
    try:
        yield RunningSandbox(url=f"http://127.0.0.1:{server.effective_port}", app=app)
    finally:
        server.close()
        thread.join(timeout=5)


def serve_forever(app: SandboxApp, *, host: str, port: int) -> None:
    server = create_server(app, host=host, port=port, **WAITRESS_OPTIONS)
    server.run()


@contextmanager
def sandbox_process(
    *, size: str, seed: int, token: str, data_dir: Path | None = None, timeout: float = 60
) -> Iterator[str]:
    """Serve a district from a separate process (as for a real sync); yield its base URL.

    A server thread in the calling process would share its GIL with the client being measured.
    The district must already be generated (`open_store`), or the start waits for it.
    """
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "homeroom", "sandbox", "serve", "--size", size]
    command += ["--seed", str(seed), "--port", str(port), "--token", token, "--rate-limit", "0"]
    env = {**os.environ, **({"HOMEROOM_DATA_DIR": str(data_dir)} if data_dir else {})}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{url}/v3.0/me", headers={"Authorization": f"Bearer {token}"})
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
