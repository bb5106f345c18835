"""Clever's Data API and Events API (v3.0 and v3.1), served from a sandbox store.

A plain WSGI application, so it runs under any WSGI server (`serve()` uses waitress) and in-process
under `httpx.WSGITransport` in tests. Which paths and query parameters exist comes from Clever's
official specs (`homeroom.sandbox.spec`), so the sandbox cannot drift from them; the answers are
Clever's: the list envelope with a `uri` per item, `links` for self/next/prev, ascending ids,
`limit` up to 10,000 (413 above), 401/404/400 with a `{"message"}` body, the rate limit with
`X-RateLimit-*` headers.

Choices where Clever's public material is silent (NOTES.md marks them uncertain): the default page
size is 100; `count` is accepted and ignored; a `next` link is given only when another row exists;
a malformed id in the path is a 404 like an unknown one; a malformed paging id is a 400; an events
`starting_after` that is not a stored event of the last 30 days is a 404 (so a client knows to fall
back to a full sync); `GET /events?ending_before=<max id>&limit=1` returns the newest event.
"""

from __future__ import annotations

import base64
import hmac
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson

from homeroom.sandbox.faults import FaultError, Faults
from homeroom.sandbox.ids import is_object_id
from homeroom.sandbox.spec import load_spec
from homeroom.sandbox.store import Store

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
EVENT_RETENTION_SECONDS = 30 * 24 * 3600
VERSIONS = ("v3.0", "v3.1")
RECORD_TYPES = ("districts", "schools", "users", "sections", "terms", "courses", "resources")

MSG_UNAUTHORIZED = "Unauthorized: send a valid district token as 'Authorization: Bearer <token>'"
MSG_NOT_FOUND = "Resource not found"
MSG_NO_ROUTE = "Not found: no such endpoint"
MSG_LIMIT_TOO_LARGE = f"limit must be at most {MAX_LIMIT}"
MSG_EVENT_GONE = "Event not found: it is unknown or older than the 30-day event window"

