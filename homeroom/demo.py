"""`homeroom demo`: the README's main job. A whole Homeroom on this machine, in one command.

It starts the Clever sandbox with the demo district (600 students), adds the district to
Homeroom with family sync on, runs the first sync with a progress bar, sends the invitations to
the outbox (files in the data folder: nothing leaves the machine), prints where to click, and
serves the portal, the admin, the job worker and the scheduler until Ctrl-C.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import click

DEMO_NAME = "Springfield Demo"
DEMO_TOKEN = "sandbox-district-token"
LINK = re.compile(r"https?://\S+/i/[A-Za-z0-9_-]+")


def demo(*, host: str, port: int, workers: int) -> int:
    os.environ.setdefault("HOMEROOM_BASE_URL", f"http://{host}:{port}")
    from homeroom.cli import django_setup

    django_setup()
    from django.conf import settings
    from django.core.management import call_command

    from homeroom.sandbox.runner import open_store, sandbox_process, store_path
    from homeroom.serve import serve

    click.echo(f"Data folder: {settings.DATA_DIR}")
    call_command("migrate", verbosity=0)
    data_dir = Path(settings.DATA_DIR)
    click.echo("Preparing the sandbox's demo district (generated once, then reused)…")
    open_store(store_path(data_dir, size="demo", seed=1), size="demo", seed=1)
    with sandbox_process(size="demo", seed=1, token=DEMO_TOKEN, data_dir=data_dir) as url:
        click.echo(f"Clever sandbox: {url}")
        district = _demo_district(url)
        from homeroom.rostering.cli import _print_run, sync_with_progress
        from homeroom.rostering.services import run_report

        run = sync_with_progress(district)
        _print_run(run_report(run))
        if run.status != "completed":
            return 1
        password = _admin()
        _where_to_click(host=host, port=port, password=password, outbox=data_dir / "outbox")
        return serve(host=host, port=port, workers=workers)


def _demo_district(url: str):
    from homeroom.directory.models import District
    from homeroom.rostering.services import district_add, district_settings_update

    district = District.objects.filter(name=DEMO_NAME).first()
    if district is None:
        district = district_add(name=DEMO_NAME, source_url=url, token=DEMO_TOKEN)
        click.echo(f"Added the district {district.name} ({district.slug}).")
    elif district.source_url != url:
        district.source_url = url  # the sandbox listens on a new port each time
        district.save(update_fields=["source_url"])
    if not district.sync.family_sync:
        district_settings_update(district=district, changes={"family_sync": True})
    district.sync.refresh_from_db()
    return district


def _admin() -> str | None:
    """A staff account for the admin, made once; its password is printed that one time."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    if users.filter(username="admin").exists():
        return None
    password = secrets.token_urlsafe(12)
    users.create_superuser(username="admin", email="admin@example.org", password=password)
    return password


def _where_to_click(*, host: str, port: int, password: str | None, outbox: Path) -> None:
    base = f"http://{host}:{port}"
    link = _newest_invitation_link(outbox / "email")
    click.echo("")
    click.secho("Homeroom is ready.", bold=True)
    click.echo(f"  Family portal:  {base}/family/")
    if link:
        click.echo(f"  An invitation:  {link}   (open it as a parent would)")
    click.echo(f"  Outbox:         {outbox}   (every e-mail and text message sent)")
    credentials = f"admin / {password}" if password else "user admin, password as first printed"
    click.echo(f"  Admin:          {base}/admin/   ({credentials})")
    click.echo("")


def _newest_invitation_link(folder: Path) -> str | None:
    files = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files[:50]:
        found = LINK.search(path.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found.group(0)
    return None
