"""HTTP to Clever's Data API: the district token, paging by `links`, retries, and errors.

One `httpx.Client` per `CleverClient`, so a sync of many pages reuses one keep-alive connection.
Every failure leaves as a `SourceError` whose code a sync run records and whose message a district
admin can act on. Logs name the path, the status and the attempt, never a body: Clever's answers
are children's and families' personal data.
"""

from __future__ import annotations

import functools
import logging
import queue
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from homeroom.rostering.sources.base import (
    AUTH_FAILED,
    BAD_RESPONSE,
    NOT_FOUND,
    RATE_LIMITED,
    UNAVAILABLE,
    SourceError,
)

log = logging.getLogger(__name__)

MAX_LIMIT = 10_000  # Clever answers 413 above this
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# No single wait longer than Clever's one-minute rate window plus a little: a reset time further
# out is a clock skew or a bad header, and a sync should not sleep for it.
MAX_WAIT = 65.0
# Clever's rate window resets on a whole second; waking a moment after it avoids a second 429.
RESET_MARGIN = 0.1

MSG_AUTH_FAILED = (
    "Clever refused the district token ({status}). Check the token in the district's settings, "
    "or re-authorize the app in Clever."
)
MSG_NOT_FOUND = (
    "Clever has no {path} for this district (404): it is unknown, deleted, or not shared with "
    "the app."
)
MSG_REJECTED = "Clever rejected GET {path} with HTTP {status}; this is a bug in Homeroom's client."
MSG_UNAVAILABLE = (
    "Clever did not answer GET {path} after {attempts} attempts over {seconds:.1f} s "
    "(last: {last}). Clever may be down; the next sync will try again."
)
MSG_RATE_LIMITED = (
    "Clever kept rate-limiting GET {path} (HTTP 429) after {attempts} attempts over "
    "{seconds:.1f} s. Another app or sync may be using the same district token; try again later."
)
MSG_NOT_CLEVER_FORMAT = (
    "Clever answered GET {path} with a body that is not Clever's JSON format, {attempts} times "
    "over {seconds:.1f} s."
)
LAST_NOT_JSON = "a body that is not Clever's JSON"

# A page decoder: body -> (the page's records, the `next` link or None). It raises ValueError
# (orjson's and msgspec's decode errors are ValueErrors) when the body is not Clever's format,
# which the client retries like a dropped connection: the usual cause is a cut-off body.
PageDecoder = Callable[[bytes], tuple[list[Any], str | None]]


def decode_page(body: bytes) -> tuple[list[Any], str | None]:
    """A list envelope as plain objects: each item's `data`, and the `next` link."""
    doc = orjson.loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValueError("not a Clever list envelope")
    items = [item.get("data") if isinstance(item, dict) else item for item in doc["data"]]
    return items, next_link(doc.get("links"))


def next_link(links: Any) -> str | None:
    if isinstance(links, list):
        for link in links:
            if isinstance(link, dict) and link.get("rel") == "next" and link.get("uri"):
                return str(link["uri"])
    return None


_END = object()


_EMPTY_DATA = re.compile(rb'"data"\s*:\s*\[\s*\]')


def _body_and_next(body: bytes) -> tuple[bytes, str | None]:
    """The body untouched, and its `next` link, read cheaply from the `"links":[…]` that ends a
    Clever list envelope; any other shape is decoded whole (slower, same answer). An empty page
    has no next for this purpose: the list ends there. Raises ValueError for a body that is not
    JSON, which `_request` retries."""
    empty = _EMPTY_DATA.match(body, body.find(b'"data"'))
    if empty:
        return body, None
    at = body.rfind(b'"links"')
    if at >= 0:
        try:
            links = orjson.loads(body[body.index(b"[", at) : body.rindex(b"]") + 1])
            return body, next_link(links)
        except ValueError:
            pass
    return body, decode_page(body)[1]


def _decode_object(body: bytes) -> dict[str, Any]:
    doc = orjson.loads(body)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


