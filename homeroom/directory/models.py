"""The district's roster as Homeroom holds it: districts, schools, terms, courses, sections
(classrooms), staff, students, their enrollments, and guardian contacts with their links to
students.

Most rows arrive through roster sync (`homeroom.rostering`). Such a row is *sync-managed*: it
carries the source's external id and a hash of the fields sync owns, so that a re-sync that finds
the same hash writes nothing. Rows created by hand are *local*: sync never archives them, and it
adopts one (matching it by id, SIS id, student number or e-mail) rather than creating a duplicate.
Nothing is deleted when it leaves the roster: it is archived, and unarchived if it comes back.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class District(models.Model):
    """A customer: one Clever (later OneRoster) tenant, with its source, token and settings."""

    class Source(models.TextChoices):
        CLEVER = "clever", "Clever"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.CLEVER)
    source_url = models.URLField(max_length=300, help_text="e.g. https://api.clever.com")
    api_version = models.CharField(max_length=8, default="v3.0")
    external_id = models.CharField(max_length=64, blank=True, default="")
    # Fernet-encrypted with the key from settings (homeroom.rostering.secrets); never the token.
    token_encrypted = models.TextField(blank=True, default="")
    # The basis (source format, sync settings, the roster's schools) under which the last completed
    # sync confirmed the rows' wire hashes; a run on another basis does not trust them.
    wire_basis = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


def local_rows_index(name: str) -> models.Index:
    """An index of a district's local rows (no external id: added in Homeroom, not synced). They
    are few; a sync reads them to let a new roster record adopt one, where scanning the district's
    rows for them was 0.02 s of an events sync of 1,000 changes (measured)."""
    return models.Index(fields=["district"], condition=Q(external_id=""), name=name)


class Synced(models.Model):
    """What every roster row carries: its district, source identity, hash and lifecycle."""

    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=64, blank=True, default="")
    sync_hash = models.BigIntegerField(null=True, blank=True)
    # A hash of the record's bytes as the source sent them, when the last completed sync found
    # the row to hold exactly that record (no warning, references intact); see
    # `homeroom.rostering.sync.reconcile`. A record that arrives with the same bytes is not decoded.
    wire_hash = models.BigIntegerField(null=True, blank=True)
    sync_managed = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    # The run that last wrote the row: a note, neither indexed nor checked. Rows are never looked
    # up by it, and each updated row moved its entry in an index of it (7 % of the pages an
    # events sync wrote, measured). Runs are kept; read `changed_by_run_id` where one may be gone.
    changed_by_run = models.ForeignKey(
        "rostering.SyncRun",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["district", "external_id"],
                condition=~Q(external_id=""),
                name="%(class)s_unique_external_id",
            )
        ]

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class School(Synced):
    """A school of the district. An admin may set `external_id` to match an existing school."""

    name = models.CharField(max_length=300)
    sis_id = models.CharField(max_length=100, blank=True, default="")
    school_number = models.CharField(max_length=100, blank=True, default="")
    state_id = models.CharField(max_length=100, blank=True, default="")
    nces_id = models.CharField(max_length=30, blank=True, default="")
    low_grade = models.CharField(max_length=30, blank=True, default="")
    high_grade = models.CharField(max_length=30, blank=True, default="")
    phone = models.CharField(max_length=40, blank=True, default="")
    principal_name = models.CharField(max_length=200, blank=True, default="")
    principal_email = models.CharField(max_length=254, blank=True, default="")
    # Family Access: when off, connected families stay connected but see nothing of this
    # school (classes, teachers, messages). Homeroom's own field; sync never touches it.
    family_access = models.BooleanField(default=True, db_default=True)

    class Meta(Synced.Meta):
        pass

    def __str__(self) -> str:
        return self.name


class Term(Synced):
    """A term (school year, semester) that sections run in."""

    name = models.CharField(max_length=200, blank=True, default="")
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)

    class Meta(Synced.Meta):
        pass

    def __str__(self) -> str:
        return self.name


class Course(Synced):
    """A course of the district's catalog; sections are its classes."""

    name = models.CharField(max_length=300, blank=True, default="")
    number = models.CharField(max_length=100, blank=True, default="")

    class Meta(Synced.Meta):
        pass

    def __str__(self) -> str:
        return self.name


class Section(Synced):
    """A class: a *section* in the SIS, a *classroom* in Homeroom. One row, two names."""

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="sections")
    term = models.ForeignKey(Term, null=True, blank=True, on_delete=models.SET_NULL)
    course = models.ForeignKey(Course, null=True, blank=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=400)
    sis_id = models.CharField(max_length=100, blank=True, default="")
    grade = models.CharField(max_length=30, blank=True, default="")
    period = models.CharField(max_length=30, blank=True, default="")
    section_number = models.CharField(max_length=100, blank=True, default="")
    subject = models.CharField(max_length=60, blank=True, default="")
    # Family Access: when off, connected families stay connected but see nothing of this
    # classroom (classes, teachers, messages). Homeroom's own field; sync never touches it.
    family_access = models.BooleanField(default=True, db_default=True)

    class Meta(Synced.Meta):
        pass

    def __str__(self) -> str:
        return self.name


