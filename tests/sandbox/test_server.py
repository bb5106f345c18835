"""The sandbox answers exactly as Clever's Data API does: every endpoint, validated against the
official specs, with the relations, paging and errors a Clever client relies on."""

from __future__ import annotations

import pytest

from homeroom.sandbox.mutate import mutate
from homeroom.sandbox.runner import make_app
from homeroom.sandbox.spec import load_spec

from .conftest import TOKEN, client_for

VERSIONS = ["v3.0", "v3.1"]


def _ids(store, sql, args=()):
    return [row[0] for row in store.db.execute(sql, args)]


@pytest.fixture(scope="module")
def sample_ids(demo_store):
    """An id per path shape that has something behind each of its relations."""
    student = _ids(
        demo_store,
        "SELECT cs.student FROM contact_student cs JOIN section_user su ON su.user = cs.student"
        " JOIN sections s ON s.id = su.section JOIN courses c ON c.id = s.course"
        " WHERE json_extract(c.body, '$.name') = 'Algebra I' ORDER BY cs.student LIMIT 1",
    )[0]
    section = _ids(demo_store, "SELECT section FROM section_user WHERE user = ?", (student,))[0]
    section_row = demo_store.get("sections", section)
    resource = _ids(
        demo_store,
        "SELECT resource FROM resource_course WHERE course = ? ORDER BY resource",
        (section_row["course"],),
    )[0]
    return {
        "districts": demo_store.meta("district"),
        "schools": section_row["school"],
        "sections": section,
        "terms": section_row["term_id"],
        "courses": section_row["course"],
        "resources": resource,
        "users": student,
        "contact": _ids(
            demo_store, "SELECT contact FROM contact_student WHERE student = ?", (student,)
        )[0],
        "teacher": section_row["teacher"],
    }


def _concrete(template: str, ids: dict[str, str]) -> str:
    collection = template.split("/")[1]
    if template == "/users/{id}/mystudents":
        return template.replace("{id}", ids["contact"])
    return template.replace("{id}", ids.get(collection, ""))


@pytest.fixture(scope="module")
def mutated_app(demo_path, tmp_path_factory):
    """A private demo district with some events, so the events endpoints have data."""
    import shutil

    from homeroom.sandbox.store import Store

    path = tmp_path_factory.mktemp("walk") / "district.sqlite3"
    Store(demo_path).db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(demo_path, path)
    store = Store(path)
    mutate(store, changes=10, seed=3)
    from homeroom.sandbox.faults import FaultSettings

    return make_app(store, token=TOKEN, faults=FaultSettings(rate_limit=0))


@pytest.mark.parametrize("version", VERSIONS)
def test_every_endpoint_answers_as_the_spec_says(version, mutated_app, sample_ids):
    spec = load_spec(version)
    event_id = mutated_app.store.db.execute("SELECT max(id) FROM events").fetchone()[0]
    ids = {**sample_ids, "events": event_id}
    operations = spec.list_operations()
    assert len(operations) == 44
    with client_for(mutated_app) as client:
        for operation in operations:
            path = f"/{version}{_concrete(operation.template, ids)}"
            query = {"limit": 5} if "limit" in operation.query_params else {}
            response = client.get(path, params=query)
            assert response.status_code == 200, (path, response.text)
            body = response.json()
            assert spec.validate(path, 200, body) == [], path
            if isinstance(body["data"], list):
                assert body["data"], f"{path} listed nothing"
                assert len(body["data"]) <= 5
                assert all(item["uri"].startswith(f"/{version}/") for item in body["data"])
            # Every enum value of every query parameter is accepted and still valid.
            for name, param in operation.query_params.items():
                for value in param.get("enum") or []:
                    response = client.get(path, params={name: value})
                    assert response.status_code == 200, (path, name, value)
                    assert spec.validate(path, 200, response.json()) == [], (path, name, value)


