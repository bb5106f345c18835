"""`homeroom families …`: invitations, unreachable families, mismatches, Family Access, texts."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

console = Console(stderr=True)
BATCH = 200  # invitations per progress step


def _setup() -> None:
    from homeroom.cli import django_setup

    django_setup()


def _district(slug: str):
    from homeroom.rostering.cli import _district as district_get

    return district_get(slug)


@click.group()
def families() -> None:
    """Family sync: invitations, unreachable families, account mismatches, Family Access."""


def invitations_send_with_progress(district) -> dict[str, int]:
    """Send every issued, unsent invitation of the district, showing a progress bar."""
    from collections import Counter

    from homeroom.families.models import Invitation
    from homeroom.families.services import invitations_send

    total = Invitation.objects.filter(
        district=district, status=Invitation.Status.ISSUED, sent_at__isnull=True
    ).count()
    outcomes: Counter = Counter()
    if not total:
        return outcomes
    with Progress(
        TextColumn("Sending invitations"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("send", total=total)
        while True:
            done = invitations_send(district=district, limit=BATCH)
            if not done:
                break
            outcomes.update(done)
            progress.update(task, advance=sum(done.values()))
    return outcomes


@families.command(name="send")
@click.argument("slug")
def send(slug: str) -> None:
    """Send the invitations the last syncs issued and nobody has sent yet."""
    _setup()
    outcomes = invitations_send_with_progress(_district(slug))
    click.echo(
        f"Sent {outcomes.get('sent', 0):,} invitations; "
        f"{outcomes.get('unreachable', 0):,} families unreachable."
    )


@families.command(name="invitations")
@click.argument("slug")
@click.option("--status", default=None, help="Only these: issued, sent, accepted, unreachable…")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def invitations(slug: str, status: str | None, limit: int, as_json: bool) -> None:
    """List a district's invitations, newest first, with counts per status."""
    _setup()
    from django.db.models import Count

    from homeroom.families.models import Invitation

    found = _district(slug)
    query = Invitation.objects.filter(district=found)
    by_status = dict(query.values_list("status").annotate(n=Count("id")).order_by())
    if status:
        query = query.filter(status=status)
    rows = [
        {
            "id": inv.pk,
            "status": inv.status,
            "channel": inv.channel,
            "children": inv.n_children,
            "sent_at": inv.sent_at.isoformat() if inv.sent_at else None,
            "expires_at": inv.expires_at.isoformat() if inv.expires_at else None,
        }
        for inv in query.annotate(n_children=Count("connections")).order_by("-pk")[:limit]
    ]
    if as_json:
        click.echo(json.dumps({"by_status": by_status, "invitations": rows}, indent=2))
        return
    click.echo(", ".join(f"{k}: {v:,}" for k, v in sorted(by_status.items())) or "none")
    table = Table("id", "status", "channel", "children", "sent", "expires")
    for row in rows:
        table.add_row(
            *(str(row[k] or "") for k in ("id", "status", "channel", "children")),
            (row["sent_at"] or "")[:16],
            (row["expires_at"] or "")[:10],
        )
    Console().print(table)


@families.command(name="resend")
@click.argument("invitation_id", type=int)
def resend(invitation_id: int) -> None:
    """Send an invitation again with a new link (the old link stops working)."""
    _setup()
    from homeroom.families.models import Invitation
    from homeroom.families.services import invitation_resend

    invitation = Invitation.objects.filter(pk=invitation_id).first()
    if invitation is None:
        raise click.ClickException(f"no invitation {invitation_id}")
    try:
        invitation = invitation_resend(invitation=invitation)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Invitation {invitation.pk}: {invitation.status} ({invitation.channel}).")


@families.command(name="invite")
@click.argument("slug")
@click.option(
    "--student",
    "student_ids",
    multiple=True,
    required=True,
    help="The student's Homeroom id or SIS id; repeat for several children.",
)
@click.option("--name", default="", help="The family member's name.")
@click.option("--email", default="")
@click.option("--phone", default="", help="A mobile number, for a text message.")
@click.option("--relationship", default="Parent", show_default=True)
def invite(slug, student_ids, name, email, phone, relationship) -> None:
    """Invite a family by hand (staff), for one or more children."""
    _setup()
    from django.db.models import Q

    from homeroom.directory.models import Student
    from homeroom.families.services import invitation_issue

    found = _district(slug)
    chosen = []
    for given in student_ids:
        match = Q(sis_id=given) | (Q(pk=int(given)) if given.isdigit() else Q(pk__in=[]))
        student = Student.objects.filter(match, district=found).first()
        if student is None:
            raise click.ClickException(f"no student {given!r} in {found.name}")
        chosen.append((student, relationship))
    try:
        invitation = invitation_issue(
            district=found, name=name, email=email, phone=phone, students=chosen
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    invitation.refresh_from_db()
    click.echo(f"Invitation {invitation.pk}: {invitation.status} ({invitation.channel}).")


@families.command(name="unreachable")
@click.argument("slug")
def unreachable(slug: str) -> None:
    """Families that could be reached by neither e-mail nor text, with the provider's reason."""
    _setup()
    from homeroom.families.services import invitations_unreachable

    for invitation in invitations_unreachable(district=_district(slug)):
        reason = invitation.last_delivery.reason if invitation.last_delivery else "no address"
        click.echo(f"{invitation.pk}\t{invitation.name}\t{reason}")


@families.command(name="mismatches")
@click.argument("slug")
def mismatches(slug: str) -> None:
    """Accounts whose e-mail or phone differs from the roster (the account wins)."""
    _setup()
    from homeroom.families.services import family_mismatches

    rows = family_mismatches(district=_district(slug))
    for row in rows:
        click.echo(
            f"invitation {row['invitation']}\t{row['field']}\t"
            f"roster: {row['roster']}\taccount: {row['account']}"
        )
    if not rows:
        click.echo("No mismatches.")


@families.command(name="access")
@click.argument("slug")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--school", "school_id", default=None, help="The school's Homeroom or Clever id.")
@click.option("--classroom", "section_id", default=None, help="The classroom's id.")
def access(slug: str, state: str, school_id: str | None, section_id: str | None) -> None:
    """Turn Family Access on or off for a school or a classroom."""
    _setup()
    from django.db.models import Q

    from homeroom.directory.models import School, Section
    from homeroom.directory.services import family_access_set

    found = _district(slug)
    if bool(school_id) == bool(section_id):
        raise click.UsageError("give exactly one of --school and --classroom")
    model, given = (School, school_id) if school_id else (Section, section_id)
    match = Q(external_id=given) | (Q(pk=int(given)) if given.isdigit() else Q(pk__in=[]))
    target = model.objects.filter(match, district=found).first()
    if target is None:
        raise click.ClickException(f"no {'school' if school_id else 'classroom'} {given!r}")
    family_access_set(target=target, enabled=state == "on")
    click.echo(f"Family Access {state} for {target}.")


@families.command(name="templates")
def templates() -> None:
    """Print the texts of the messages Homeroom sends to families."""
    import homeroom.notify

    folder = Path(homeroom.notify.__file__).parent / "templates" / "notify"
    for path in sorted(folder.rglob("*.txt")):
        click.echo(f"== {path.relative_to(folder)}")
        click.echo(path.read_text(encoding="utf-8").strip())
        click.echo()
