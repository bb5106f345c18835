"""`homeroom serve`: the web server, the job workers and the scheduler on one machine.

Three kinds of process, started and stopped together: waitress serving Homeroom's WSGI app,
a Celery worker (`--workers N` processes) and Celery beat, whose one periodic job is the
schedules dispatcher. With the embedded defaults (SQLite, the file-system broker) nothing else
has to run; with DATABASE_URL and REDIS_URL the same command is one node of a larger setup.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import click

STOP_GRACE_SECONDS = 15


@dataclass
class Child:
    name: str
    process: subprocess.Popen


def commands(*, host: str, port: int, workers: int, beat: bool = True) -> dict[str, list[str]]:
    python = sys.executable
    out = {
        "web": [python, "-m", "waitress", f"--listen={host}:{port}", "--threads=8"]
        + ["homeroom.wsgi:application"],
        "worker": [python, "-m", "celery", "-A", "homeroom.celery", "worker"]
        + [f"--concurrency={workers}", "--loglevel=INFO", "--without-gossip", "--without-mingle"],
    }
    if beat:
        out["beat"] = [python, "-m", "celery", "-A", "homeroom.celery", "beat", "--loglevel=INFO"]
    return out


def serve(*, host: str, port: int, workers: int, beat: bool = True) -> int:
    """Run until Ctrl-C or SIGTERM (or until one of the processes ends); returns an exit status."""
    # Ctrl-C and a service manager's SIGTERM only ask to stop: an exception raised wherever the
    # signal lands could leave a child's wait lock held (`Popen.poll`), and then stopping it
    # hangs. The loop below notices within half a second.
    asked: list[int] = []
    handlers = {
        signum: signal.signal(signum, lambda signum, frame: asked.append(signum))
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "homeroom.settings"}
    children: list[Child] = []
    try:
        for name, command in commands(host=host, port=port, workers=workers, beat=beat).items():
            children.append(Child(name, subprocess.Popen(command, env=env)))
        click.echo(f"Serving on http://{host}:{port}/ with {workers} worker(s); Ctrl-C stops.")
        while not asked:
            for child in children:
                code = child.process.poll()
                if code is not None:
                    click.echo(f"{child.name} stopped (exit status {code}); stopping the rest.")
                    return code or 1
            time.sleep(0.5)
        click.echo("Stopping…")
        return 0
    finally:
        stop(children)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def stop(children: list[Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
