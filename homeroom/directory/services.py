"""Writes to the directory that staff make by hand: archiving and merging students.

Each one is audited (who, when, what). Sync's own writes go through `homeroom.rostering`.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from homeroom.directory.models import (
    AuditEvent,
    District,
    Enrollment,
    GuardianLink,
    School,
    Section,
    Student,
)
from homeroom.families.models import Connection

MSG_MERGE_SAME = "A student cannot be merged with itself."
MSG_MERGE_DISTRICTS = "Students of different districts cannot be merged."
MSG_MERGE_BOTH_SYNCED = (
    "Both students are in the roster the district syncs (external ids {keep} and {other}); "
    "merging them would be undone by the next sync. Fix the duplicate in the SIS instead."
)


def students_archive_unsynced(
    *, district: District, school: School | None = None, user=None
) -> int:
    """Archive the active students that are not part of the sync (seed 002, step 9).

    Sync-managed students are never archived by this: with the sync on, a whole directory can be
    selected safely and only the students the roster does not hold are archived.
    """
    students = Student.objects.filter(district=district, archived_at=None, sync_managed=False)
    if school is not None:
        students = students.filter(school=school)
    with transaction.atomic():
        ids = list(students.values_list("id", flat=True))
        now = timezone.now()
        Student.objects.filter(id__in=ids).update(archived_at=now, updated_at=now)
        AuditEvent.objects.create(
            district=district,
            user=user,
            action="students_archive_unsynced",
            summary=f"Archived {len(ids)} students not part of the sync"
            + (f" at {school.name}" if school else ""),
            detail={"student_ids": ids, "school_id": school.pk if school else None},
        )
    return len(ids)


def student_merge(*, keep: Student, other: Student, user=None) -> Student:
    """Merge a duplicate into the student kept: every related row moves to `keep`, `other` is
    archived. When only `other` is synced, `keep` takes over its place in the roster."""
    if keep.pk == other.pk:
        raise ValueError(MSG_MERGE_SAME)
    if keep.district_id != other.district_id:
        raise ValueError(MSG_MERGE_DISTRICTS)
    if keep.sync_managed and other.sync_managed:
        raise ValueError(
            MSG_MERGE_BOTH_SYNCED.format(keep=keep.external_id, other=other.external_id)
        )
    with transaction.atomic():
        moved = {
            "enrollments": _move(Enrollment, "section_id", keep=keep, other=other),
            "guardian_links": _move(GuardianLink, "contact_id", keep=keep, other=other),
            # A family's claim on the child follows the child.
            "family_connections": _move(Connection, "invitation_id", keep=keep, other=other),
        }
        now = timezone.now()
        if other.sync_managed:
            # The wire hash goes with the identity: links that contacts held to `other` now
            # point at `keep`, which a re-sync must see as the same confirmed student.
            identity = {
                "external_id": other.external_id,
                "sync_hash": other.sync_hash,
                "wire_hash": other.wire_hash,
                "sync_managed": True,
            }
            other.external_id, other.sync_hash, other.wire_hash = "", None, None
            other.sync_managed = False
            other.save(update_fields=["external_id", "sync_hash", "wire_hash", "sync_managed"])
            for field, value in identity.items():
                setattr(keep, field, value)
        other.archived_at = now
        other.updated_at = now
        other.save(update_fields=["archived_at", "updated_at"])
        keep.updated_at = now
        keep.save()
        AuditEvent.objects.create(
            district_id=keep.district_id,
            user=user,
            action="student_merge",
            summary=f"Merged student {other.pk} into student {keep.pk}",
            detail={"kept": keep.pk, "merged": other.pk, "moved": moved},
        )
    return keep


def _move(model, partner: str, *, keep: Student, other: Student) -> int:
    """Point `other`'s rows at `keep`, except those `keep` already has (they are dropped)."""
    held = set(model.objects.filter(student=keep).values_list(partner, flat=True))
    rows = model.objects.filter(student=other)
    duplicates = rows.filter(**{f"{partner}__in": held})
    duplicates.delete()
    return rows.update(student=keep)


def family_access_set(*, target: School | Section, enabled: bool, user=None) -> None:
    """Turn Family Access on or off for a school or a classroom (seed 000). Off, the families
    connected to its students stay connected but see none of its classes, teachers or
    messages."""
    if target.family_access == enabled:
        return
    kind = "school" if isinstance(target, School) else "classroom"
    with transaction.atomic():
        target.family_access = enabled
        target.save(update_fields=["family_access"])
        AuditEvent.objects.create(
            district_id=target.district_id,
            user=user,
            action="family_access_set",
            summary=f"Family Access {'on' if enabled else 'off'} for {kind} {target.pk}",
            detail={kind: target.pk, "enabled": enabled},
        )
