"""The roster tasks: thin wrappers that run the services; a scheduled sync that finds its
district busy waits and tries again, a manual one is refused with the reason."""

from __future__ import annotations

import os
import socket

import pytest
from celery.exceptions import Retry

from homeroom.rostering.models import SyncRun
from homeroom.rostering.services import ERR_BUSY
from homeroom.rostering.tasks import BUSY_RETRY_SECONDS, district_sync_task
from tests.rostering.conftest import new_district


@pytest.fixture
def busy_district(db):
    district = new_district()
    SyncRun.objects.create(
        district=district, status="running", worker=f"{socket.gethostname()}:{os.getpid()}"
    )
    return district


def test_a_scheduled_sync_of_a_busy_district_retries_later(busy_district):
    with pytest.raises(Retry) as retry:
        district_sync_task.apply(args=[busy_district.pk, SyncRun.Trigger.SCHEDULED])
    assert retry.value.when == BUSY_RETRY_SECONDS


def test_a_manual_sync_of_a_busy_district_is_refused_with_the_reason(busy_district):
    run_id = district_sync_task.apply(args=[busy_district.pk, SyncRun.Trigger.MANUAL]).get()
    run = SyncRun.objects.get(pk=run_id)
    assert (run.status, run.error_code) == ("failed", ERR_BUSY)
    assert "Another sync of this district is running" in run.error_message