class CleverClient:
    """GET requests to one district's Clever Data API, with retries and paging."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        version: str = "v3.0",
        timeout: float = 30,
        max_retries: int = 6,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.version = version
        self.max_retries = max_retries
        self.backoff = backoff
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock  # Unix time, to read X-RateLimit-Reset against
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            verify=_tls_context(),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CleverClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One object: the decoded body of GET /<version><path>."""
        return self._request(self._url(path), params, _decode_object)

    def pages(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        limit: int = MAX_LIMIT,
        decode: PageDecoder = decode_page,
        ahead: int = 1,
    ) -> Iterator[list[Any]]:
        """Every page of a list endpoint, following `links` rel=next until there is none.

        An empty page ends the list too: Clever may link to empty pages. Pages are fetched
        `ahead` pages ahead on a thread, so Clever's time to answer overlaps the caller's time to
        decode and use the previous page (a large district's users: 5.1 s to fetch and decode in
        turn, measured; see `_ahead`).
        """
        url: str = self._url(path)
        query: dict[str, Any] | None = {**(params or {}), "limit": limit}
        bodies = self._ahead(url, query, ahead)
        try:
            for page_url, page_query, body in bodies:
                try:
                    items, _ = decode(body)
                except ValueError:
                    # The look-ahead only read the links; a body that does not decode is fetched
                    # again the careful way, with the retries of `_request`.
                    items, _ = self._request(page_url, page_query, decode)
                if not items:
                    return
                yield items
        finally:
            bodies.close()

    def _ahead(
        self, url: str, query: dict[str, Any] | None, ahead: int = 1
    ) -> Iterator[tuple[str, dict[str, Any] | None, bytes]]:
        """(url, query, body) of each page, fetched by a thread one page ahead of the caller.

        Waiting for Clever releases the GIL, so the thread costs the caller nothing. Errors
        (SourceError after retries) are raised in the caller, in page order.
        """
        results: queue.Queue = queue.Queue(maxsize=ahead)
        stop = threading.Event()

        def put(item: Any) -> None:
            while not stop.is_set():
                try:
                    results.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def fetch() -> None:
            page_url, page_query = url, query
            try:
                while not stop.is_set():
                    body, next_uri = self._request(page_url, page_query, _body_and_next)
                    put((page_url, page_query, body))
                    if not next_uri or next_uri == page_url:
                        break
                    page_url, page_query = next_uri, None
                put(_END)
            except BaseException as exc:  # handed to the caller, who raises it
                put(exc)

        thread = threading.Thread(target=fetch, name="clever-pages", daemon=True)
        thread.start()
        try:
            while True:
                item = results.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=1)

    def _url(self, path: str) -> str:
        if path.startswith(f"/{self.version}/"):
            return path
        return f"/{self.version}/{path.lstrip('/')}"

    def _request(self, url: str, params: dict[str, Any] | None, decode: Callable[[bytes], Any]):
        path = httpx.URL(url).path  # for logs and messages: never the query, never a body
        attempts = self.max_retries + 1
        spent = 0.0  # time in requests and in waits, as a sync run experiences it
        last = ""
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            wait: float | None = None
            try:
                response = self._http.get(url, params=params)
            except (httpx.TransportError, httpx.DecodingError) as exc:
                last = type(exc).__name__
            else:
                status = response.status_code
                last = f"HTTP {status}"
                if status == 200:
                    try:
                        result = decode(response.content)
                    except ValueError:
                        last = LAST_NOT_JSON
                    else:
                        log.debug("clever GET %s: 200, attempt %d", path, attempt)
                        return result
                elif status in (401, 403):
                    log.warning("clever GET %s: %d, not retried", path, status)
                    raise SourceError(AUTH_FAILED, MSG_AUTH_FAILED.format(status=status))
                elif status == 404:
                    log.warning("clever GET %s: 404, not retried", path)
                    raise SourceError(NOT_FOUND, MSG_NOT_FOUND.format(path=path))
                elif status == 429:
                    wait = self._rate_limit_wait(response.headers, attempt)
                elif status in RETRY_STATUSES:
                    wait = _retry_after(response.headers)
                else:
                    log.warning("clever GET %s: %d, not retried", path, status)
                    raise SourceError(BAD_RESPONSE, MSG_REJECTED.format(path=path, status=status))
            spent += time.monotonic() - started
            if attempt == attempts:
                break
            if wait is None:
                wait = self._backoff(attempt)
            log.warning(
                "clever GET %s: %s, attempt %d of %d, retrying in %.1f s",
                path,
                last,
                attempt,
                attempts,
                wait,
            )
            self._sleep(wait)
            spent += wait
        log.error("clever GET %s: %s, gave up after %d attempts", path, last, attempts)
        facts = {"path": path, "attempts": attempts, "seconds": spent, "last": last}
        if last == "HTTP 429":
            raise SourceError(RATE_LIMITED, MSG_RATE_LIMITED.format(**facts))
        if last == LAST_NOT_JSON:
            raise SourceError(BAD_RESPONSE, MSG_NOT_CLEVER_FORMAT.format(**facts))
        raise SourceError(UNAVAILABLE, MSG_UNAVAILABLE.format(**facts))

    # -- waits ------------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        """Exponential, with jitter so that many workers do not retry in step."""
        delay = min(MAX_WAIT, self.backoff * 2 ** (attempt - 1))
        return delay * (0.5 + 0.5 * self._rng.random())

    def _rate_limit_wait(self, headers: httpx.Headers, attempt: int) -> float:
        """Until Clever's window resets (X-RateLimit-Reset), else Retry-After, else backoff."""
        reset = headers.get("X-RateLimit-Reset")
        if reset:
            try:
                wait = float(reset) - self._clock()
            except ValueError:
                wait = 0.0
            if wait > 0:
                return min(MAX_WAIT, wait + RESET_MARGIN + 0.1 * self._rng.random())
            # A reset already past (or a clock ahead of Clever's): the window has turned over.
            return RESET_MARGIN
        retry_after = _retry_after(headers)
        return retry_after if retry_after is not None else self._backoff(attempt)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context (the system's trusted certificates) for every client: building one reads
    the certificate bundle, 0.05-0.1 s of every run (measured), which an events sync of a few
    changes would mostly spend on it."""
    return httpx.create_ssl_context()


def _retry_after(headers: httpx.Headers) -> float | None:
    """`Retry-After` in seconds (a number or an HTTP date), capped; None when absent or bad."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(MAX_WAIT, max(0.0, seconds))
