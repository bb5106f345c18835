"""Clever's Events API: the newest event's id, and the events after a saved one, as changes.

An event is `{id, type: "<record type>.<created|updated|deleted>", created, data: {object}}`;
`*.updated` events also carry `previous_attributes`, which Clever's spec puts beside `data` and
its old Ruby client reads inside it: both are accepted (Homeroom needs only the object, which is
the whole record). The feed lists events oldest first and keeps 30 days of them; a saved id that
is older, or unknown, is a 404, after which only a full sync can catch up.

`roster_changes` folds a batch of events into the state they leave each record in, in feed order:
the last event of a record wins, so an update after a create in the same batch, or a delete after
an update, ends as Clever's Data API now serves the record, and replaying a batch changes nothing.

Pages are decoded by msgspec into Structs that keep each event's object as its bytes: only the
object's id is read until the batch is folded, and only the objects that win are decoded, users
and sections straight into the Structs the full sync reads (the fields used, nothing else). A
page that does not fit the Structs is read as plain objects, with the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
import orjson

from homeroom.rostering.sources.base import SourceError
from homeroom.rostering.sources.clever.client import CleverClient, decode_page
from homeroom.rostering.sources.clever.source import (
    _course,
    _dict,
    _school,
    _section,
    _term,
    _user,
    _user_decoder,
    section_members,
)
from homeroom.rostering.sources.records import (
    ContactRecord,
    SectionRecord,
    StaffRecord,
    StudentRecord,
)

log = logging.getLogger(__name__)

# Larger than any 24-hex ObjectId: `ending_before` it, the newest event comes last.
AFTER_ANY_ID = "f" * 24
ACTIONS = ("created", "updated", "deleted")
# Events a page: smaller than Clever's most (10,000), so that the next page is fetched while this
# one is read (`CleverClient.pages`); a page of 10,000 left the sync waiting for it whole.
EVENTS_PAGE = 1000
# Record types Homeroom syncs, with the converter of their objects (the source's own).
CONVERTERS = {
    "users": _user,  # a `_User` Struct or a plain object
    "sections": _section,
    "schools": _school,
    "terms": _term,
    "courses": _course,
}
USER_ENTITIES = {StudentRecord: "students", StaffRecord: "staff", ContactRecord: "contacts"}


class Event(NamedTuple):
    """One event of the feed (a NamedTuple: three times as quick to build as a frozen dataclass)."""

    id: str
    record_type: str  # users, sections, schools, terms, courses, …
    action: str  # created, updated, deleted
    object_id: str
    object: dict[str, Any] | msgspec.Raw  # the object, or its bytes not yet decoded
    previous_attributes: dict[str, Any] | None = None


def event_read(raw: Any) -> Event | None:
    """One event of the feed, or None when it is not one Homeroom can read (logged by id)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    record_type, _, action = str(raw.get("type") or "").partition(".")
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    obj = data.get("object")
    if action not in ACTIONS or not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        log.warning("clever events: skipped event %s of type %r", raw["id"], raw.get("type"))
        return None
    previous = raw.get("previous_attributes", data.get("previous_attributes"))
    return Event(
        id=raw["id"],
        record_type=record_type,
        action=action,
        object_id=obj["id"],
        object=obj,
        previous_attributes=previous if isinstance(previous, dict) else None,
    )


# -- typed decoding of event pages ----------------------------------------------------------------
_ABSENT = msgspec.Raw(b"")  # msgspec.Raw takes no None: an empty one stands for "not given"


class _EventData(msgspec.Struct, gc=False):
    object: msgspec.Raw = _ABSENT
    previous_attributes: msgspec.Raw = _ABSENT


class _EventWire(msgspec.Struct, gc=False):
    id: str
    type: str = ""
    data: _EventData | None = None
    previous_attributes: msgspec.Raw = _ABSENT


class _EventItem(msgspec.Struct, gc=False):
    data: _EventWire


class _EventPage(msgspec.Struct, gc=False):
    data: list[_EventItem]


class _ObjectId(msgspec.Struct, gc=False):
    id: str


class _SectionWire(msgspec.Struct, gc=False):
    """A section's wire fields that `_section` reads."""

    id: str | None = None
    school: str | None = None
    name: str | None = None
    sis_id: str | None = None
    course: str | None = None
    term_id: str | None = None
    grade: str | None = None
    period: str | None = None
    section_number: str | None = None
    subject: str | None = None
    teacher: str | None = None
    teachers: list[str] | None = None
    students: list[str] | None = None


_event_page_decoder = msgspec.json.Decoder(_EventPage)
_object_id_decoder = msgspec.json.Decoder(_ObjectId)
_section_decoder = msgspec.json.Decoder(_SectionWire)


def read_event_page(body: bytes) -> tuple[list[Event | None], str | None]:
    """A page of /events as Events whose objects are still bytes (None for an event Homeroom
    cannot read, logged by id). A page that does not fit the Structs, or an event whose object
    has no id, is read as plain objects instead (`decode_page`, `event_read`). A body that is
    not JSON raises ValueError, which the client retries."""
    try:
        wires = [item.data for item in _event_page_decoder.decode(body).data]
        return [_event_typed(wire) for wire in wires], None  # the client reads `next` itself
    except msgspec.ValidationError:
        items, next_uri = decode_page(body)
        return [event_read(raw) for raw in items], next_uri


def _event_typed(wire: _EventWire) -> Event | None:
    record_type, _, action = wire.type.partition(".")
    data = wire.data
    if action not in ACTIONS or data is None or not data.object:
        raise msgspec.ValidationError("not an event Homeroom reads")  # the plain path logs it
    object_id = _object_id_decoder.decode(data.object).id  # raises for an object without one
    previous = wire.previous_attributes or data.previous_attributes
    previous_attributes = orjson.loads(memoryview(previous)) if previous else None
    return Event(
        id=wire.id,
        record_type=record_type,
        action=action,
        object_id=object_id,
        object=data.object,
        previous_attributes=previous_attributes if isinstance(previous_attributes, dict) else None,
    )


