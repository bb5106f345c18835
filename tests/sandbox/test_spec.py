"""The spec validator itself: strict where Clever's specs are, open only where Clever is."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from homeroom.sandbox.spec import load_spec

STUDENT_ID = "5d0c1e2f3a4b5c6d7e8f9a01"
CONTACT_ID = "5d0c1e2f3a4b5c6d7e8f9a02"
DISTRICT_ID = "5d0c1e2f3a4b5c6d7e8f9a00"
SCHOOL_ID = "5d0c1e2f3a4b5c6d7e8f9a03"


def _student() -> dict[str, Any]:
    return {
        "id": STUDENT_ID,
        "district": DISTRICT_ID,
        "email": None,
        "name": {"first": "Ada", "middle": None, "last": "Lovelace"},
        "created": "2024-08-01T12:00:00.000Z",
        "last_modified": "2024-08-01T12:00:00.000Z",
        "roles": {
            "student": {
                "sis_id": "S-1",
                "student_number": None,
                "state_id": None,
                "school": SCHOOL_ID,
                "schools": [SCHOOL_ID],
                "grade": "Kindergarten",
                "dob": "2/11/2019",
                "gender": "F",
                "race": None,
                "hispanic_ethnicity": "",
                "ell_status": None,
                "graduation_year": "2032",
                "location": None,
                "credentials": {"district_username": "ada.l"},
                "enrollments": [{"school": SCHOOL_ID, "start_date": "2024-08-20"}],
                "legacy_id": STUDENT_ID,
                "created": "2024-08-01T12:00:00.000Z",
                "last_modified": "2024-08-01T12:00:00.000Z",
                "ext": {"anything": {"goes": [1, 2]}},
            }
        },
    }


def _contact() -> dict[str, Any]:
    return {
        "id": CONTACT_ID,
        "district": DISTRICT_ID,
        "email": "jane@example.com",
        "name": {"last": "Jane Doe"},
        "created": "2024-08-01T12:00:00.000Z",
        "last_modified": "2024-08-01T12:00:00.000Z",
        "roles": {
            "contact": {
                "sis_id": None,
                "phone": None,
                "phone_type": None,
                "legacy_id": CONTACT_ID,
                "student_relationships": [
                    {"student": STUDENT_ID, "relationship": "Parent", "type": "Parent/Guardian"},
                    {"student": STUDENT_ID, "relationship": None, "type": None},
                ],
            }
        },
    }


def _users_page(*users: dict[str, Any], version: str = "v3.0") -> dict[str, Any]:
    return {
        "data": [{"data": user, "uri": f"/{version}/users/{user['id']}"} for user in users],
        "links": [{"rel": "self", "uri": f"/{version}/users"}],
    }


def _errors(body: Any, version: str = "v3.0", path: str = "/users", status: int = 200):
    return load_spec(version).validate(f"/{version}{path}", status, body)


def _event(event_type: str) -> dict[str, Any]:
    return {
        "id": "5d0c1e2f3a4b5c6d7e8f9a99",
        "type": event_type,
        "created": "2024-09-01T08:00:00.000Z",
        "data": {"object": _contact()},
        "previous_attributes": {
            "email": "old@example.com",
            "roles": {"contact": {"phone": "555-0100"}},
        },
    }


def _events_page(*events: dict[str, Any]) -> dict[str, Any]:
    items = [{"data": event, "uri": f"/v3.0/events/{event['id']}"} for event in events]
    return {"data": items, "links": [{"rel": "self", "uri": "/v3.0/events"}]}


@pytest.mark.parametrize("version", ["v3.0", "v3.1"])
def test_a_users_page_with_a_student_and_a_contact_is_valid(version):
    assert _errors(_users_page(_student(), _contact(), version=version), version) == []


def test_a_null_on_a_field_that_is_not_nullable_fails():
    student = _student()
    student["id"] = None
    errors = _errors(_users_page(student))
    assert errors == ["$.data[0].data.id: None is not of type 'string'"]


def test_a_field_the_spec_does_not_list_fails_inside_a_role():
    student = _student()
    student["roles"]["student"]["nickname"] = "Ada"
    errors = _errors(_users_page(student))
    assert len(errors) == 1
    assert errors[0].startswith("$.data[0].data.roles.student:")
    assert "'nickname' was unexpected" in errors[0]


def test_a_value_outside_an_enum_fails():
    contact = _contact()
    contact["roles"]["contact"]["phone_type"] = "Mobile"
    errors = _errors(_users_page(contact))
    assert len(errors) == 1
    assert errors[0].startswith("$.data[0].data.roles.contact.phone_type: 'Mobile' is not one of")


@pytest.mark.parametrize("grade", ["Kindergarten", "12", "", None])
def test_grades_from_the_enum_pass(grade):
    student = _student()
    student["roles"]["student"]["grade"] = grade
    assert _errors(_users_page(student)) == []


def test_a_grade_outside_the_enum_fails():
    student = _student()
    student["roles"]["student"]["grade"] = "K"
    assert len(_errors(_users_page(student))) == 1


def test_a_v3_1_field_passes_under_v3_1_only():
    student = _student()
    student["roles"]["student"]["frl_status"] = "Free"
    assert _errors(_users_page(student, version="v3.1"), "v3.1") == []
    errors = _errors(_users_page(student))
    assert len(errors) == 1
    assert "'frl_status' was unexpected" in errors[0]


def test_list_items_may_carry_a_uri_but_nothing_else():
    page = _users_page(_student())
    assert _errors(page) == []
    page["data"][0]["href"] = "/v3.0/users/x"
    errors = _errors(page)
    assert len(errors) == 1
    assert errors[0].startswith("$.data[0]:")
    assert "'href' was unexpected" in errors[0]


def test_a_single_record_answer_may_carry_links_but_no_uri():
    body = {"data": _student(), "links": [{"rel": "self", "uri": f"/v3.0/users/{STUDENT_ID}"}]}
    assert _errors(body, path=f"/users/{STUDENT_ID}") == []
    body["uri"] = f"/v3.0/users/{STUDENT_ID}"
    assert len(_errors(body, path=f"/users/{STUDENT_ID}")) == 1


def test_an_updated_event_with_previous_attributes_is_valid():
    page = _events_page(_event("users.created"), _event("users.updated"))
    del page["data"][0]["data"]["previous_attributes"]
    assert _errors(page, path="/events") == []


def test_an_event_is_checked_against_the_type_it_names():
    created = _event("users.created")  # only `*.updated` events carry previous_attributes
    errors = _errors(_events_page(created), path="/events")
    assert len(errors) == 1
    assert "'previous_attributes' was unexpected" in errors[0]
    wrong_object = _event("sections.updated")  # a user is not a section
    assert _errors(_events_page(wrong_object), path="/events") != []


def test_an_event_of_an_unknown_type_fails():
    errors = _errors(_events_page(_event("contacts.updated")), path="/events")
    assert len(errors) == 1
    assert errors[0].startswith("$.data[0].data.type: 'contacts.updated' is not one of")


def test_match_resolves_templates_and_their_query_parameters():
    spec = load_spec("v3.1")
    operation = spec.match("/v3.1/schools/abc/users")
    assert operation is not None
    assert operation.template == "/schools/{id}/users"
    assert operation.query_params["role"]["enum"] == ["staff", "student", "teacher"]
    assert spec.match("/schools/abc/users") is operation
    assert spec.match("/v3.1/events").query_params["record_type"]["collectionFormat"] == "multi"
    assert spec.match("/v3.1/schools/abc/pupils") is None
    assert spec.match("/v3.1/schools/a/b/users") is None


def test_an_unknown_path_is_one_error():
    errors = _errors({"data": []}, path="/pupils")
    assert len(errors) == 1
    assert "no GET operation" in errors[0]


@pytest.mark.parametrize("version", ["v3.0", "v3.1"])
def test_every_operation_of_both_apis_is_listed(version):
    operations = load_spec(version).list_operations()
    data = [op for op in operations if op.api == "data"]
    events = [op for op in operations if op.api == "events"]
    assert len(data) == 42
    assert sorted(op.template for op in events) == ["/events", "/events/{id}"]
    assert all(op.response_schema(200) is not None for op in operations)


@pytest.mark.parametrize("status", [404, 413, 429, 500])
def test_error_answers_are_a_message(status):
    path = f"/users/{STUDENT_ID}"
    assert _errors({"message": "x"}, path=path, status=status) == []
    assert _errors({"error": "x"}, path=path, status=status) != []
    assert _errors({"message": 404}, path=path, status=status) != []


def test_an_undeclared_success_status_is_an_error():
    assert _errors(_users_page(), status=201) == ["/users: the spec declares no 201 response"]


def test_response_schemas_are_not_changed_by_validation():
    operation = load_spec("v3.0").match("/v3.0/users")
    before = copy.deepcopy(operation.response_schema(200))
    _errors(_users_page(_student(), _contact()))
    assert operation.response_schema(200) == before
    assert operation.response_schema(418) is None
