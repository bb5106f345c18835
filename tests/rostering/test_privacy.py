"""Privacy: the district token is encrypted at rest, and a sync logs no personal data."""

from __future__ import annotations

import logging

import httpx

from homeroom.directory.models import District
from homeroom.rostering.secrets import token_decrypt
from homeroom.rostering.services import district_settings_update, district_sync
from tests.rostering.conftest import (
    TOKEN,
    EditingTransport,
    completed,
    new_district,
    sandbox_app,
    source_for_app,
    users_with_role,
)


def test_the_token_is_stored_encrypted(db):
    district = new_district()
    stored = District.objects.get(pk=district.pk).token_encrypted
    assert stored and TOKEN not in stored
    assert token_decrypt(stored) == TOKEN
    # a replaced token is stored encrypted too
    district_settings_update(district=district, changes={"token": "second-secret-token"})
    stored = District.objects.get(pk=district.pk).token_encrypted
    assert "second-secret-token" not in stored
    assert token_decrypt(stored) == "second-secret-token"


def _personal_data(store) -> set[str]:
    values: set[str] = set()
    for role in ("student", "contact"):
        for user in users_with_role(store, role):
            name = user.get("name") or {}
            values |= {v for v in (name.get("first"), name.get("last"), user.get("email")) if v}
            values.add(user["roles"].get(role, {}).get("phone") or "")
    values.discard("")
    return {v for v in values if len(v) >= 4}  # "Li" would match anywhere


def test_a_sync_logs_no_personal_data(db, tiny_store, caplog):
    # given a sync with retries, records that do not fit and warnings, logged at DEBUG
    student = users_with_role(tiny_store, "student")[0]

    def misfit(request: httpx.Request, doc: dict) -> None:
        if request.url.path.endswith("/users") and doc["data"]:
            odd = dict(doc["data"][0]["data"])  # a number where Clever sends text
            odd["name"] = {"first": student["name"]["first"], "last": 12345}
            doc["data"][0] = {"data": odd}
            doc["data"].append({"data": {"id": "no-role", "name": student["name"], "roles": {}}})

    transport = EditingTransport(sandbox_app(tiny_store, fail_next=2), misfit)
    district = new_district()
    caplog.set_level(logging.DEBUG)
    run = completed(district_sync(district=district, source=source_for_app(transport)))
    assert run.warning_count > 0
    # then the log says what happened …
    assert "clever GET /v3.0/events: HTTP 503" in caplog.text  # the first request
    assert "skipped a record" in caplog.text
    # … and names no student or family, and no e-mail address or phone number
    leaked = sorted(v for v in _personal_data(tiny_store) if v in caplog.text)
    assert leaked == []
    assert "@" not in caplog.text
    # nor does the run's report
    report = str(run.warnings) + run.error_message
    assert sorted(v for v in _personal_data(tiny_store) if v in report) == []
