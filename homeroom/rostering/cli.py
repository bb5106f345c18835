"""`homeroom district …`, `homeroom sync …` and `homeroom students …`."""

from __future__ import annotations

import json
import sys
from datetime import date

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(stderr=True)


def _setup() -> None:
    from homeroom.cli import django_setup

    django_setup()


def _district(slug: str):
    from homeroom.directory.models import District

    try:
        return District.objects.select_related("sync").get(slug=slug)
    except District.DoesNotExist:
        raise click.ClickException(f"no district with the slug {slug!r}") from None


# -- districts ---------------------------------------------------------------------------------
@click.group()
def district() -> None:
    """Add districts and change their sync settings."""


@district.command(name="add")
@click.argument("name")
@click.option("--clever-url", required=True, help="Clever's API root, or the sandbox's.")
@click.option("--token", required=True, help="The district's Clever token (stored encrypted).")
@click.option("--api-version", type=click.Choice(["v3.0", "v3.1"]), default="v3.0")
def district_add_command(name: str, clever_url: str, token: str, api_version: str) -> None:
    """Add a district synced from Clever; checks the token first, then prints the slug."""
    _setup()
    from homeroom.rostering.services import district_add
    from homeroom.rostering.sources.base import SourceError
    from homeroom.rostering.sources.clever.client import CleverClient
    from homeroom.rostering.sources.clever.source import CleverSource

    try:
        with CleverClient(clever_url, token, version=api_version, max_retries=2) as client:
            found = CleverSource(client).district()
    except SourceError as exc:
        raise click.ClickException(f"Clever did not accept this district: {exc.message}") from None
    added = district_add(
        name=name,
        source_url=clever_url,
        token=token,
        api_version=api_version,
        external_id=found.external_id,
    )
    console.print(f"Added {added.name} (Clever district {found.name}).")
    click.echo(added.slug)


SETTING_OPTIONS = {
    "all_schools": bool,
    "school_ids": list,
    "sync_classrooms": bool,
    "unique_class_names": bool,
    "unarchive_classrooms": bool,
    "student_id": str,
    "archived_students": str,
    "manage_guardians": bool,
    "contact_types": list,
    "relationships": list,
    "sms_phone_type": str,
    "update_active_contacts": bool,
    "remove_departed_guardians": bool,
    "deletion_threshold_percent": int,
    "daily_sync": bool,
    "region": str,
    "pause_from": date,
    "pause_until": date,
    "events_polling": bool,
    "events_poll_minutes": int,
    "family_sync": bool,
    "family_sync_all_schools": bool,
    "family_sync_school_ids": list,
    "invitation_expiry_days": int,
}


@district.command(name="settings")
@click.argument("slug")
@click.argument("changes", nargs=-1)
@click.option("--token", default=None, help="Replace the district's token.")
def district_settings_command(slug: str, changes: tuple[str, ...], token: str | None) -> None:
    """Show or change sync settings: `settings SLUG sync_classrooms=false school_ids=a,b`.

    Lists take comma-separated values; booleans true/false.
    """
    _setup()
    from homeroom.rostering.services import district_settings_update

    found = _district(slug)
    parsed = {name: _parse_setting(name, raw) for name, raw in (_split(c) for c in changes)}
    if token:
        parsed["token"] = token
    if parsed:
        try:
            district_settings_update(district=found, changes=parsed)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    settings = found.sync
    table = Table(title=f"Sync settings of {found.name}")
    table.add_column("setting")
    table.add_column("value")
    for name in SETTING_OPTIONS:
        table.add_row(name, json.dumps(getattr(settings, name), default=str))
    Console().print(table)


def _split(change: str) -> tuple[str, str]:
    name, sep, raw = change.partition("=")
    if not sep or name not in SETTING_OPTIONS:
        raise click.BadParameter(
            f"{change!r}: use NAME=VALUE, NAME one of {', '.join(SETTING_OPTIONS)}"
        )
    return name, raw


def _parse_setting(name: str, raw: str):
    kind = SETTING_OPTIONS[name]
    if kind is bool:
        if raw.lower() not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
            raise click.BadParameter(f"{name} takes true or false, not {raw!r}")
        return raw.lower() in ("true", "on", "1", "yes")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise click.BadParameter(f"{name} takes a whole number, not {raw!r}") from None
    if kind is date:
        if raw in ("", "none"):
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise click.BadParameter(f"{name} takes a date YYYY-MM-DD, not {raw!r}") from None
    if kind is list:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


@district.command(name="list")
def district_list_command() -> None:
    """List districts with their last run."""
    _setup()
    from homeroom.directory.models import District

    for found in District.objects.order_by("slug"):
        last = found.runs.order_by("-created_at").first()
        status = f"{last.status} {last.finished_at:%Y-%m-%d %H:%M}" if last else "never synced"
        click.echo(f"{found.slug}\t{found.name}\t{status}")