# Relation endpoints: template -> (collection served, SQL giving the ids, filters by query param).
# `:p` is the id from the path. Every row served is re-read from the collection, so a relation can
# only ever list records that exist.
Filters = dict[str, str]
RELATIONS: dict[str, tuple[str, str, Filters]] = {
    "/schools/{id}/sections": ("sections", "SELECT id FROM sections WHERE school = :p", {}),
    "/schools/{id}/terms": (
        "terms",
        "SELECT DISTINCT term AS id FROM sections WHERE school = :p",
        {},
    ),
    "/schools/{id}/courses": (
        "courses",
        "SELECT DISTINCT course AS id FROM sections WHERE school = :p",
        {},
    ),
    "/schools/{id}/users": (
        "users",
        "SELECT DISTINCT user AS id FROM user_school WHERE school = :p {role} {primary}",
        {"role": "AND role = :role", "primary": "AND is_primary = 1"},
    ),
    "/sections/{id}/users": (
        "users",
        "SELECT user AS id FROM section_user WHERE section = :p {role}",
        {"role": "AND role = :role"},
    ),
    "/sections/{id}/resources": (
        "resources",
        "SELECT rc.resource AS id FROM sections s JOIN resource_course rc ON rc.course = s.course"
        " WHERE s.id = :p",
        {},
    ),
    "/terms/{id}/schools": (
        "schools",
        "SELECT DISTINCT school AS id FROM sections WHERE term = :p",
        {},
    ),
    "/terms/{id}/sections": ("sections", "SELECT id FROM sections WHERE term = :p", {}),
    "/courses/{id}/schools": (
        "schools",
        "SELECT DISTINCT school AS id FROM sections WHERE course = :p",
        {},
    ),
    "/courses/{id}/sections": ("sections", "SELECT id FROM sections WHERE course = :p", {}),
    "/courses/{id}/resources": (
        "resources",
        "SELECT resource AS id FROM resource_course WHERE course = :p",
        {},
    ),
    "/resources/{id}/courses": (
        "courses",
        "SELECT course AS id FROM resource_course WHERE resource = :p",
        {},
    ),
    "/resources/{id}/sections": (
        "sections",
        "SELECT s.id FROM resource_course rc JOIN sections s ON s.course = rc.course"
        " WHERE rc.resource = :p",
        {},
    ),
    "/resources/{id}/users": (
        "users",
        "SELECT DISTINCT su.user AS id FROM resource_course rc"
        " JOIN sections s ON s.course = rc.course JOIN section_user su ON su.section = s.id"
        " WHERE rc.resource = :p AND instr(:resource_roles, ',' || su.role || ',') > 0 {role}",
        {"role": "AND su.role = :role"},
    ),
    "/users/{id}/schools": (
        "schools",
        "SELECT DISTINCT school AS id FROM user_school WHERE user = :p {primary}",
        {"primary": "AND is_primary = 1"},
    ),
    "/users/{id}/sections": (
        "sections",
        "SELECT section AS id FROM section_user WHERE user = :p",
        {},
    ),
    "/users/{id}/mycontacts": (
        "users",
        "SELECT contact AS id FROM contact_student WHERE student = :p",
        {},
    ),
    "/users/{id}/mystudents": (
        "users",
        "SELECT student AS id FROM contact_student WHERE contact = :p UNION"
        " SELECT s.user FROM section_user t JOIN section_user s ON s.section = t.section"
        " WHERE t.user = :p AND t.role = 'teacher' AND s.role = 'student'",
        {},
    ),
    "/users/{id}/myteachers": (
        "users",
        "SELECT DISTINCT t.user AS id FROM section_user s JOIN section_user t"
        " ON t.section = s.section WHERE s.user = :p AND s.role = 'student' AND t.role = 'teacher'",
        {},
    ),
    "/users/{id}/resources": (
        "resources",
        "SELECT DISTINCT rc.resource AS id FROM section_user su"
        " JOIN sections s ON s.id = su.section JOIN resource_course rc ON rc.course = s.course"
        " WHERE su.user = :p",
        {},
    ),
}
# Single-object relations: template -> (collection served, SQL giving the one id).
SINGLE_RELATIONS: dict[str, tuple[str, str]] = {
    "/sections/{id}/course": ("courses", "SELECT course FROM sections WHERE id = :p"),
    "/sections/{id}/school": ("schools", "SELECT school FROM sections WHERE id = :p"),
    "/sections/{id}/term": ("terms", "SELECT term FROM sections WHERE id = :p"),
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


@dataclass
class Credentials:
    """What the sandbox accepts: one district token, and the app's client id and secret."""

    token: str
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"


Mutator = Callable[[Store, dict[str, Any]], dict[str, Any]]


class SandboxApp:
    """The WSGI application."""

    def __init__(
        self,
        store: Store,
        credentials: Credentials,
        faults: Faults | None = None,
        mutator: Mutator | None = None,
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.faults = faults or Faults()
        self.mutator = mutator
        self.specs = {version: load_spec(version) for version in VERSIONS}
        self.district_id = store.meta("district") or ""
        self._resource_roles: dict[str, str] | None = None
        self._lock = threading.Lock()

    # -- WSGI --------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        truncate = False
        try:
            status, body, headers, truncate = self._dispatch(environ, path, query)
        except ApiError as exc:
            status, body, headers = exc.status, orjson.dumps({"message": exc.message}), exc.headers
        head = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers]
        start_response(f"{status} {_REASONS.get(status, 'Error')}", head)
        if truncate:
            # The Content-Length promises the whole body; sending half and closing the connection
            # is what a dropped connection looks like to the client.
            return [body[: len(body) // 2]]
        return [body]

    def _dispatch(
        self, environ: dict[str, Any], path: str, query: dict[str, list[str]]
    ) -> tuple[int, bytes, list[tuple[str, str]], bool]:
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/oauth/tokens":
            self._check_basic(environ)
            return 200, self._tokens(query), [], False
        if path.startswith("/sandbox/"):
            self._check_basic(environ)
            return 200, self._control(method, path, environ), [], False
        version = path.split("/")[1] if path.count("/") >= 2 else ""
        if version not in VERSIONS:
            raise ApiError(404, MSG_NO_ROUTE)
        token = self._check_bearer(environ)
        if method != "GET":
            raise ApiError(405, "Only GET is supported by the Clever API")
        rest = path[len(version) + 1 :]
        if rest == "/me":
            verdict = self.faults.judge(token, is_list=False)
            self._apply_verdict(verdict)
            return 200, self._me(version), verdict.headers, False
        operation = self.specs[version].match(path)
        if operation is None:
            raise ApiError(404, MSG_NO_ROUTE)
        params = _check_params(operation.query_params, query)
        is_list = operation.template.count("/") == 1 or operation.template in RELATIONS
        verdict = self.faults.judge(token, is_list=is_list or operation.template == "/events")
        self._apply_verdict(verdict)
        body = self._answer(version, operation.template, rest, params)
        return 200, body, verdict.headers, verdict.truncate

    @staticmethod
    def _apply_verdict(verdict: Any) -> None:
        if verdict.delay:
            time.sleep(verdict.delay)
        if verdict.status != 200:
            raise ApiError(verdict.status, verdict.message, verdict.headers)

    # -- auth --------------------------------------------------------------------------------
    def _check_bearer(self, environ: dict[str, Any]) -> str:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.credentials.token.encode()
        ):
            raise ApiError(401, MSG_UNAUTHORIZED)
        return token.strip()

    def _check_basic(self, environ: dict[str, Any]) -> None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        expected = f"{self.credentials.client_id}:{self.credentials.client_secret}"
        if scheme.lower() != "basic" or not hmac.compare_digest(
            f"{user}:{password}".encode(), expected.encode()
        ):
            raise ApiError(401, "Unauthorized: send the app's client id and secret (HTTP Basic)")

    # -- Data API ----------------------------------------------------------------------------
    def _answer(self, version: str, template: str, path: str, params: dict[str, Any]) -> bytes:
        v30 = version == "v3.0"
        parts = path.strip("/").split("/")
        collection = parts[0]
        if template == "/events":
            return self._events(version, params)
        if template == "/events/{id}":
            return self._event(version, parts[1])
        if template == "/districts":
            body = self.store.get_body("districts", self.district_id, v30=v30)
            links = [{"rel": "self", "uri": f"/{version}/districts"}]
            return _envelope(version, "districts", [(self.district_id, body)], links)
        if len(parts) == 1:
            return self._list(version, collection, None, params, self_path=path)
        record_id = parts[1]
        if not self._exists(collection, record_id):
            raise ApiError(404, MSG_NOT_FOUND)
        if len(parts) == 2:
            return self._single(version, collection, record_id, path)
        if parts[2] == "district":
            return self._single(version, "districts", self.district_id, path)
        if template in SINGLE_RELATIONS:
            target, sql = SINGLE_RELATIONS[template]
            row = self.store.db.execute(sql, {"p": record_id}).fetchone()
            if not row or row[0] is None:
                raise ApiError(404, MSG_NOT_FOUND)
            return self._single(version, target, row[0], path)
        target, sql, filters = RELATIONS[template]
        clauses = {name: (clause if params.get(name) else "") for name, clause in filters.items()}
        args = {"p": record_id, "role": params.get("role")}
        if template == "/resources/{id}/users":
            args["resource_roles"] = self._roles_of_resource(record_id)
        return self._list(version, target, (sql.format(**clauses), args), params, self_path=path)

    def _exists(self, collection: str, record_id: str) -> bool:
        if not is_object_id(record_id):
            return False
        sql = f"SELECT 1 FROM {collection} WHERE id = ?"
        return self.store.db.execute(sql, (record_id,)).fetchone() is not None

    def _single(self, version: str, collection: str, record_id: str, path: str) -> bytes:
        body = self.store.get_body(collection, record_id, v30=version == "v3.0")
        if body is None:
            raise ApiError(404, MSG_NOT_FOUND)
        links = orjson.dumps([{"rel": "self", "uri": f"/{version}/{path.strip('/')}"}])
        return b'{"data":' + body + b',"links":' + links + b"}"

    def _list(
        self,
        version: str,
        collection: str,
        relation: tuple[str, dict[str, Any]] | None,
        params: dict[str, Any],
        *,
        self_path: str,
    ) -> bytes:
        column = "COALESCE(t.body30, t.body)" if version == "v3.0" else "t.body"
        if relation is None and collection == "users" and params.get("role"):
            relation = (
                "SELECT user AS id FROM user_role WHERE role = :role",
                {"role": params["role"]},
            )
        if relation is None:
            source, args = f"{collection} t", {}
            key = "t.id"
        else:
            sql, args = relation
            source = f"({sql}) x JOIN {collection} t ON t.id = x.id"
            key = "x.id"
        rows, has_before, has_after = _page(
            self.store, source, key, column, dict(args), params, collection
        )
        links = _links(version, self_path, params, rows, has_before, has_after)
        return _envelope(version, collection, rows, links)

    def _roles_of_resource(self, resource_id: str) -> str:
        if self._resource_roles is None:
            with self._lock:
                self._resource_roles = {
                    r["id"]: "," + ",".join(r["roles"]) + ","
                    for r in self.store.iter_records("resources")
                }
        return self._resource_roles.get(resource_id, ",,")

    def _me(self, version: str) -> bytes:
        data = {"id": self.district_id, "district": self.district_id, "type": "district"}
        links = [{"rel": "self", "uri": f"/{version}/me"}]
        return orjson.dumps({"data": data, "links": links})

    # -- Events API --------------------------------------------------------------------------
    def _events(self, version: str, params: dict[str, Any]) -> bytes:
        oldest = time.time() - EVENT_RETENTION_SECONDS
        after = params.get("starting_after")
        if after is not None:
            row = self.store.db.execute(
                "SELECT created FROM events WHERE id = ?", (after,)
            ).fetchone()
            if row is None or row[0] < oldest:
                raise ApiError(404, MSG_EVENT_GONE)
        where = ["t.created >= :oldest"]
        args: dict[str, Any] = {"oldest": oldest}
        if params.get("record_type"):
            marks = ", ".join(f":rt{i}" for i in range(len(params["record_type"])))
            where.append(f"t.record_type IN ({marks})")
            args.update({f"rt{i}": rt for i, rt in enumerate(params["record_type"])})
        if params.get("school"):
            where.append("t.school = :school")
            args["school"] = params["school"]
        column = "COALESCE(t.body30, t.body)" if version == "v3.0" else "t.body"
        source = "events t WHERE " + " AND ".join(where)
        rows, has_before, has_after = _page(
            self.store, source, "t.id", column, args, params, "events", filtered=True
        )
        links = _links(version, "/events", params, rows, has_before, has_after)
        return _envelope(version, "events", rows, links)

    def _event(self, version: str, event_id: str) -> bytes:
        column = "COALESCE(body30, body)" if version == "v3.0" else "body"
        row = self.store.db.execute(
            f"SELECT {column}, created FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        if row is None or row[1] < time.time() - EVENT_RETENTION_SECONDS:
            raise ApiError(404, MSG_NOT_FOUND)
        links = orjson.dumps([{"rel": "self", "uri": f"/{version}/events/{event_id}"}])
        return b'{"data":' + row[0] + b',"links":' + links + b"}"

    # -- OAuth and control -------------------------------------------------------------------
    def _tokens(self, query: dict[str, list[str]]) -> bytes:
        owner_type = query.get("owner_type", ["district"])[0]
        district = query.get("district", [self.district_id])[0]
        tokens = []
        if owner_type == "district" and district == self.district_id:
            tokens.append(
                {
                    "id": self.district_id[:16] + "00000001",
                    "created": "2026-07-20T14:00:00.000Z",
                    "owner": {"type": "district", "id": self.district_id},
                    "access_token": self.credentials.token,
                    "scopes": ["read:district_rosters", "read:events"],
                }
            )
        links = [{"rel": "self", "uri": f"/oauth/tokens?{urlencode({'owner_type': owner_type})}"}]
        return orjson.dumps({"data": tokens, "links": links})

    def _control(self, method: str, path: str, environ: dict[str, Any]) -> bytes:
        payload = _read_json(environ) if method == "POST" else {}
        try:
            if path == "/sandbox/faults" and method == "GET":
                return orjson.dumps(self.faults.snapshot())
            if path == "/sandbox/faults" and method == "POST":
                return orjson.dumps(self.faults.update(payload))
            if path == "/sandbox/faults/reset" and method == "POST":
                return orjson.dumps(self.faults.reset())
        except FaultError as exc:
            raise ApiError(400, str(exc)) from exc
        if path == "/sandbox/stats" and method == "GET":
            return orjson.dumps(self.store.stats())
        if path == "/sandbox/mutate" and method == "POST" and self.mutator is not None:
            result = self.mutator(self.store, payload)
            self._resource_roles = None
            return orjson.dumps(result)
        raise ApiError(404, MSG_NO_ROUTE)


# -- helpers -----------------------------------------------------------------------------------
def _check_params(allowed: dict[str, dict[str, Any]], query: dict[str, list[str]]) -> dict:
    """Validate query parameters against the operation's spec; return them decoded."""
    params: dict[str, Any] = {}
    for name, values in query.items():
        spec = allowed.get(name)
        if spec is None:
            raise ApiError(400, f"Unknown query parameter: {name}")
        if spec.get("type") == "array":
            params[name] = values
            continue
        if len(values) > 1:
            raise ApiError(400, f"Query parameter {name} may be given only once")
        value = values[0]
        if spec.get("enum") is not None and value not in spec["enum"]:
            choices = ", ".join(repr(v) for v in spec["enum"])
            raise ApiError(400, f"Invalid value for {name}: must be one of {choices}")
        params[name] = value
    if "limit" in params:
        try:
            limit = int(params["limit"])
        except ValueError:
            raise ApiError(400, "limit must be a whole number") from None
        if limit < 1:
            raise ApiError(400, "limit must be at least 1")
        if limit > MAX_LIMIT:
            raise ApiError(413, MSG_LIMIT_TOO_LARGE)
        params["limit"] = limit
    for name in ("starting_after", "ending_before", "school"):
        if name in params and not is_object_id(params[name]):
            raise ApiError(400, f"{name} must be a 24-character hexadecimal id")
    if "starting_after" in params and "ending_before" in params:
        raise ApiError(400, "Use either starting_after or ending_before, not both")
    for record_type in params.get("record_type", []):
        if record_type not in RECORD_TYPES:
            raise ApiError(400, f"Invalid record_type: {record_type}")
    return params


def _page(
    store: Store,
    source: str,
    key: str,
    column: str,
    args: dict[str, Any],
    params: dict[str, Any],
    collection: str,
    *,
    filtered: bool = False,
) -> tuple[list[tuple[str, bytes]], bool, bool]:
    """One page of rows ascending by id, and whether rows exist before and after it."""
    limit = params.get("limit", DEFAULT_LIMIT)
    joiner = " AND " if filtered else " WHERE "
    args["limit"] = limit + 1
    if "ending_before" in params:
        args["cursor"] = params["ending_before"]
        sql = f"SELECT t.id, {column} FROM {source}{joiner}{key} < :cursor"
        rows = store.db.execute(f"{sql} ORDER BY {key} DESC LIMIT :limit", args).fetchall()
        has_before = len(rows) > limit
        rows = rows[:limit][::-1]
        return rows, has_before, True
    cursor = params.get("starting_after")
    if cursor is not None:
        args["cursor"] = cursor
        sql = f"SELECT t.id, {column} FROM {source}{joiner}{key} > :cursor"
    else:
        sql = f"SELECT t.id, {column} FROM {source}"
    rows = store.db.execute(f"{sql} ORDER BY {key} LIMIT :limit", args).fetchall()
    has_after = len(rows) > limit
    return rows[:limit], cursor is not None, has_after


def _links(
    version: str,
    path: str,
    params: dict[str, Any],
    rows: list[tuple[str, bytes]],
    has_before: bool,
    has_after: bool,
) -> list[dict[str, str]]:
    base = {k: v for k, v in params.items() if k not in ("starting_after", "ending_before")}
    uri = f"/{version}/{path.strip('/')}"

    def link(rel: str, extra: dict[str, Any]) -> dict[str, str]:
        query = urlencode({**base, **extra}, doseq=True)
        return {"rel": rel, "uri": f"{uri}?{query}" if query else uri}

    cursor = {k: params[k] for k in ("starting_after", "ending_before") if k in params}
    links = [link("self", cursor)]
    if rows and has_after:
        links.append(link("next", {"starting_after": rows[-1][0]}))
    if rows and has_before:
        links.append(link("prev", {"ending_before": rows[0][0]}))
    return links


def _envelope(
    version: str, collection: str, rows: list[tuple[str, bytes]], links: list[dict[str, str]]
) -> bytes:
    """`{"data":[{"data":…,"uri":…},…],"links":[…]}` from stored JSON, joined once.

    One join over all the pieces, rather than a bytes object per item, halves the time a page of
    10,000 users takes to build (measured: 45 ms to about 20 ms).
    """
    uri = f',"uri":"/{version}/{collection}/'.encode()
    parts: list[bytes] = [b'{"data":[']
    for record_id, body in rows:
        parts += (b'{"data":', body, uri, record_id.encode(), b'"},')
    if rows:
        parts[-1] = parts[-1][:-1]  # no comma after the last item
    parts += (b'],"links":', orjson.dumps(links), b"}")
    return b"".join(parts)


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b"{}"
        payload = orjson.loads(raw or b"{}")
    except (ValueError, orjson.JSONDecodeError):
        raise ApiError(400, "Body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "Body must be a JSON object")
    return payload


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
