"""What a family member may see: the children they confirmed, and of each child the classrooms
and teachers that Family Access lets families see.

A child is visible only through a confirmed connection of this member whose invitation was
accepted (or that was made without an invitation). Family Access off for a school or a classroom
keeps the child on the family's page but hides that school's or classroom's classes, teachers
and messages (seed 000). Every function here costs a fixed number of queries, whatever the
number of children or classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch, Q, QuerySet

from homeroom.directory.models import Enrollment, Section, SectionTeacher, Student
from homeroom.families.models import Connection, FamilyMember, Invitation

# An enrollment whose classroom families may see: on the roster, Family Access on for the
# classroom and for its school.
FAMILY_VISIBLE = Q(
    section__archived_at__isnull=True,
    section__family_access=True,
    section__school__family_access=True,
)


@dataclass
class Child:
    """A confirmed child as the family sees it."""

    student: Student
    relationship: str
    classes: list[Section] = field(default_factory=list)

    @property
    def school_hidden(self) -> bool:
        """Family Access is off for the child's school."""
        return not self.student.school.family_access


def member_connections(
    *, member: FamilyMember, status: str = Connection.Status.CONFIRMED
) -> QuerySet[Connection]:
    """The member's connections of this status to students on the roster. A connection counts
    for its member once its invitation is accepted (or when it came without one): until then
    whoever holds the invitation's link decides, even where the sync matched the account."""
    return Connection.objects.filter(
        Q(invitation__isnull=True) | Q(invitation__status=Invitation.Status.ACCEPTED),
        member=member,
        status=status,
        student__archived_at__isnull=True,
    )


def member_pending(*, member: FamilyMember) -> list[Connection]:
    """Children the sync added to the member's account later, waiting for a yes or a no."""
    connections = member_connections(member=member, status=Connection.Status.PENDING)
    return list(connections.select_related("student__school").order_by("student__first_name", "pk"))


def member_children(*, member: FamilyMember, student_id: int | None = None) -> list[Child]:
    """Every child the member sees (or only `student_id`), with the classes they may see.
    Three queries."""
    connections = member_connections(member=member)
    if student_id is not None:
        connections = connections.filter(student_id=student_id)
    children: dict[int, Child] = {}
    for connection in connections.select_related("student__school", "student__district").order_by(
        "student__first_name", "student__last_name", "student_id", "pk"
    ):
        # Two invitations (two districts' rosters, a re-issue) may connect the same child twice.
        children.setdefault(
            connection.student_id, Child(connection.student, connection.relationship)
        )
    for enrollment in visible_enrollments(student_ids=list(children)):
        children[enrollment.student_id].classes.append(enrollment.section)
    return list(children.values())


def member_child(*, member: FamilyMember, student_id: int) -> Child | None:
    """One child, or None when the member may not see it."""
    children = member_children(member=member, student_id=student_id)
    return children[0] if children else None


def visible_enrollments(*, student_ids: list[int]) -> QuerySet[Enrollment]:
    """The students' enrollments in classrooms families may see, with their teachers."""
    teachers = SectionTeacher.objects.filter(staff__archived_at__isnull=True).select_related(
        "staff"
    )
    return (
        Enrollment.objects.filter(FAMILY_VISIBLE, student_id__in=student_ids)
        .select_related("section")
        .prefetch_related(
            Prefetch(
                "section__teachers",
                queryset=teachers.order_by("-is_primary", "staff__last_name", "pk"),
            )
        )
        .order_by("section__period", "section__name", "pk")
    )


def visible_section_ids(*, member: FamilyMember) -> set[int]:
    """The classrooms whose teachers and messages the member may see (for messaging)."""
    student_ids = member_connections(member=member).values("student_id")
    return set(
        Enrollment.objects.filter(FAMILY_VISIBLE, student_id__in=student_ids).values_list(
            "section_id", flat=True
        )
    )
