"""Clever's official Swagger specs as routes and strict JSON Schema validators.

The sandbox stands in for Clever wherever Homeroom is built or tested, so it must be *exactly*
Clever: a field Clever does not send, a value outside one of Clever's enums or a null where Clever
never sends one would teach the sync code habits that break against the real API. This module
turns the vendored specs (`specs/clever-v3.x.yml` + `clever-v3.x-events.yml`, never edited) into
the sandbox's routing table and into validators its responses are checked against.

Swagger 2.0 is not JSON Schema, so the definitions are converted (and inlined; they are acyclic):
- `x-nullable: true` admits null (the field may also be absent: the specs require nothing);
- objects with `properties` are strict (`additionalProperties: false`); a bare `type: object`
  (such as `ext`) stays open;
- `x-*` vendor keys, `format` (Clever's `datetime` is non-standard) and `discriminator` are dropped;
- a map declared as `additionalProperties: {type: object}` (only `previous_attributes`) accepts
  any value: that is how Swagger code generators read it, and Clever reports old strings, lists
  and objects there;
- event types (`users.updated`, ...: allOf `Event` + subtype) are flattened into one strict object
  each, and an `Event` is checked against the type its `type` discriminator names.

Two documented differences between Clever and its specs are allowed, and nothing else: every
list item carries a `uri` beside `data`, and a single-record answer carries `links` beside `data`.
Error answers (4xx/5xx) are `{"message": "..."}`: the specs' `BadRequest`, `NotFound` and
`InternalError`, with `message` required.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonschema import Draft7Validator

Schema = dict[str, Any]
Api = Literal["data", "events"]

SPEC_DIR = Path(__file__).parent / "specs"
VERSIONS = ("v3.0", "v3.1")
ERROR_SCHEMA: Schema = {
    "type": "object",
    "properties": {"message": {"type": "string"}},
    "required": ["message"],
    "additionalProperties": False,
}
ERROR_DEFINITIONS = frozenset({"BadRequest", "NotFound", "InternalError", "Unauthorized"})
LINKS_REF = {"type": "array", "items": {"$ref": "#/definitions/Link"}}


@dataclass(frozen=True)
class Operation:
    """One GET endpoint of the spec, e.g. `/users/{id}/mycontacts`."""

    template: str
    api: Api
    query_params: dict[str, dict[str, Any]]
    path_params: tuple[str, ...]
    undeclared_path_params: tuple[str, ...]
    validators: dict[int, Draft7Validator] = field(repr=False)

    @property
    def segments(self) -> list[str]:
        return self.template.strip("/").split("/")

    def response_schema(self, status: int) -> Schema | None:
        """The JSON Schema of the answer with this status, if the spec declares one (read-only:
        its parts are shared with other operations)."""
        validator = self.validators.get(status)
        return None if validator is None else validator.schema


@dataclass(frozen=True)
class ApiSpec:
    version: str
    base_path: str
    operations: tuple[Operation, ...]

    def list_operations(self) -> list[Operation]:
        return list(self.operations)

    def match(self, path: str) -> Operation | None:
        """The operation whose template matches `path` (with or without the basePath)."""
        if path == self.base_path or path.startswith(self.base_path + "/"):
            path = path[len(self.base_path) :]
        parts = path.removeprefix("/").split("/")  # a trailing slash matches nothing
        candidates = [op for op in self.operations if len(op.segments) == len(parts)]
        for op in sorted(candidates, key=lambda op: len(op.path_params)):  # literals first
            if all(_segment_matches(t, p) for t, p in zip(op.segments, parts, strict=True)):
                return op
        return None

    def validate(self, path: str, status: int, body: Any) -> list[str]:
        """Every way `body` (decoded JSON) breaks the spec for this path and status."""
        operation = self.match(path)
        if operation is None:
            return [f"{path}: no GET operation of the Clever {self.version} spec matches this path"]
        if operation.undeclared_path_params:
            names = ", ".join(operation.undeclared_path_params)
            return [f"{operation.template}: path parameters not declared by the spec: {names}"]
        validator = operation.validators.get(status)
        if validator is None and status >= 400:
            validator = _ERROR_VALIDATOR
        if validator is None:
            return [f"{operation.template}: the spec declares no {status} response"]
        errors = sorted(validator.iter_errors(body), key=lambda error: error.json_path)
        return [f"{error.json_path}: {error.message}" for error in errors]


_ERROR_VALIDATOR = Draft7Validator(ERROR_SCHEMA)


def _segment_matches(template_segment: str, segment: str) -> bool:
    if template_segment.startswith("{") and template_segment.endswith("}"):
        return bool(segment)
    return template_segment == segment


@functools.cache
def load_spec(version: str) -> ApiSpec:
    """The merged Data + Events spec of Clever API `version` ("v3.0" or "v3.1")."""
    if version not in VERSIONS:
        raise ValueError(f"unknown Clever API version {version!r}; expected one of {VERSIONS}")
    docs = {
        "data": _read(SPEC_DIR / f"clever-{version}.yml"),
        "events": _read(SPEC_DIR / f"clever-{version}-events.yml"),
    }
    definitions: Schema = {}
    for doc in docs.values():
        for name, definition in doc["definitions"].items():
            if definitions.setdefault(name, definition) != definition:
                raise ValueError(f"the {version} specs disagree on definition {name}")
    converter = _Converter(definitions)
    operations = []
    for api, doc in docs.items():
        if doc["basePath"] != f"/{version}":
            raise ValueError(f"unexpected basePath {doc['basePath']} in the {version} specs")
        for template, methods in doc["paths"].items():
            if "get" in methods:
                operations.append(_operation(template, api, methods["get"], doc, converter))
    return ApiSpec(version=version, base_path=f"/{version}", operations=tuple(operations))


def _read(path: Path) -> Schema:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _operation(template: str, api: Api, get: Schema, doc: Schema, conv: _Converter) -> Operation:
    parameters = get.get("parameters", [])
    query = {
        p["name"]: {key: p.get(key) for key in ("type", "enum", "collectionFormat")}
        for p in parameters
        if p["in"] == "query"
    }
    declared = {p["name"] for p in parameters if p["in"] == "path"}
    in_template = tuple(s[1:-1] for s in template.split("/") if s.startswith("{"))
    validators = {}
    for status, response in get.get("responses", {}).items():
        if "$ref" in response:  # '#/responses/NotFound'
            response = doc["responses"][response["$ref"].rsplit("/", 1)[-1]]
        if "schema" in response:
            schema = conv.top_level(response["schema"])
            validators[int(status)] = Draft7Validator({**schema, "definitions": conv.converted})
    return Operation(
        template=template,
        api=api,
        query_params=query,
        path_params=in_template,
        undeclared_path_params=tuple(n for n in in_template if n not in declared),
        validators=validators,
    )


class _Converter:
    """Swagger 2.0 definitions → strict, self-contained JSON Schema (draft 7)."""

    def __init__(self, definitions: Schema) -> None:
        self.raw = definitions
        self.event_types = sorted(
            name
            for name, d in definitions.items()
            if any(part.get("$ref") == "#/definitions/Event" for part in d.get("allOf", []))
        )
        # Only `Link` is referenced by `$ref` (single answers' extra `links`); all else is inlined.
        self.converted: Schema = {"Link": self.definition("Link")}

    @functools.cache  # noqa: B019 - one converter per spec version, cached for the process
    def definition(self, name: str) -> Schema:
        raw = self.raw[name]
        if name in self.event_types:
            raw = self._flatten(raw)
            raw["properties"]["type"] = {"type": "string", "enum": [name]}
        schema = self.convert(raw)
        if name == "Event":  # dispatch on the discriminator
            schema["properties"]["type"]["enum"] = self.event_types
            schema["allOf"] = [
                {"if": {"properties": {"type": {"const": t}}}, "then": self.definition(t)}
                for t in self.event_types
            ]
            schema.pop("additionalProperties")
        if name in ERROR_DEFINITIONS:
            schema["required"] = ["message"]
        if name.endswith("sResponse") and "data" in schema["properties"]:
            data = schema["properties"]["data"]  # list items carry a `uri`
            item = data["items"]
            item = {**item, "properties": {**item["properties"], "uri": {"type": "string"}}}
            schema["properties"]["data"] = {**data, "items": item}
        return schema

    def top_level(self, raw: Schema) -> Schema:
        """The schema of a whole answer: a single-record envelope may also carry `links`."""
        schema = self.convert(raw)
        properties = schema.get("properties", {})
        if "data" in properties and "links" not in properties:
            schema = {**schema, "properties": {**properties, "links": LINKS_REF}}
        return schema

    def _flatten(self, raw: Schema) -> Schema:
        merged: Schema = {"type": "object", "properties": {}}
        for part in raw["allOf"]:
            part = self.raw[part["$ref"].rsplit("/", 1)[-1]] if "$ref" in part else part
            merged["properties"].update(copy.deepcopy(part.get("properties", {})))
            merged["required"] = sorted({*merged.get("required", []), *part.get("required", [])})
        return merged

    def convert(self, raw: Schema) -> Schema:
        if "$ref" in raw:
            schema = dict(self.definition(raw["$ref"].rsplit("/", 1)[-1]))  # shared below
        else:
            schema = {k: raw[k] for k in ("type", "enum", "pattern", "required") if k in raw}
            if "items" in raw:
                schema["items"] = self.convert(raw["items"])
            if "properties" in raw:
                schema["type"] = "object"
                schema["properties"] = {k: self.convert(v) for k, v in raw["properties"].items()}
                schema["additionalProperties"] = False
            if "additionalProperties" in raw:
                values = raw["additionalProperties"]
                schema["type"] = "object"
                schema["additionalProperties"] = {} if values == {"type": "object"} else values
        if raw.get("x-nullable"):
            if isinstance(schema.get("type"), str):
                schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        return schema