@pytest.mark.parametrize("version", VERSIONS)
def test_whole_district_validates(version, api):
    """Every record of the district, not just a sample, matches the spec."""
    spec = load_spec(version)
    for collection in ("schools", "sections", "terms", "courses", "users", "resources"):
        path = f"/{version}/{collection}"
        body = api.get(path, params={"limit": 10_000}).json()
        assert "next" not in {link["rel"] for link in body["links"]}
        assert spec.validate(path, 200, body) == [], collection


def test_v30_leaves_out_what_v31_added(api, sample_ids):
    student = sample_ids["users"]
    old = api.get(f"/v3.0/users/{student}").json()["data"]["roles"]["student"]
    new = api.get(f"/v3.1/users/{student}").json()["data"]["roles"]["student"]
    assert "frl_status" not in old and "home_language" not in old
    assert "frl_status" in new and "home_language" in new
    assert {k: v for k, v in new.items() if k in old} == old


def _all(api, path, **params):
    """Follow `next` links to the end; return the records."""
    records, url = [], path
    query: dict | None = dict(params)
    while url:
        body = api.get(url, params=query).json()
        records += [item["data"] for item in body["data"]]
        url = next((link["uri"] for link in body["links"] if link["rel"] == "next"), None)
        query = None  # httpx would replace the link's own query with an empty one
    return records


def test_paging_forwards_and_backwards_covers_every_user_once(api, demo_store):
    every = _ids(demo_store, "SELECT id FROM users ORDER BY id")
    forwards = [u["id"] for u in _all(api, "/v3.0/users", limit=97)]
    assert forwards == every

    # Backwards: start after the last id and follow `prev` links.
    backwards: list[str] = []
    url = "/v3.0/users"
    query: dict | None = {"limit": 97, "ending_before": "f" * 24}
    while url:
        body = api.get(url, params=query).json()
        ids = [item["data"]["id"] for item in body["data"]]
        assert ids == sorted(ids)
        backwards = ids + backwards
        url = next((link["uri"] for link in body["links"] if link["rel"] == "prev"), None)
        query = None
    assert backwards == every


def test_next_link_keeps_the_filters(api):
    body = api.get("/v3.0/users", params={"role": "contact", "limit": 10}).json()
    next_uri = next(link["uri"] for link in body["links"] if link["rel"] == "next")
    assert "role=contact" in next_uri and "limit=10" in next_uri
    page = api.get(next_uri).json()["data"]
    assert all("contact" in item["data"]["roles"] for item in page)


@pytest.mark.parametrize("role", ["student", "teacher", "staff", "district_admin", "contact"])
def test_users_by_role(role, api, demo_store):
    users = _all(api, "/v3.1/users", role=role, limit=10_000)
    assert {u["id"] for u in users} == set(
        _ids(demo_store, "SELECT user FROM user_role WHERE role = ?", (role,))
    )
    assert all(role in u["roles"] for u in users)


def test_relations_agree_with_the_records(api, demo_store, sample_ids):
    student_id, contact_id = sample_ids["users"], sample_ids["contact"]
    users = {u["id"]: u for u in demo_store.iter_records("users")}
    sections = list(demo_store.iter_records("sections"))

    contacts = {u["id"] for u in _all(api, f"/v3.0/users/{student_id}/mycontacts")}
    assert contacts == {
        uid
        for uid, u in users.items()
        if "contact" in u["roles"]
        and student_id in {r["student"] for r in u["roles"]["contact"]["student_relationships"]}
    }
    students = {u["id"] for u in _all(api, f"/v3.0/users/{contact_id}/mystudents")}
    relationships = users[contact_id]["roles"]["contact"]["student_relationships"]
    assert students == {r["student"] for r in relationships}

    mine = [s for s in sections if student_id in s["students"]]
    teachers = {u["id"] for u in _all(api, f"/v3.0/users/{student_id}/myteachers")}
    assert teachers == {t for s in mine for t in s["teachers"]}
    assert {s["id"] for s in _all(api, f"/v3.0/users/{student_id}/sections")} == {
        s["id"] for s in mine
    }

    section = mine[0]
    in_section = _all(api, f"/v3.0/sections/{section['id']}/users", role="student")
    assert {u["id"] for u in in_section} == set(section["students"])
    teaching = _all(api, f"/v3.0/sections/{section['id']}/users", role="teacher")
    assert {u["id"] for u in teaching} == set(section["teachers"])

    teacher_id = sample_ids["teacher"]
    taught = {u["id"] for u in _all(api, f"/v3.0/users/{teacher_id}/mystudents", limit=10_000)}
    assert taught == {st for s in sections if teacher_id in s["teachers"] for st in s["students"]}


