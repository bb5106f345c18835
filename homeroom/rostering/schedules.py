"""When syncs run by themselves: one nightly sync per district, and events polling between them.

Seed 003: syncs start nightly at 18:00 in the district's region (US/NZ: US Central time, AU:
Australian Western time, UK: UTC) and "may start any time between 6 PM in that region to 24
hours later". Homeroom spreads each district's start over the hours after 18:00 by a fixed,
per-district offset, so thousands of districts do not start in the same second, and a district
starts at the same time every night. Daylight saving is the region's own: 18:00 Chicago time is
23:00 UTC in winter and 00:00 UTC in summer.

All schedules live here, in one periodic dispatcher (`schedules_dispatch`), not in one
scheduler entry per district: every few minutes it queues the districts that are due.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from homeroom.rostering.models import Region, SyncRun, SyncSettings

logger = logging.getLogger(__name__)

REGION_ZONES = {
    Region.US_NZ: ZoneInfo("America/Chicago"),
    Region.AU: ZoneInfo("Australia/Perth"),
    Region.UK: ZoneInfo("UTC"),
}
NIGHTLY_START = time(18, 0)
# Districts' starts are spread over this long after 18:00.
SPREAD = timedelta(hours=6)
# A nightly sync missed by more than this (the machine was down) waits for the next night.
CATCH_UP = timedelta(hours=20)


def start_offset(district_id: int) -> timedelta:
    """The district's fixed place in the spread: the same every night, even across districts
    (a hash, not the id itself, so that districts added together do not start together)."""
    digest = hashlib.sha256(f"homeroom-nightly-{district_id}".encode()).digest()
    seconds = int.from_bytes(digest[:8], "big") % int(SPREAD.total_seconds())
    return timedelta(seconds=seconds)


def nightly_start(*, region: str, district_id: int, day: date) -> datetime:
    """When the district's nightly sync of local date `day` starts, as an aware UTC time."""
    local = datetime.combine(day, NIGHTLY_START, tzinfo=REGION_ZONES[Region(region)])
    return (local + start_offset(district_id)).astimezone(ZoneInfo("UTC"))


def latest_nightly_start(*, region: str, district_id: int, now: datetime) -> datetime:
    """The most recent nightly start at or before `now`."""
    today = now.astimezone(REGION_ZONES[Region(region)]).date()
    for day in (today, today - timedelta(days=1), today - timedelta(days=2)):
        start = nightly_start(region=region, district_id=district_id, day=day)
        if start <= now:
            return start
    raise AssertionError("a nightly start lies within two days")  # pragma: no cover


def paused(settings: SyncSettings, *, day: date) -> bool:
    """Inside the district's pause window (both ends included)? A window may span New Year."""
    start, end = settings.pause_from, settings.pause_until
    if start is None or end is None:
        return False
    if start <= end:
        return start <= day <= end
    return day >= start or day <= end


def nightly_due(settings: SyncSettings, *, now: datetime) -> datetime | None:
    """The nightly start the district is due for and has not been queued for, if any."""
    if not settings.daily_sync:
        return None
    start = latest_nightly_start(region=settings.region, district_id=settings.district_id, now=now)
    local_day = start.astimezone(REGION_ZONES[Region(settings.region)]).date()
    if paused(settings, day=local_day) or now - start > CATCH_UP:
        return None
    if settings.last_dispatched_at is not None and settings.last_dispatched_at >= start:
        return None
    return start


def events_due(settings: SyncSettings, *, now: datetime) -> bool:
    local_day = now.astimezone(REGION_ZONES[Region(settings.region)]).date()
    if not settings.events_polling or paused(settings, day=local_day):
        return False
    last = settings.last_polled_at
    return last is None or now - last >= timedelta(minutes=settings.events_poll_minutes)


def schedules_dispatch(*, now: datetime | None = None, enqueue=None) -> dict[str, list[int]]:
    """Queue every district that is due: its nightly full sync, or an events sync. Returns the
    district ids queued per kind. Safe to run on several machines at once: a district is
    claimed with a conditional update before it is queued."""
    now = now or timezone.now()
    enqueue = enqueue or _enqueue
    queued: dict[str, list[int]] = {"nightly": [], "events": []}
    synced_once = SyncRun.objects.filter(
        kind=SyncRun.Kind.FULL, status=SyncRun.Status.COMPLETED
    ).values("district_id")
    # Seed 003: only the first sync is started by hand; a district never synced waits for it.
    candidates = SyncSettings.objects.filter(district_id__in=synced_once).filter(
        Q(daily_sync=True) | Q(events_polling=True)
    )
    for settings in candidates.iterator():
        if nightly_due(settings, now=now) is not None:
            kind, field = "nightly", "last_dispatched_at"
        elif events_due(settings, now=now):
            kind, field = "events", "last_polled_at"
        else:
            continue
        # Claimed only if nobody changed the mark since it was read: one dispatcher wins.
        claimed = SyncSettings.objects.filter(
            pk=settings.pk, **{field: getattr(settings, field)}
        ).update(**{field: now})
        if claimed:
            enqueue(kind, settings.district_id)
            queued[kind].append(settings.district_id)
    if queued["nightly"] or queued["events"]:
        logger.info(
            "dispatched %d nightly syncs and %d events syncs",
            len(queued["nightly"]),
            len(queued["events"]),
        )
    return queued


def _enqueue(kind: str, district_id: int) -> None:
    from homeroom.rostering.tasks import district_events_sync_task, district_sync_task

    if kind == "nightly":
        district_sync_task.delay(district_id, SyncRun.Trigger.SCHEDULED)
    else:
        district_events_sync_task.delay(district_id)
