"""Background jobs of roster sync: thin, they take ids and call the services the command line
calls. One sync per district runs at a time (`services.run_start`); a scheduled sync that finds
its district busy waits and tries again, a manual one is refused with the reason."""

from __future__ import annotations

from celery import shared_task

from homeroom.directory.models import District
from homeroom.rostering.models import SyncRun
from homeroom.rostering.schedules import schedules_dispatch
from homeroom.rostering.services import ERR_BUSY, district_sync

BUSY_RETRY_SECONDS = 300
BUSY_RETRIES = 24  # two hours of waiting


@shared_task(bind=True, name="rostering.district_sync", max_retries=BUSY_RETRIES)
def district_sync_task(self, district_id: int, trigger: str = SyncRun.Trigger.MANUAL) -> int:
    """Run a full sync of the district; returns the run's id."""
    district = District.objects.select_related("sync").get(pk=district_id)
    run = district_sync(district=district, trigger=trigger)
    if run.error_code == ERR_BUSY and trigger == SyncRun.Trigger.SCHEDULED:
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    return run.pk


@shared_task(bind=True, name="rostering.district_events_sync", max_retries=BUSY_RETRIES)
def district_events_sync_task(self, district_id: int) -> int:
    """Apply the district's Clever events since its last sync; returns the run's id."""
    from homeroom.rostering.events import district_events_sync

    district = District.objects.select_related("sync").get(pk=district_id)
    run = district_events_sync(district=district, trigger=SyncRun.Trigger.SCHEDULED)
    if run.error_code == ERR_BUSY:
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    return run.pk


@shared_task(name="rostering.schedules_dispatch")
def schedules_dispatch_task() -> dict[str, list[int]]:
    """The one periodic job: queue the districts whose nightly or events sync is due."""
    return schedules_dispatch()
