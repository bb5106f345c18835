"""What a family member may see (homeroom.families.selectors)."""

from __future__ import annotations

import pytest

from homeroom.families import selectors
from tests.directory.factories import EnrollmentFactory, SectionFactory, StudentFactory
from tests.families.factories import connected_member

pytestmark = pytest.mark.django_db


def test_visible_sections_follow_family_access_of_classroom_and_school():
    ada = StudentFactory()
    open_class = SectionFactory(school=ada.school)
    closed_class = SectionFactory(school=ada.school, family_access=False)
    other_school = SectionFactory(school__district=ada.district)
    other_school.school.family_access = False
    other_school.school.save()
    for section in (open_class, closed_class, other_school):
        EnrollmentFactory(section=section, student=ada)
    stranger_class = SectionFactory()
    EnrollmentFactory(section=stranger_class, student=StudentFactory())
    member = connected_member(students=[ada])

    assert selectors.visible_section_ids(member=member) == {open_class.pk}


def test_member_children_costs_three_queries(django_assert_num_queries):
    students = [StudentFactory() for _ in range(3)]
    for student in students:
        for _ in range(2):
            EnrollmentFactory(section=SectionFactory(school=student.school), student=student)
    member = connected_member(students=students)

    with django_assert_num_queries(3):
        children = selectors.member_children(member=member)
        assert [len(c.classes) for c in children] == [2, 2, 2]
        assert all(list(s.teachers.all()) == [] for c in children for s in c.classes)
