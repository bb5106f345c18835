"""factory_boy factories for the directory's models."""

from __future__ import annotations

import factory

from homeroom.directory.models import (
    District,
    Enrollment,
    GuardianContact,
    GuardianLink,
    School,
    Section,
    Student,
)


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = District

    name = factory.Sequence(lambda n: f"District {n}")
    slug = factory.Sequence(lambda n: f"district-{n}")
    source_url = "http://sandbox"


class SchoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = School

    district = factory.SubFactory(DistrictFactory)
    name = factory.Sequence(lambda n: f"School {n}")


class SectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Section

    district = factory.SelfAttribute("school.district")
    school = factory.SubFactory(SchoolFactory)
    name = factory.Sequence(lambda n: f"Class {n}")


class StudentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Student

    district = factory.SelfAttribute("school.district")
    school = factory.SubFactory(SchoolFactory)
    first_name = factory.Sequence(lambda n: f"Student{n}")
    last_name = "Example"
    sis_id = factory.Sequence(lambda n: f"S{n:05d}")


class SyncedStudentFactory(StudentFactory):
    external_id = factory.Sequence(lambda n: f"{n:024x}")
    sync_managed = True
    sync_hash = factory.Sequence(lambda n: n + 1)


class GuardianContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GuardianContact

    district = factory.SubFactory(DistrictFactory)
    first_name = "Pat"
    last_name = "Guardian"
    email = factory.Sequence(lambda n: f"family{n}@example.org")


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment


class GuardianLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GuardianLink

    relationship = "Parent"
    contact_type = "Parent/Guardian"
