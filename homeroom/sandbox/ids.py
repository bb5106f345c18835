"""Clever-style ObjectIds: 24 hex digits, ascending in creation order.

Clever's ids are MongoDB ObjectIds (4-byte timestamp, 5 random bytes, 3-byte counter), and Clever
pages by ascending id, so the sandbox mints ids the same way: a generated district gets ids whose
timestamp and counter grow with every record, and ids minted later (by mutations) sort after all
earlier ones.
"""

from __future__ import annotations

import random

ID_LENGTH = 24


class IdMinter:
    """Mints ascending ObjectIds from a timestamp and a counter; deterministic for a seed."""

    def __init__(self, *, seed: int, timestamp: int, counter: int = 0) -> None:
        self._middle = random.Random(f"ids-{seed}").getrandbits(40)
        self.timestamp = timestamp
        self.counter = counter

    def mint(self) -> str:
        self.counter += 1
        if self.counter % 0x1000 == 0:
            # Move the clock on now and then so ids look like a real import spread over time.
            self.timestamp += 1
        return f"{self.timestamp:08x}{self._middle:010x}{self.counter & 0xFFFFFF:06x}"

    def advance_to(self, timestamp: int) -> None:
        """Never go back in time: later mints must sort after every id minted so far."""
        self.timestamp = max(self.timestamp + 1, timestamp)


def is_object_id(value: str) -> bool:
    return len(value) == ID_LENGTH and all(c in "0123456789abcdef" for c in value)
