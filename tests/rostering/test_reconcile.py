"""Reconcile as a pure function (no database): the record hash and the deletion threshold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from homeroom.rostering.sources.records import SchoolRecord, StudentRecord
from homeroom.rostering.sync.reconcile import (
    ENTITIES,
    WARN_THRESHOLD,
    Current,
    HeldState,
    Roster,
    Settings,
    reconcile,
    record_hash,
)

REPO = Path(__file__).resolve().parents[2]
SCHOOL = SchoolRecord(external_id="school-1", name="Lincoln Elementary")


def _student(n: int, **changes) -> StudentRecord:
    values = {
        "external_id": f"student-{n}",
        "school_id": SCHOOL.external_id,
        "first_name": f"First{n}",
        "last_name": "Last",
        "sis_id": f"S{n}",
    }
    return StudentRecord(**{**values, **changes})


# -- the record hash ---------------------------------------------------------------------------
def test_record_hash_is_the_same_for_the_same_record():
    assert record_hash((), False, _student(1), ("school-1",)) == record_hash(
        (), False, _student(1), ("school-1",)
    )
    assert isinstance(record_hash(_student(1)), int)
    assert -(2**63) <= record_hash(_student(1)) < 2**63  # fits a BIGINT


def test_record_hash_is_the_same_in_another_process():
    script = (
        "from homeroom.rostering.sources.records import StudentRecord as S\n"
        "from homeroom.rostering.sync.reconcile import record_hash\n"
        "print(record_hash((), False, S(external_id='student-1', school_id='school-1', "
        "first_name='First1', last_name='Last', sis_id='S1'), ('school-1',)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO), "PYTHONHASHSEED": "12345"},
    )
    assert int(out.stdout) == record_hash((), False, _student(1), ("school-1",))


@pytest.mark.parametrize(
    "change",
    [
        {"first_name": "Other"},
        {"email": "a@example.org"},
        {"sis_id": "S999"},
        {"grade": "3"},
        {"school_ids": ("school-1",)},
    ],
)
def test_record_hash_changes_with_any_field(change):
    assert record_hash(_student(1, **change)) != record_hash(_student(1))


def test_record_hash_changes_with_settings_claim_and_references():
    base = record_hash((), False, _student(1), ("school-1",))
    assert record_hash(("student_number",), False, _student(1), ("school-1",)) != base
    assert record_hash((), True, _student(1), ("school-1",)) != base
    assert record_hash((), False, _student(1), ("school-2",)) != base


# -- the deletion threshold ---------------------------------------------------------------------
def _held(active: int, *, archived: int = 0, local: int = 0) -> HeldState:
    """A district holding `active` managed students (plus archived and unmanaged ones)."""
    rows: dict[str, dict[str, Current]] = {name: {} for name in ENTITIES}
    rows["schools"][SCHOOL.external_id] = Current(
        pk=1, sync_hash=None, archived=False, managed=True
    )
    pk = 0
    for n, (archived_row, managed) in enumerate(
        [(False, True)] * active + [(True, True)] * archived + [(False, False)] * local
    ):
        pk += 1
        rows["students"][f"student-{n}"] = Current(
            pk=pk, sync_hash=0, archived=archived_row, managed=managed
        )
    return HeldState(rows=rows, adoptable={})


def _roster(students: int) -> Roster:
    return Roster(
        schools=[SCHOOL],
        terms=[],
        courses=[],
        sections=[],
        staff=[],
        students=[_student(n) for n in range(students)],
        contacts=[],
    )


@pytest.mark.parametrize(
    ("active", "remaining", "threshold", "blocked"),
    [
        (30, 27, 10, False),  # 3 of 30 = 10 %: at the threshold, allowed
        (30, 26, 10, True),  # 4 of 30 = 13.3 %: blocked
        (1000, 900, 10, False),
        (1000, 899, 10, True),  # 101 of 1000 = 10.1 %
        (10, 9, 0, True),  # a threshold of 0 blocks any archiving
        (10, 0, 100, False),  # 100 % allows everything
        (7, 6, 15, False),  # 1 of 7 = 14.3 %
        (7, 5, 15, True),  # 2 of 7 = 28.6 %
    ],
)
def test_threshold_arithmetic(active, remaining, threshold, blocked):
    settings = Settings(deletion_threshold_percent=threshold)
    plan = reconcile(_roster(remaining), _held(active), settings)
    gone = active - remaining
    assert plan.archiving_blocked is blocked
    students = plan.entities["students"]
    assert len(students.archives) == (0 if blocked else gone)
    assert plan.counts()["students"]["archived"] == (0 if blocked else gone)
    if blocked:
        assert plan.warnings[0] == {
            "entity": "students",
            "external_id": "",
            "reason": WARN_THRESHOLD.format(
                count=gone,
                total=active,
                entity="students",
                percent=gone * 100 / active,
                threshold=threshold,
            ),
        }
    else:
        assert not any(w["reason"].startswith("Nothing was archived") for w in plan.warnings)


class _Active:
    """Active rows as an events sync counts them: whether there are at least so many, and how
    many only when it must say."""

    def __init__(self, students: int) -> None:
        self.students, self.counted = students, False

    def at_least(self, name: str, count: int) -> bool:
        return self.students >= count

    def __getitem__(self, name: str) -> int:
        self.counted = True
        return self.students


@pytest.mark.parametrize(
    ("active", "remaining", "threshold", "blocked"),
    [
        (30, 27, 10, False),
        (30, 26, 10, True),
        (1000, 899, 10, True),
        (10, 9, 0, True),
        (10, 0, 100, False),
        (7, 6, 15, False),
        (7, 5, 15, True),
    ],
)
def test_threshold_with_only_some_rows_held(active, remaining, threshold, blocked):
    # An events sync holds only the rows its changes touch: here the students who leave
    held = _held(active - remaining)
    held.active = _Active(active)
    settings = Settings(deletion_threshold_percent=threshold)
    plan = reconcile(_roster(0), held, settings, outside={"students": set()})
    assert plan.archiving_blocked is blocked
    # The exact count is asked for only to say how many, in the warning
    assert held.active.counted is blocked
    if blocked:
        assert f"of {active} students" in plan.warnings[0]["reason"]


def test_threshold_counts_only_active_managed_rows():
    # 3 leave of 30 active managed students: 10 %, allowed, however many archived or local rows
    # are held besides (they would dilute the share if they were counted)
    plan = reconcile(_roster(27), _held(30, archived=50, local=50), Settings())
    assert not plan.archiving_blocked
    assert len(plan.entities["students"].archives) == 3
    # 4 leave of 30: blocked, even though 4 of 130 rows would be within 10 %
    plan = reconcile(_roster(26), _held(30, archived=50, local=50), Settings())
    assert plan.archiving_blocked


def test_force_archives_beyond_the_threshold():
    plan = reconcile(_roster(10), _held(30), Settings(), force=True)
    assert not plan.archiving_blocked
    assert len(plan.entities["students"].archives) == 20
    assert not plan.warnings


def test_a_blocked_plan_archives_nothing_of_any_entity():
    held = _held(30)
    held.rows["contacts"]["contact-1"] = Current(pk=99, sync_hash=0, archived=False, managed=True)
    settings = Settings(remove_departed_guardians=True)
    plan = reconcile(_roster(20), held, settings)
    assert plan.archiving_blocked
    assert all(not changes.archives for changes in plan.entities.values())
    assert all(counts["archived"] == 0 for counts in plan.counts().values())
    # the same plan without the students leaving would archive the contact
    assert reconcile(_roster(30), held, settings).entities["contacts"].archives == [99]