def sync_with_progress(found, *, dry_run: bool = False, force: bool = False, events: bool = False):
    """Sync a district in this process with a progress line per stage, then send the
    invitations it issued (a terminal needs no worker running). Returns the run. With
    `events`, apply Clever's events since the last sync instead (or a full sync, if it must)."""
    from homeroom.rostering.events import district_events_sync
    from homeroom.rostering.services import district_sync

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                for other in tasks.values():
                    progress.update(other, completed=1, total=1)
                label = stage.replace("fetch:", "Fetching ")
                tasks[stage] = progress.add_task(label.capitalize(), total=None, detail="")
            detail = f"{done:,}" + (f" / {total:,}" if total else "") if done or total else ""
            progress.update(tasks[stage], detail=detail)

        if events:
            run = district_events_sync(district=found, send_invitations=False)
        else:
            run = district_sync(
                district=found,
                dry_run=dry_run,
                force=force,
                progress=report,
                send_invitations=False,
            )
    if run.status == "completed" and not dry_run:
        from homeroom.families.cli import invitations_send_with_progress

        invitations_send_with_progress(found)
    return run


# -- sync --------------------------------------------------------------------------------------
@click.command()
@click.argument("slug")
@click.option("--dry-run", is_flag=True, help="Self-check: report the plan, write nothing.")
@click.option("--force", is_flag=True, help="Archive even beyond the deletion threshold.")
@click.option(
    "--events",
    is_flag=True,
    help="Apply only Clever's events since the last sync (a full sync when they cannot tell).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON.")
def sync(slug: str, dry_run: bool, force: bool, events: bool, as_json: bool) -> None:
    """Sync a district from its source now. Exit status 0 when the run completed."""
    _setup()
    from homeroom.rostering.services import run_report

    if events and (dry_run or force):
        raise click.UsageError("--events cannot be combined with --dry-run or --force.")
    found = _district(slug)
    run = sync_with_progress(found, dry_run=dry_run, force=force, events=events)
    report_data = run_report(run)
    if as_json:
        click.echo(json.dumps(report_data, indent=2))
    else:
        _print_run(report_data)
    sys.exit(0 if run.status == "completed" else 1)


def _print_run(report: dict) -> None:
    out = Console()
    titles = {"dry_run": "Self-check (nothing written)", "events": "Events sync"}
    title = titles.get(report["kind"], "Sync")
    out.print(f"[bold]{title} of {report['district']}: {report['status'].upper()}[/bold]")
    if report["error_code"]:
        out.print(f"[red]{report['error_code']}[/red]: {report['error_message']}")
        return
    table = Table()
    table.add_column("")
    actions = ("created", "updated", "unchanged", "archived", "unarchived", "skipped")
    for action in actions:
        table.add_column(action, justify="right")
    for entity, counts in report["counts"].items():
        table.add_row(entity, *(f"{counts[a]:,}" for a in actions))
    out.print(table)
    family = report.get("family_counts") or {}
    if family:
        invitations, connections = family["invitations"], family["connections"]
        out.print(
            f"Family sync: {invitations['created']:,} invitations issued "
            f"({invitations['matched_accounts']:,} to existing accounts), "
            f"{connections['created']:,} children added to invitations, "
            f"{connections['removed']:,} connections removed."
        )
    if report["warning_count"]:
        out.print(f"{report['warning_count']:,} warnings (--json lists them, with ids):")
        for line in report["warning_summary"]:
            out.print(f"  {line['count']:>7,} {line['entity']}: {line['reason']}")


# -- students ----------------------------------------------------------------------------------
@click.group()
def students() -> None:
    """Clean up student data: archive students outside the sync, merge duplicates."""


@students.command(name="archive-unsynced")
@click.argument("slug")
@click.option("--school", "school_id", default=None, help="Only this school (its Homeroom id).")
def archive_unsynced(slug: str, school_id: str | None) -> None:
    """Archive the active students that the sync does not manage."""
    _setup()
    from homeroom.directory.models import School
    from homeroom.directory.services import students_archive_unsynced

    found = _district(slug)
    school = None
    if school_id is not None:
        school = School.objects.filter(district=found, pk=school_id).first()
        if school is None:
            raise click.ClickException(f"no school {school_id} in {found.name}")
    count = students_archive_unsynced(district=found, school=school)
    click.echo(f"Archived {count} students that are not part of the sync.")


@students.command(name="merge")
@click.argument("keep", type=int)
@click.argument("other", type=int)
def merge(keep: int, other: int) -> None:
    """Merge student OTHER into student KEEP (Homeroom ids); OTHER is archived."""
    _setup()
    from homeroom.directory.models import Student
    from homeroom.directory.services import student_merge

    found = {s.pk: s for s in Student.objects.filter(pk__in=[keep, other])}
    for pk in (keep, other):
        if pk not in found:
            raise click.ClickException(f"no student with id {pk}")
    try:
        student_merge(keep=found[keep], other=found[other])
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Merged student {other} into {keep}.")
