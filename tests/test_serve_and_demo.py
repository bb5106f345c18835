"""`homeroom demo` (the README's main job) and `homeroom serve`, as a person runs them: in their
own processes, on the embedded defaults, stopped with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

READY_SECONDS = 180


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(args: list[str], data_dir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HOMEROOM_DATA_DIR=str(data_dir), HOMEROOM_CELERY_EAGER="0")
    env.pop("HOMEROOM_SMS_BACKEND", None)
    return subprocess.Popen(
        [sys.executable, "-m", "homeroom", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _read_until(process: subprocess.Popen, pattern: str) -> str:
    """Read the process's output until a line matches; return all output so far."""
    seen = []
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError("never printed " + pattern + ":\n" + "".join(seen)[-3000:])


def _get(url: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _interrupt(process: subprocess.Popen, port: int, signum: int = signal.SIGINT) -> None:
    process.send_signal(signum)  # Ctrl-C, or a service manager's stop
    assert process.wait(timeout=60) is not None
    process.stdout.close()
    # every process it started is gone: nothing answers on the port any more
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_and_stops_everything_on_ctrl_c_or_sigterm(tmp_path, signum):
    port = _free_port()
    process = _start(["serve", "--port", str(port), "--workers", "1"], tmp_path)
    try:
        _read_until(process, r"Serving on")
        assert _get(f"http://127.0.0.1:{port}/accounts/login/").status_code == 200
        admin_css = _get(f"http://127.0.0.1:{port}/static/admin/css/base.css")
        assert admin_css.status_code == 200  # static files without a web server in front
    finally:
        _interrupt(process, port, signum)


def test_demo_syncs_invites_and_serves_the_invitation(tmp_path):
    port = _free_port()
    process = _start(["demo", "--port", str(port), "--workers", "1"], tmp_path)
    try:
        output = _read_until(process, r"Serving on")
        assert "Sync of springfield-demo: COMPLETED" in output
        assert re.search(r"Family sync: [\d,]+ invitations issued", output)
        link = re.search(r"An invitation:\s+(\S+)", output).group(1)
        assert link.startswith(f"http://127.0.0.1:{port}/i/")
        assert any((tmp_path / "outbox" / "email").iterdir())
        page = _get(link)
        assert page.status_code == 200 and "csrfmiddlewaretoken" in page.text
        assert re.search(r"Admin:\s+\S+/admin/\s+\(admin / \S+\)", output)
    finally:
        _interrupt(process, port)