def _object(record_type: str, raw: dict[str, Any] | msgspec.Raw) -> Any:
    """An event's object decoded: a user as the full sync's `_User` Struct, a section's fields as
    a plain object, anything else (or what does not fit the Structs) as plain JSON."""
    if not isinstance(raw, msgspec.Raw):
        return raw
    try:
        if record_type == "users":
            return _user_decoder.decode(raw)
        if record_type == "sections":
            return msgspec.structs.asdict(_section_decoder.decode(raw))
    except msgspec.ValidationError:
        pass
    return orjson.loads(memoryview(raw))


def events_newest(client: CleverClient) -> str:
    """The id of Clever's newest event, "" when the feed is empty."""
    # One page, not `pages()`: an `ending_before` page links `next` back to the newer events.
    doc = client.get("/events", {"ending_before": AFTER_ANY_ID, "limit": 1})
    items = doc.get("data") if isinstance(doc.get("data"), list) else []
    ids = [i["data"].get("id") for i in items if isinstance(i, dict) and _dict(i.get("data"))]
    return ids[-1] if ids and isinstance(ids[-1], str) else ""


def events_newest_or_none(source: Any) -> str | None:
    """`events_newest` for a sync's source; None when the source has no Clever events feed or it
    could not be read (a full sync does not fail for it: the next events sync falls back)."""
    client = getattr(source, "client", None)
    if not isinstance(client, CleverClient):
        return None
    try:
        return events_newest(client)
    except SourceError as exc:
        log.warning("clever events: newest event not read (%s)", exc.code)
        return None


def events_after(client: CleverClient, cursor: str) -> Iterator[Event]:
    """Every event after `cursor` ("" for the whole feed), oldest first, following `next`.
    Raises SourceError (`not_found` when Clever no longer has the cursor's event)."""
    params = {"starting_after": cursor} if cursor else {}
    for page in client.pages("/events", params, limit=EVENTS_PAGE, decode=read_event_page):
        for event in page:
            if event is not None:
                yield event


@dataclass
class RosterChanges:
    """What a batch of events leaves the roster as: per entity, the records now present (by
    external id) and the external ids of records that were deleted or can no longer be used."""

    present: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Every external id the batch touched, per record type ("users" covers the three user
    # entities: a user's role may have changed, so its row is looked for in each).
    touched: dict[str, set[str]] = field(default_factory=dict)
    events: int = 0
    last_event: str | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (record type, reason)
    # Sections as they were before the batch, by external id, where every event of the batch
    # about one said what it changed (`previous_attributes`): an events sync reads what they
    # held from these, not from the database.
    sections_before: dict[str, SectionRecord] = field(default_factory=dict)


def roster_changes(events: Iterator[Event]) -> RosterChanges:
    """Fold events into the final state of each record they touch (see the module's doc)."""
    final: dict[tuple[str, str], Event] = {}
    # A section's attributes before the batch: the first previous value of each that changed;
    # None once an event does not say (a create, a delete, no previous_attributes).
    before: dict[str, dict[str, Any] | None] = {}
    changes = RosterChanges()
    for event in events:
        changes.events += 1
        changes.last_event = event.id
        if event.record_type in CONVERTERS:
            final[(event.record_type, event.object_id)] = event
        if event.record_type == "sections":
            _fold_before(before, event)
    for (record_type, external_id), event in final.items():
        changes.touched.setdefault(record_type, set()).add(external_id)
        if event.action == "deleted":
            continue
        obj = _object(record_type, event.object)
        record = _record(record_type, external_id, obj)
        if isinstance(record, str):  # as a full sync's source skips it: absent from the roster
            changes.skipped.append((record_type, record))
            log.warning("clever events: skipped a %s record: %s", record_type, record)
            continue
        entity = USER_ENTITIES[type(record)] if record_type == "users" else record_type
        changes.present.setdefault(entity, {})[external_id] = record
        if record_type == "sections" and before.get(external_id) is not None:
            earlier = _section_before(record, obj, before[external_id])
            if isinstance(earlier, SectionRecord):
                changes.sections_before[external_id] = earlier
    return changes


# A section's attributes that make its members, read alone when only they changed.
_MEMBERS = {"students", "teacher", "teachers"}


def _section_before(now: SectionRecord, obj: dict[str, Any], changed: dict[str, Any]) -> Any:
    """The section as it was, from its record now and what changed: only its members, most
    often, which are read alone (reading the whole section again was a tenth of an events sync
    of 1,000 changes, measured)."""
    if changed.keys() <= _MEMBERS:
        was = {**{key: obj.get(key) for key in _MEMBERS}, **changed}
        return msgspec.structs.replace(now, **section_members(was))
    return _record("sections", now.external_id, {**obj, **changed})


def _record(record_type: str, external_id: str, obj: dict[str, Any]) -> Any:
    """The record of an event's object, or the reason it cannot be read."""
    try:
        return CONVERTERS[record_type](obj)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        return f"{external_id}: could not be read ({type(exc).__name__})"


def _fold_before(before: dict[str, dict[str, Any] | None], event: Event) -> None:
    external_id = event.object_id
    previous = event.previous_attributes if event.action == "updated" else None
    if previous is None:
        before[external_id] = None
    elif external_id not in before:
        before[external_id] = dict(previous)
    elif (earlier := before[external_id]) is not None:
        for key, value in previous.items():
            earlier.setdefault(key, value)
