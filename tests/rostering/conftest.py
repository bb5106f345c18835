"""Fixtures for roster sync: sandbox districts (tests/sandbox/conftest.py), sources on them,
districts to sync into, and snapshots of what the directory holds to compare runs with."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from homeroom.directory.models import (
    Course,
    District,
    Enrollment,
    GuardianContact,
    GuardianLink,
    School,
    Section,
    SectionTeacher,
    Staff,
    Student,
    Term,
)
from homeroom.rostering.models import SyncRun
from homeroom.rostering.services import district_add, district_settings_update, district_sync
from homeroom.rostering.sources.clever import CleverClient, CleverSource
from homeroom.rostering.sync.state import SYNCED_TABLES
from homeroom.sandbox.faults import FaultSettings
from homeroom.sandbox.runner import make_app
from homeroom.sandbox.server import SandboxApp
from homeroom.sandbox.store import Store
from tests.sandbox.conftest import (  # noqa: F401
    TOKEN,
    demo_path,
    demo_store,
    fresh_store,
    tiny_path,
)

SANDBOX_URL = "http://sandbox"

# Every directory table a sync writes, for "nothing was written" checks.
DIRECTORY_TABLES = SYNCED_TABLES


def copy_store(path: Path, target: Path) -> Store:
    """A private copy of a generated sandbox district that a test may change."""
    Store(path).db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(path, target)
    return Store(target)


@pytest.fixture
def tiny_store(tiny_path: Path, tmp_path: Path) -> Store:  # noqa: F811
    """A private copy of the tiny district (1 school, 30 students) that a test may change."""
    return copy_store(tiny_path, tmp_path / "tiny.sqlite3")


def sandbox_app(store: Store, **faults: Any) -> SandboxApp:
    """The sandbox on `store`, with Clever's rate limit off unless a test sets it."""
    return make_app(store, token=TOKEN, faults=FaultSettings(**{"rate_limit": 0, **faults}))


def source_for_app(
    app: SandboxApp | httpx.BaseTransport,
    *,
    token: str = TOKEN,
    limit: int | None = None,
    sleep: Callable[[float], None] | None = None,
    max_retries: int = 6,
    **client_options: Any,
) -> CleverSource:
    """A Clever source reading the sandbox in-process (no socket), waiting for nothing."""
    transport = app if isinstance(app, httpx.BaseTransport) else httpx.WSGITransport(app=app)
    client = CleverClient(
        SANDBOX_URL,
        token,
        transport=transport,
        sleep=sleep or (lambda seconds: None),
        max_retries=max_retries,
        **client_options,
    )
    return CleverSource(client, **({"limit": limit} if limit else {}))


class EditingTransport(httpx.BaseTransport):
    """The sandbox in-process, with a hook that may rewrite each 200 answer's JSON, to stage
    answers the sandbox itself never gives. Counts requests, and fails past a bound rather than
    letting a client page in circles."""

    def __init__(self, app: SandboxApp, edit: Callable[[httpx.Request, dict], None]) -> None:
        self.inner = httpx.WSGITransport(app=app)
        self.edit = edit
        self.requests: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url)
        if len(self.requests) > 200:
            raise RuntimeError("more than 200 requests")
        response = self.inner.handle_request(request)
        body = response.read()
        if response.status_code == 200:
            doc = orjson.loads(body)
            self.edit(request, doc)
            body = orjson.dumps(doc)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)


def new_district(name: str = "Demo", **settings: Any) -> District:
    district = district_add(name=name, source_url=SANDBOX_URL, token=TOKEN)
    if settings:
        district_settings_update(district=district, changes=settings)
    return district


def sync_from(
    district: District, store: Store | SandboxApp, *, force: bool = False, **kwargs: Any
) -> SyncRun:
    """One sync of `district` from the sandbox on `store` (a new source for every run)."""
    app = store if isinstance(store, SandboxApp) else sandbox_app(store)
    district.refresh_from_db()
    district.sync.refresh_from_db()
    return district_sync(district=district, source=source_for_app(app, **kwargs), force=force)


def completed(run: SyncRun) -> SyncRun:
    assert run.status == SyncRun.Status.COMPLETED, (run.error_code, run.error_message)
    return run


