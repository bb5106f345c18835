"""Rate limits for the portal's own endpoints (allauth limits sign-in and sign-up itself).

Counters live in Django's cache, which the settings make shared by every web process (Redis, or
files in the data folder). Each request counts against the client's IP and against its target
(an invitation, a phone number, an account), so neither one address trying many links nor many
addresses trying one link gets far. Targets are hashed into the keys: no token or phone number
is stored in the cache in clear.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from allauth.account.adapter import get_adapter
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


@dataclass(frozen=True)
class Rate:
    """At most `count` requests in each window of `seconds`."""

    count: int
    seconds: int


def rate_limit_exceeded(
    request: HttpRequest, *, scope: str, target: str, per_ip: Rate, per_target: Rate
) -> bool:
    """Count this request; True when the client or the target is over its limit."""
    ip = get_adapter(request).get_client_ip(request)
    over_ip = _hit(f"rl:{scope}:ip:{ip}", per_ip)
    over_target = _hit(f"rl:{scope}:t:{hashlib.sha256(target.encode()).hexdigest()}", per_target)
    return over_ip or over_target


def too_many_requests(request: HttpRequest, *, retry_after: int = 60) -> HttpResponse:
    """The page a limited client sees (the same template allauth uses for its limits)."""
    response = TemplateResponse(request, "429.html", status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _hit(key: str, rate: Rate) -> bool:
    window = int(time.time() // rate.seconds)
    key = f"{key}:{window}"
    cache.add(key, 0, timeout=rate.seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=rate.seconds)
        count = 1
    return count > rate.count