class Staff(Synced):
    """A teacher, school staff member or district admin; one person may hold several roles."""

    first_name = models.CharField(max_length=200, blank=True, default="")
    last_name = models.CharField(max_length=200, blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")
    is_teacher = models.BooleanField(default=False)
    is_staff = models.BooleanField(default=False)
    is_district_admin = models.BooleanField(default=False)
    sis_id = models.CharField(max_length=100, blank=True, default="")
    teacher_number = models.CharField(max_length=100, blank=True, default="")
    title = models.CharField(max_length=200, blank=True, default="")
    schools = models.ManyToManyField(School, blank=True, related_name="staff")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Set when the person claims their Homeroom account; from then on sync leaves their contact
    # details alone unless the district lets it "update contact details of active users".
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta(Synced.Meta):
        verbose_name_plural = "staff"
        indexes = [local_rows_index("staff_local")]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Student(Synced):
    """A student. `student_id` is the id the district chose to show: SIS id or student number."""

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="students")
    first_name = models.CharField(max_length=200, blank=True, default="")
    middle_name = models.CharField(max_length=200, blank=True, default="")
    last_name = models.CharField(max_length=200, blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")
    student_id = models.CharField(max_length=100, blank=True, default="")
    sis_id = models.CharField(max_length=100, blank=True, default="")
    student_number = models.CharField(max_length=100, blank=True, default="")
    state_id = models.CharField(max_length=100, blank=True, default="")
    grade = models.CharField(max_length=30, blank=True, default="")
    dob = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=10, blank=True, default="")
    graduation_year = models.CharField(max_length=10, blank=True, default="")
    # Fields sync does not own, kept across re-syncs.
    notes = models.TextField(blank=True, default="")

    class Meta(Synced.Meta):
        indexes = [
            models.Index(fields=["district", "sis_id"], name="student_sis_id"),
            local_rows_index("student_local"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Enrollment(models.Model):
    """A student in a section. Sync adds and removes these as the roster's section lists say."""

    # Indexed by the unique constraint (section first) and `enrollment_student`: an index of each
    # key of its own as well was a third of the pages an events sync wrote (measured).
    section = models.ForeignKey(
        Section, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    student = models.ForeignKey(
        Student, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["section", "student"], name="enrollment_unique")
        ]
        indexes = [models.Index(fields=["student"], name="enrollment_student")]

    def __str__(self) -> str:
        return f"{self.student_id} in {self.section_id}"


class SectionTeacher(models.Model):
    """A teacher of a section; `is_primary` for the section's primary teacher."""

    section = models.ForeignKey(  # indexed by the unique constraint, section first
        Section, on_delete=models.CASCADE, related_name="teachers", db_index=False
    )
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="sections_taught")
    is_primary = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["section", "staff"], name="section_teacher_unique")
        ]

    def __str__(self) -> str:
        return f"{self.staff_id} teaches {self.section_id}"


class GuardianContact(Synced):
    """The roster's record of a student's contact (Clever `roles.contact`), per district.

    It is not a family account: invitations join a contact to a person's account (families app).
    `sms_phone` is the number of the district's chosen phone type, in E.164, the only one used for
    messages and login; a Home number is kept in `home_phone` and never used for messages.
    """

    first_name = models.CharField(max_length=200, blank=True, default="")
    last_name = models.CharField(max_length=200, blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")  # normalised
    phone = models.CharField(max_length=40, blank=True, default="")  # as the roster sends it
    phone_type = models.CharField(max_length=10, blank=True, default="")
    sms_phone = models.CharField(max_length=20, blank=True, default="")
    home_phone = models.CharField(max_length=20, blank=True, default="")
    sis_id = models.CharField(max_length=100, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta(Synced.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class GuardianLink(models.Model):
    """A guardian contact's link to one student, with the roster's relationship and type."""

    # Indexed by the unique constraint (contact first) and `guardian_link_student`, as Enrollment.
    contact = models.ForeignKey(
        GuardianContact, on_delete=models.CASCADE, related_name="links", db_index=False
    )
    student = models.ForeignKey(
        Student, on_delete=models.CASCADE, related_name="guardian_links", db_index=False
    )
    relationship = models.CharField(max_length=30, blank=True, default="")
    contact_type = models.CharField(max_length=30, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "student"], name="guardian_link_unique")
        ]
        indexes = [models.Index(fields=["student"], name="guardian_link_student")]

    def __str__(self) -> str:
        return f"{self.contact_id} ({self.relationship}) of {self.student_id}"


class AuditEvent(models.Model):
    """Who changed what: a staff user or a sync run. Sync's own row writes are attributed through
    `changed_by_run` and the run's counts; every other roster write adds one of these."""

    occurred_at = models.DateTimeField(default=timezone.now)
    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    run = models.ForeignKey("rostering.SyncRun", null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=60)  # e.g. student_merge, students_archive
    summary = models.TextField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["district", "-occurred_at"], name="audit_recent")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action}"