# -- snapshots -----------------------------------------------------------------------------------
def snapshot(district: District, *, active_only: bool = True) -> dict[str, set]:
    """What the directory holds of a district, by external ids only (so two districts synced
    from the same roster compare equal): key fields per entity and every link set."""
    live = {"archived_at": None} if active_only else {}

    def rows(model, *fields: str) -> set:
        query = model.objects.filter(district=district, **live)
        return set(query.values_list("external_id", *fields))

    out: dict[str, set] = {
        "schools": rows(School, "name", "sis_id"),
        "terms": rows(Term, "name", "start_date", "end_date"),
        "courses": rows(Course, "name", "number"),
        "sections": rows(
            Section, "name", "sis_id", "school__external_id", "term__external_id", "grade"
        ),
        "staff": rows(
            Staff, "first_name", "last_name", "email", "is_teacher", "is_staff", "is_district_admin"
        ),
        "students": rows(
            Student, "first_name", "last_name", "email", "student_id", "school__external_id"
        ),
        "contacts": rows(
            GuardianContact, "first_name", "last_name", "email", "sms_phone", "home_phone"
        ),
    }
    section_live = {"section__archived_at": None} if active_only else {}
    out["enrollments"] = set(
        Enrollment.objects.filter(
            section__district=district, student__archived_at=None, **section_live
        ).values_list("section__external_id", "student__external_id")
        if active_only
        else Enrollment.objects.filter(section__district=district).values_list(
            "section__external_id", "student__external_id"
        )
    )
    out["section_teachers"] = set(
        SectionTeacher.objects.filter(section__district=district, **section_live).values_list(
            "section__external_id", "staff__external_id", "is_primary"
        )
    )
    out["staff_schools"] = set(
        Staff.schools.through.objects.filter(staff__district=district, **_prefixed("staff", live))
        .filter(**_prefixed("school", live))
        .values_list("staff__external_id", "school__external_id")
    )
    out["guardian_links"] = set(
        GuardianLink.objects.filter(contact__district=district, **_prefixed("contact", live))
        .filter(**_prefixed("student", live))
        .values_list("contact__external_id", "student__external_id", "relationship", "contact_type")
    )
    return out


def _prefixed(prefix: str, lookups: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}__{k}": v for k, v in lookups.items()}


def table_dump(district: District) -> dict[str, list[tuple]]:
    """Every column of every row the district has in the directory, for exact comparisons."""
    out: dict[str, list[tuple]] = {}
    for model in (School, Term, Course, Section, Staff, Student, GuardianContact):
        out[model.__name__] = sorted(
            model.objects.filter(district=district).values_list(), key=repr
        )
    links: dict[str, Callable[[], Any]] = {
        "Enrollment": lambda: Enrollment.objects.filter(section__district=district),
        "SectionTeacher": lambda: SectionTeacher.objects.filter(section__district=district),
        "StaffSchools": lambda: Staff.schools.through.objects.filter(staff__district=district),
        "GuardianLink": lambda: GuardianLink.objects.filter(contact__district=district),
    }
    for name, query in links.items():
        out[name] = sorted(query().values_list(), key=repr)
    return out


@pytest.fixture(scope="module")
def synced_demo(django_db_setup, django_db_blocker, demo_store: Store):  # noqa: ARG001, F811
    """The demo district synced once per module, for tests that only read it. Its rows are
    committed outside the tests' transactions, so it is deleted when the module is done."""
    with django_db_blocker.unblock():
        district = new_district("Synced demo")
        run = completed(sync_from(district, demo_store))
    yield district, run
    with django_db_blocker.unblock():
        drop_district(district)


def users_with_role(store: Store, role: str) -> list[dict]:
    ids = [row[0] for row in store.db.execute("SELECT user FROM user_role WHERE role = ?", (role,))]
    return [store.get("users", i) for i in sorted(ids)]


def drop_district(district: District) -> None:
    """Delete a district committed outside a test's transaction (module-scoped fixtures)."""
    SyncRun.objects.filter(district=district).delete()
    for model in (Section, Student):
        model.objects.filter(district=district).delete()
    district.delete()
