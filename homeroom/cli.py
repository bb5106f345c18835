"""The `homeroom` command: one entry point for Django management and Homeroom's own tools."""

import os

import click

import homeroom
from homeroom.bench.cli import bench
from homeroom.families.cli import families
from homeroom.rostering.cli import district, students, sync
from homeroom.sandbox.cli import sandbox

_django_ready = False


def django_setup() -> None:
    """Configure Django once; call it first in any subcommand that touches models or settings."""
    global _django_ready
    if _django_ready:
        return
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeroom.settings")
    django.setup()
    _django_ready = True


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Homeroom keeps a school district's roster in step with its school-family app.

    It syncs schools, sections, staff, students and guardian contacts from Clever and OneRoster,
    invites guardians, gives families a portal to claim their children, and lets teachers and
    families message each other.
    """


@main.command()
def version() -> None:
    """Print Homeroom's version."""
    click.echo(homeroom.__version__)


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
    short_help="Run a Django management command (migrate, createsuperuser, ...).",
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def manage(args: tuple[str, ...]) -> None:
    """Run a Django management command, e.g. `homeroom manage migrate`."""
    from django.core.management import execute_from_command_line

    django_setup()
    execute_from_command_line(["homeroom manage", *args])


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="Job worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve Homeroom: web server, job workers and scheduler, until Ctrl-C."""
    from homeroom.serve import serve as serve_all

    django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    raise SystemExit(serve_all(host=host, port=port, workers=workers))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="Job worker processes.")
def demo(host: str, port: int, workers: int) -> None:
    """The demo: sandbox district, first sync, invitations, then serve until Ctrl-C."""
    from homeroom.demo import demo as run_demo

    raise SystemExit(run_demo(host=host, port=port, workers=workers))


# Each tool brings its own command group; they import their heavy modules lazily.
main.add_command(sandbox)
main.add_command(bench)
main.add_command(district)
main.add_command(sync)
main.add_command(students)
main.add_command(families)
