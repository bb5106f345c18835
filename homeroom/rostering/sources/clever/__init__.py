"""Clever (Data API v3.0 / v3.1) as a roster source.

`client.CleverClient` speaks HTTP to Clever: the bearer token, paging by `links` rel=next, and
retries with backoff on 429, 5xx, dropped connections and bodies that are not JSON; every failure
ends as a `SourceError` with a stable code. `source.CleverSource` turns Clever's wire format into
the records of `homeroom.rostering.sources.records`, skipping (and counting) records it cannot use.
"""

from homeroom.rostering.sources.clever.client import CleverClient
from homeroom.rostering.sources.clever.source import CleverSource

__all__ = ["CleverClient", "CleverSource"]
