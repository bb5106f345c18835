"""What every roster source offers, and the one error type it raises."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from homeroom.rostering.sources.records import (
    CourseRecord,
    DistrictRecord,
    SchoolRecord,
    SectionRecord,
    TermRecord,
    Unchanged,
    UserRecord,
)

# Called after every page: (collection, records read so far in it).
ProgressCallback = Callable[[str, int], None]


class SourceError(Exception):
    """A source failed in a way a district admin can act on. `code` is stable, for reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Error codes (SyncRun.error_code); the messages beside the code that raises them.
AUTH_FAILED = "auth_failed"  # 401/403: token wrong, revoked, or the app was disconnected
NOT_FOUND = "not_found"  # 404 on a path that must exist (e.g. the district)
UNAVAILABLE = "source_unavailable"  # 5xx, timeouts, dropped connections, after retries
RATE_LIMITED = "rate_limited"  # 429 and still limited after the retries
BAD_RESPONSE = "bad_response"  # the source answered something that is not its format


class RosterSource(Protocol):
    """A district's roster, read in bounded memory: each method streams its records."""

    def district(self) -> DistrictRecord: ...

    def schools(self) -> Iterator[SchoolRecord]: ...

    def terms(self) -> Iterator[TermRecord]: ...

    def courses(self) -> Iterator[CourseRecord]: ...

    def sections(self) -> Iterator[SectionRecord]: ...

    def users(self) -> Iterator[UserRecord]:
        """Every student, staff member (teachers, staff, district admins) and contact, once."""
        ...

    @property
    def wire_version(self) -> str:
        """Changes whenever the same wire bytes could give other records (a format or a code
        change): wire hashes confirmed under another version are not trusted."""
        ...

    def users_with_wire(
        self, known: Callable[[], Mapping[int, tuple[str, str]]]
    ) -> Iterator[list[tuple[int | None, UserRecord | Unchanged]]]:
        """`users()` page by page, each user with a 64-bit hash of its wire bytes (None when
        there is none). A user whose hash is in `known()` (hash -> (entity, external id), as the
        caller names them) is not decoded: it comes as an `Unchanged` marker carrying that
        entity and external id. `known` is called once, as late as the source can (the caller
        may still be reading it)."""
        ...

    def close(self) -> None:
        """Release connections; the source is not used afterwards."""
        ...
