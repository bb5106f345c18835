"""Background jobs of the families app: thin, they take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from homeroom.directory.models import District
from homeroom.families.services import invitations_send


@shared_task(name="families.invitations_send")
def invitations_send_task(district_id: int) -> dict[str, int]:
    """Send the district's issued invitations (after the sync that issued them commits)."""
    district = District.objects.select_related("sync").get(pk=district_id)
    return dict(invitations_send(district=district))