def test_school_users_primary_and_not(api, demo_store):
    users = list(demo_store.iter_records("users"))
    dual = next(
        u for u in users if "student" in u["roles"] and len(u["roles"]["student"]["schools"]) > 1
    )
    other_school = next(
        s for s in dual["roles"]["student"]["schools"] if s != dual["roles"]["student"]["school"]
    )
    path = f"/v3.0/schools/{other_school}/users"
    everyone = {u["id"] for u in _all(api, path, role="student", limit=10_000)}
    primary = {u["id"] for u in _all(api, path, role="student", primary="true", limit=10_000)}
    assert dual["id"] in everyone and dual["id"] not in primary
    assert primary == {
        u["id"]
        for u in users
        if "student" in u["roles"] and u["roles"]["student"]["school"] == other_school
    }


def test_single_relations(api, sample_ids, demo_store):
    section = demo_store.get("sections", sample_ids["sections"])
    base = f"/v3.1/sections/{section['id']}"
    assert api.get(f"{base}/course").json()["data"]["id"] == section["course"]
    assert api.get(f"{base}/school").json()["data"]["id"] == section["school"]
    assert api.get(f"{base}/term").json()["data"]["id"] == section["term_id"]
    assert api.get(f"{base}/district").json()["data"]["id"] == demo_store.meta("district")


# -- errors ------------------------------------------------------------------------------------
ERRORS = [
    ("/v3.0/users?limit=10001", 413),
    ("/v3.0/users?limit=0", 400),
    ("/v3.0/users?limit=ten", 400),
    ("/v3.0/users?role=parent", 400),
    ("/v3.0/users?colour=blue", 400),
    ("/v3.0/users?starting_after=nothex", 400),
    ("/v3.0/users?starting_after={zero}&ending_before={zero}", 400),
    ("/v3.0/schools?role=student", 400),  # a parameter this endpoint does not take
    ("/v3.0/users/{zero}", 404),
    ("/v3.0/users/not-an-id", 404),
    ("/v3.0/sections/{zero}/users", 404),
    ("/v3.0/events?starting_after={zero}", 404),
    ("/v3.0/events/{zero}", 404),
    ("/v3.0/nothing", 404),
    ("/v2.0/users", 404),
]


@pytest.mark.parametrize("path, status", ERRORS)
def test_bad_requests_get_clevers_status_and_a_message(path, status, api):
    path = path.format(zero="0" * 24)
    response = api.get(path)
    assert response.status_code == status
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    if path.startswith("/v3.0/") and "nothing" not in path:
        assert load_spec("v3.0").validate(path.split("?")[0], status, body) == []


def test_a_token_is_required(demo_app):
    for token in (None, "wrong-token"):
        with client_for(demo_app, token=token) as client:
            response = client.get("/v3.0/schools")
            assert response.status_code == 401
            assert response.json()["message"]


def test_me_and_count(api, demo_store):
    me = api.get("/v3.0/me").json()["data"]
    assert me["district"] == demo_store.meta("district")
    assert api.get("/v3.0/users", params={"count": "true"}).status_code == 200
