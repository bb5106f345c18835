"""Schedules (seed 003): nightly at 18:00 in the district's region, spread per district, across
daylight-saving changes; the pause window; the one dispatcher; events polling."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from homeroom.rostering.models import SyncRun
from homeroom.rostering.schedules import (
    SPREAD,
    nightly_start,
    paused,
    schedules_dispatch,
    start_offset,
)
from tests.rostering.conftest import new_district

UTC = ZoneInfo("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("region", "day", "utc"),
    [
        # US Central: 18:00 CST is 00:00 UTC the next day, 18:00 CDT is 23:00 UTC
        ("us_nz", date(2026, 1, 15), "2026-01-16T00:00"),
        ("us_nz", date(2026, 7, 15), "2026-07-15T23:00"),
        # the days the clocks change (2026-03-08 spring forward, 2026-11-01 fall back)
        ("us_nz", date(2026, 3, 7), "2026-03-08T00:00"),
        ("us_nz", date(2026, 3, 8), "2026-03-08T23:00"),
        ("us_nz", date(2026, 10, 31), "2026-10-31T23:00"),
        ("us_nz", date(2026, 11, 1), "2026-11-02T00:00"),
        # Perth keeps no daylight saving; the UK region runs on UTC itself
        ("au", date(2026, 1, 15), "2026-01-15T10:00"),
        ("au", date(2026, 7, 15), "2026-07-15T10:00"),
        ("uk", date(2026, 7, 15), "2026-07-15T18:00"),
    ],
)
def test_nightly_start_is_18_00_local_plus_the_districts_offset(region, day, utc):
    assert nightly_start(region=region, district_id=7, day=day) - start_offset(7) == at(utc)


def test_starts_are_spread_over_the_hours_after_18_00():
    offsets = [start_offset(district_id) for district_id in range(1, 2001)]
    assert all(timedelta(0) <= o < SPREAD for o in offsets)
    assert max(Counter(offsets).values()) <= 4  # never many in the same second
    per_hour = [sum(1 for o in offsets if h <= o.total_seconds() / 3600 < h + 1) for h in range(6)]
    assert min(per_hour) > 250  # roughly even: 333 per hour expected
    assert start_offset(42) == start_offset(42)  # the same time every night


class Window:
    def __init__(self, start, end):
        self.pause_from, self.pause_until = start, end


def test_pause_window_inclusive_and_across_new_year():
    summer = Window(date(2026, 6, 10), date(2026, 8, 20))
    assert not paused(summer, day=date(2026, 6, 9))
    assert paused(summer, day=date(2026, 6, 10)) and paused(summer, day=date(2026, 8, 20))
    assert not paused(summer, day=date(2026, 8, 21))
    holidays = Window(date(2026, 12, 20), date(2027, 1, 5))
    assert paused(holidays, day=date(2026, 12, 31)) and paused(holidays, day=date(2027, 1, 2))
    assert not paused(holidays, day=date(2027, 1, 6))
    assert not paused(Window(None, None), day=date(2026, 7, 1))


# -- the dispatcher ----------------------------------------------------------------------------
def synced_district(name="Dispatch", **settings):
    district = new_district(name=name, **settings)
    SyncRun.objects.create(district=district, kind="full", status="completed")
    district.sync.refresh_from_db()
    return district


def dispatch(now):
    queued = []
    schedules_dispatch(
        now=now, enqueue=lambda kind, district_id: queued.append((kind, district_id))
    )
    return queued


def test_a_district_is_queued_once_per_night_after_its_start(db):
    district = synced_district(region="uk")
    start = nightly_start(region="uk", district_id=district.pk, day=date(2026, 7, 15))
    assert dispatch(start - timedelta(minutes=1)) == []
    assert dispatch(start + timedelta(minutes=1)) == [("nightly", district.pk)]
    assert dispatch(start + timedelta(minutes=3)) == []  # already queued tonight
    tomorrow = start + timedelta(days=1)
    assert dispatch(tomorrow + timedelta(seconds=30)) == [("nightly", district.pk)]


def test_no_scheduled_sync_when_daily_sync_is_off_paused_or_never_synced(db):
    off = synced_district(name="Off", daily_sync=False)
    summer = synced_district(
        name="Summer", pause_from=date(2026, 6, 1), pause_until=date(2026, 8, 31)
    )
    never = new_district(name="Never")
    # a minute after the start of the evening of July 15 for each of them
    now = max(
        nightly_start(region="us_nz", district_id=d.pk, day=date(2026, 7, 15))
        for d in (off, summer, never)
    ) + timedelta(minutes=1)
    assert dispatch(now) == []
    summer.sync.pause_until = date(2026, 7, 14)
    summer.sync.save()
    assert dispatch(now) == [("nightly", summer.pk)]
    assert off.pk and never.pk


def test_a_night_missed_by_a_day_is_not_caught_up(db):
    district = synced_district(region="uk")
    start = nightly_start(region="uk", district_id=district.pk, day=date(2026, 7, 15))
    assert dispatch(start + timedelta(hours=21)) == []


def test_events_polling_every_few_minutes_between_nightly_syncs(db):
    district = synced_district(region="uk", events_polling=True, events_poll_minutes=5)
    start = nightly_start(region="uk", district_id=district.pk, day=date(2026, 7, 15))
    assert dispatch(start + timedelta(minutes=1)) == [("nightly", district.pk)]
    assert dispatch(start + timedelta(minutes=2)) == [("events", district.pk)]
    assert dispatch(start + timedelta(minutes=4)) == []
    assert dispatch(start + timedelta(minutes=7)) == [("events", district.pk)]


def test_districts_of_all_regions_in_one_dispatch(db):
    districts = {r: synced_district(name=r, region=r) for r in ("us_nz", "au", "uk")}
    # a minute after the last of their starts of the local evening of July 15
    starts = [
        nightly_start(region=r, district_id=d.pk, day=date(2026, 7, 15))
        for r, d in districts.items()
    ]
    now = max(starts) + timedelta(minutes=1)
    queued = dispatch(now)
    assert sorted(queued) == sorted(("nightly", d.pk) for d in districts.values())
