"""Clever's rate limit, and the failures a Clever client must survive, as switchable knobs.

Every knob can be set when the sandbox starts (`homeroom sandbox serve --error-rate …`) or while it
runs (`POST /sandbox/faults` with a JSON object of knobs). Random faults draw from a seeded
generator, so a test that sets the same knobs sees the same answers; `fail_next`, `truncate_next`
and `revoke_after` are exact counts for tests that need one precise failure.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Clever: 1,200 requests a minute per bearer token, in fixed windows that reset each minute.
CLEVER_RATE_LIMIT = 1200
CLEVER_RATE_WINDOW = 60


@dataclass
class FaultSettings:
    """The knobs. Defaults behave like a healthy Clever."""

    rate_limit: int = CLEVER_RATE_LIMIT  # requests per window per token; 0 turns the limit off
    rate_window: int = CLEVER_RATE_WINDOW  # seconds
    error_rate: float = 0.0  # share of API requests answered with one of error_statuses
    error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    fail_next: int = 0  # the next N API requests fail with fail_status
    fail_status: int = 503
    slow_ms: int = 0  # delay before every API answer
    truncate_rate: float = 0.0  # share of list answers cut off mid-body (connection dropped)
    truncate_next: int = 0  # the next N list answers are cut off
    token_revoked: bool = False  # the district token stops working (401)
    revoke_after: int = -1  # the token stops working after N more API requests; -1 = never
    seed: int = 0

    @classmethod
    def knob_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


class FaultError(ValueError):
    """A knob with a bad name or value."""


@dataclass
class Verdict:
    """What the fault layer decided for one API request."""

    status: int = 200
    message: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    truncate: bool = False
    delay: float = 0.0


class Faults:
    """Thread-safe fault state shared by all requests of one sandbox server."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self.settings = settings or FaultSettings()
        self._rng = random.Random(self.settings.seed)
        self._windows: dict[str, tuple[int, int]] = {}  # token -> (window start, requests)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self.settings)

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - FaultSettings.knob_names()
        if unknown:
            raise FaultError(f"unknown fault knob(s): {', '.join(sorted(unknown))}")
        with self._lock:
            merged = {**asdict(self.settings), **changes}
            try:
                new = FaultSettings(**merged)
                _check(new)
            except (TypeError, ValueError) as exc:
                raise FaultError(str(exc)) from exc
            if new.seed != self.settings.seed:
                self._rng = random.Random(new.seed)
            self.settings = new
            return asdict(new)

    def reset(self) -> dict[str, Any]:
        with self._lock:
            self.settings = FaultSettings()
            self._rng = random.Random(0)
            self._windows.clear()
            return asdict(self.settings)

    def judge(self, token: str, *, is_list: bool, now: float | None = None) -> Verdict:
        """Decide the fate of one authenticated API request (called after the token matched)."""
        now = time.time() if now is None else now
        with self._lock:
            s = self.settings
            verdict = Verdict(delay=s.slow_ms / 1000)
            if s.revoke_after == 0:
                s.token_revoked = True
            if s.revoke_after > 0:
                s.revoke_after -= 1
            if s.token_revoked:
                verdict.status, verdict.message = 401, "Invalid or revoked bearer token"
                return verdict
            if s.rate_limit > 0:
                window = int(now) - int(now) % s.rate_window
                start, used = self._windows.get(token, (window, 0))
                if start != window:
                    start, used = window, 0
                reset = start + s.rate_window
                if used >= s.rate_limit:
                    verdict.status = 429
                    verdict.message = "Too many requests: rate limit exceeded"
                    verdict.headers = _rate_headers(s.rate_limit, 0, reset)
                    return verdict
                self._windows[token] = (start, used + 1)
                verdict.headers = _rate_headers(s.rate_limit, s.rate_limit - used - 1, reset)
            if s.fail_next > 0:
                s.fail_next -= 1
                verdict.status, verdict.message = s.fail_status, "Internal error (injected)"
                return verdict
            if s.error_rate and self._rng.random() < s.error_rate:
                verdict.status = self._rng.choice(s.error_statuses)
                verdict.message = "Internal error (injected)"
                return verdict
            if is_list and s.truncate_next > 0:
                s.truncate_next -= 1
                verdict.truncate = True
            elif is_list and s.truncate_rate and self._rng.random() < s.truncate_rate:
                verdict.truncate = True
            return verdict


def _rate_headers(limit: int, remaining: int, reset: int) -> list[tuple[str, str]]:
    return [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", str(remaining)),
        ("X-RateLimit-Reset", str(reset)),
    ]


def _check(s: FaultSettings) -> None:
    for name in ("error_rate", "truncate_rate"):
        value = getattr(s, name)
        if not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number from 0 to 1")
    for name in ("rate_limit", "fail_next", "slow_ms", "truncate_next", "seed"):
        value = getattr(s, name)
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0")
    if not isinstance(s.rate_window, int) or s.rate_window < 1:
        raise ValueError("rate_window must be a whole number of seconds >= 1")
    if not isinstance(s.revoke_after, int) or s.revoke_after < -1:
        raise ValueError("revoke_after must be -1 (never) or a whole number >= 0")
    statuses = [s.fail_status, *s.error_statuses]
    if not s.error_statuses or any(not isinstance(x, int) or not 400 <= x <= 599 for x in statuses):
        raise ValueError("error statuses must be HTTP error codes (400-599)")
    if not isinstance(s.token_revoked, bool):
        raise ValueError("token_revoked must be true or false")
