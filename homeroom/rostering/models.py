"""Roster sync: each district's sync settings, and the report of every run.

A run fetches the roster from the district's source, reconciles it with what Homeroom holds under
the district's settings (a pure step that yields a *plan*), and applies the plan in one
transaction. Every run leaves a `SyncRun`: completed or failed, counts per entity and action,
warnings per record with a reason, and on failure an error code and a message an IT admin can act
on. A dry run ("self-check") is a run whose plan is reported and not applied.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from homeroom.directory.models import District

CONTACT_TYPES = ["Parent/Guardian", "Primary", "Secondary", "Family", "Emergency", "Other"]
RELATIONSHIPS = ["Parent", "Grandparent", "Aunt/Uncle", "Sibling", "Self", "Other"]
PHONE_TYPES = ["Cell", "Home", "Work", "Other"]


def all_contact_types() -> list[str]:
    return list(CONTACT_TYPES)


def all_relationships() -> list[str]:
    return list(RELATIONSHIPS)


class Region(models.TextChoices):
    """Where a district's nightly sync starts at 18:00 local time (seed 003)."""

    US_NZ = "us_nz", "US/NZ (18:00 US Central time)"
    AU = "au", "AU (18:00 Australian Western time)"
    UK = "uk", "UK (18:00 UTC)"


class SyncSettings(models.Model):
    """How a district's roster is synced. Every option comes from the seed articles."""

    class StudentId(models.TextChoices):
        SIS_ID = "sis_id", "SIS id (student id)"
        STUDENT_NUMBER = "student_number", "Student number"

    class ArchivedStudents(models.TextChoices):
        ARCHIVE = "archive", "Archive students who leave the roster"
        KEEP_ACTIVE = "keep_active", "Keep students who leave the roster active"

    district = models.OneToOneField(District, on_delete=models.CASCADE, related_name="sync")
    # Scope: the whole district, or selected schools (by their external ids).
    all_schools = models.BooleanField(default=True)
    school_ids = models.JSONField(default=list, blank=True)
    # Classroom data
    sync_classrooms = models.BooleanField(default=True)
    unique_class_names = models.BooleanField(default=False)
    unarchive_classrooms = models.BooleanField(default=True)
    # Students
    student_id = models.CharField(
        max_length=20, choices=StudentId.choices, default=StudentId.SIS_ID
    )
    archived_students = models.CharField(
        max_length=20, choices=ArchivedStudents.choices, default=ArchivedStudents.ARCHIVE
    )
    # Guardians
    manage_guardians = models.BooleanField(default=True)
    contact_types = models.JSONField(default=all_contact_types, blank=True)
    relationships = models.JSONField(default=all_relationships, blank=True)
    sms_phone_type = models.CharField(
        max_length=10, choices=[(t, t) for t in PHONE_TYPES], default="Cell"
    )
    update_active_contacts = models.BooleanField(default=False)
    remove_departed_guardians = models.BooleanField(default=False)
    # Safety: archive nothing if a run would archive more than this share of a kind of row.
    deletion_threshold_percent = models.PositiveSmallIntegerField(default=10)
    # Schedule (seed 003): a nightly sync from 18:00 in the district's region, each district's
    # start spread over the following hours; none during the pause window (e.g. summer).
    daily_sync = models.BooleanField(default=True)
    region = models.CharField(max_length=10, choices=Region.choices, default=Region.US_NZ)
    pause_from = models.DateField(null=True, blank=True)
    pause_until = models.DateField(null=True, blank=True)
    # Between nightly syncs, apply Clever's events every few minutes.
    events_polling = models.BooleanField(default=False)
    events_poll_minutes = models.PositiveSmallIntegerField(default=5)
    # When the dispatcher last queued this district's nightly sync / events sync.
    last_dispatched_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    # Family sync (seed 000): guardian contacts become invitations. Off until a district asks;
    # the whole district or selected schools (external ids), never other segments.
    family_sync = models.BooleanField(default=False)
    family_sync_all_schools = models.BooleanField(default=True)
    family_sync_school_ids = models.JSONField(default=list, blank=True)
    invitation_expiry_days = models.PositiveSmallIntegerField(default=14)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"sync settings of {self.district}"


class SyncRun(models.Model):
    """One sync of one district: its trigger, status, counts, warnings and error."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULED = "scheduled", "Scheduled"

    class Kind(models.TextChoices):
        FULL = "full", "Full sync"
        EVENTS = "events", "Events sync"
        DRY_RUN = "dry_run", "Self-check (dry run)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FULL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    forced = models.BooleanField(default=False)
    # host:pid of the process running it, so a run whose process died can be told from a live one
    worker = models.CharField(max_length=100, blank=True, default="")
    # A running run renews this as it goes; past it, the run's worker is taken for dead and the
    # run is marked failed (its writes, in one transaction, died with it).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # {"students": {"created": 3, "updated": 1, "unchanged": 590, ...}, ...}
    counts = models.JSONField(default=dict, blank=True)
    # Family sync's part: {"invitations": {"created", "matched_accounts"},
    # "connections": {"created", "removed"}}; empty when family sync is off.
    family_counts = models.JSONField(default=dict, blank=True)
    # [{"entity": "contacts", "external_id": "...", "reason": "..."}], at most MAX_WARNINGS kept;
    # warning_count is the true total.
    warnings = models.JSONField(default=list, blank=True)
    warning_count = models.PositiveIntegerField(default=0)
    # [{"entity", "reason", "count"}] over every warning, most frequent first.
    warning_summary = models.JSONField(default=list, blank=True)
    # Clever's events position this run leaves, when it completes: a full sync's is the newest
    # event before it read the roster, an events sync's the last event it applied. The next
    # events sync starts after the one of the district's latest completed run that has one.
    # None: none known; "": the feed was empty (NULL and "" differ, hence a nullable text).
    events_cursor = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    MAX_WARNINGS = 1000

    class Meta:
        indexes = [models.Index(fields=["district", "-created_at"], name="run_recent")]
        constraints = [
            # One sync per district at a time, held by the database: a second run cannot start.
            models.UniqueConstraint(
                fields=["district"], condition=Q(status="running"), name="one_running_run"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.district} ({self.status})"
