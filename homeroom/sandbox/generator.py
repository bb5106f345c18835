"""Realistic Clever districts of any size, deterministic for a seed.

A district is built zone by zone. A zone is a feeder pattern (a few elementary schools, a middle
and a high school) whose households are generated together, so siblings can attend different
schools of the zone while memory stays bounded by one zone, whatever the district's size (`xl`,
420,000 students, is written zone after zone into the sandbox store).

The data follows Clever's own rules and quirks (../shared/reference/clever/NOTES.md): 24-hex
ascending ids; `roles` keyed by role; dob as M/D/YYYY; sections named "course - teacher - period"
with a primary teacher, co-teachers and 20-35 students; about 1.8 guardian contacts per student,
shared by siblings, with email only / phone only / both / neither; phone types Cell/Home/Work/
Other; relationship and type from Clever's enums; some contacts without sis_id, some with their
whole name in `name.last`; emails as a SIS sends them (mixed case, stray spaces). Names come from
Faker's locale lists, so non-ASCII names appear as they do in real districts. Every e-mail address
is on an example.* domain and nothing here is a real person.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker import Faker

from homeroom.sandbox.ids import IdMinter
from homeroom.sandbox.store import Store

Record = dict[str, Any]

# Fixed so that a seed gives the same district on any day: the 2026-27 school year.
SCHOOL_YEAR_START = date(2026, 8, 17)
SCHOOL_YEAR_END = date(2027, 6, 4)
GENERATED_AT = datetime(2026, 7, 20, 14, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Size:
    """How big a district is: students in all, and the shape of each feeder zone."""

    students: int
    zones: int
    elementary: int  # elementary schools (K-5) per zone
    middle: int  # middle schools (6-8) per zone
    high: int  # high schools (9-12) per zone


SIZES: dict[str, Size] = {
    "tiny": Size(students=30, zones=1, elementary=1, middle=0, high=0),
    "demo": Size(students=600, zones=1, elementary=2, middle=1, high=1),
    "large": Size(students=100_000, zones=23, elementary=4, middle=1, high=1),
    "xl": Size(students=420_000, zones=97, elementary=4, middle=1, high=1),
}

# Grades as Clever writes them; index = years after kindergarten.
MAX_CLASS_SIZE = 35
GRADES = ["Kindergarten"] + [str(g) for g in range(1, 13)]
LEVEL_GRADES = {"elementary": range(0, 6), "middle": range(6, 9), "high": range(9, 13)}
LEVEL_NAMES = {"elementary": "Elementary School", "middle": "Middle School", "high": "High School"}

# (Faker locale, share of households, home language, ISO 639-3 code)
LOCALES = [
    ("en_US", 72, "English", "eng"),
    ("es_MX", 14, "Spanish", "spa"),
    ("vi_VN", 3, "Vietnamese", "vie"),
    ("fr_FR", 2, "French", "fra"),
    ("de_DE", 2, "German", "deu"),
    ("pt_BR", 2, "Portuguese", "por"),
    ("uk_UA", 2, "Ukrainian", "ukr"),
    ("ko_KR", 1, "Korean", "kor"),
    ("zh_CN", 1, "Chinese", "zho"),
    ("hi_IN", 1, "Hindi", "hin"),
]

CORE_SUBJECTS = ["english/language arts", "math", "science", "social studies"]
SECONDARY_COURSES = {
    "english/language arts": {g: f"English {g}" for g in range(6, 13)},
    "math": {
        6: "Math 6",
        7: "Math 7",
        8: "Pre-Algebra",
        9: "Algebra I",
        10: "Geometry",
        11: "Algebra II",
        12: "Pre-Calculus",
    },
    "science": {
        6: "Science 6",
        7: "Life Science",
        8: "Physical Science",
        9: "Biology",
        10: "Chemistry",
        11: "Physics",
        12: "Environmental Science",
    },
    "social studies": {
        6: "World Cultures",
        7: "World History",
        8: "US History I",
        9: "Geography",
        10: "World History II",
        11: "US History II",
        12: "Government",
    },
}
ELECTIVES = [
    ("PE and health", "Physical Education"),
    ("arts and music", "Art"),
    ("arts and music", "Band"),
    ("language", "Spanish"),
    ("technology and engineering", "Computer Science"),
]
STAFF_TITLES = [
    ("Principal", "Administration"),
    ("Assistant Principal", "Administration"),
    ("Counselor", "Student Services"),
    ("Office Manager", "Front Office"),
    ("School Nurse", "Health Services"),
]
RESOURCES = [
    ("Lexia Core5 Reading", ["student"], "english/language arts"),
    ("Khan Academy", ["student", "teacher"], "math"),
    ("PhET Simulations", ["student", "teacher"], "science"),
    ("Teacher Toolkit", ["teacher"], None),
]


def _weighted(rng: random.Random, options: list[tuple[Any, float]]) -> Any:
    pick = rng.random() * sum(w for _, w in options)
    for value, weight in options:
        pick -= weight
        if pick < 0:
            return value
    return options[-1][0]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _day(day: date) -> str:
    return f"{day.isoformat()}T00:00:00.000Z"


class NamePool:
    """First and last names per locale, from Faker's own lists (fast, and seed-stable)."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[list[str], list[str]]] = {}
        self.last: dict[str, list[str]] = {}
        for locale, *_ in LOCALES:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
            female = list(getattr(provider, "first_names_female", provider.first_names))
            male = list(getattr(provider, "first_names_male", provider.first_names))
            self.first[locale] = (female, male)
            self.last[locale] = list(provider.last_names)

    def first_name(self, rng: random.Random, locale: str, gender: str) -> str:
        female, male = self.first[locale]
        return rng.choice(female if gender == "F" else male)

    def last_name(self, rng: random.Random, locale: str) -> str:
        return rng.choice(self.last[locale])


class DistrictGenerator:
    """Builds one district into a sandbox store. `run()` yields progress as (done, total)."""

    def __init__(self, *, size: str, seed: int) -> None:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
        self.size_name = size
        self.size = SIZES[size]
        self.seed = seed
        self.rng = random.Random(seed)
        self.faker = Faker("en_US")
        self.faker.seed_instance(seed)
        self.names = NamePool()
        self.ids = IdMinter(seed=seed, timestamp=int(GENERATED_AT.timestamp()))
        self.created = _stamp(GENERATED_AT)
        self.district_id = ""
        self.domain = ""
        self.area_codes: list[str] = []
        self.state = ""
        self.city = ""
        self.serial = 0  # numbers sis ids, phones and e-mails so that they are unique
        self.teacher_emails: set[str] = set()
        self.courses: dict[tuple[str, str], Record] = {}
        self.terms: dict[str, Record] = {}

    # -- the whole district ------------------------------------------------------------------
    def run(self, store: Store) -> Iterator[tuple[int, int]]:
        store.create_schema()
        db = store.db
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        district = self._district()
        store.insert_many("districts", [district])
        store.insert_many("terms", list(self.terms_records()))
        store.insert_many("courses", list(self._course_catalog()))
        zones = [self._zone_schools(z) for z in range(self.size.zones)]
        store.insert_many("schools", [s for zone in zones for s in zone])
        store.insert_many("users", self._district_staff([s["id"] for z in zones for s in z]))
        resources, resource_courses = self._resources()
        store.insert_many("resources", resources)
        store.add_resource_courses(resource_courses)
        db.execute("COMMIT")
        done = 0
        for number, schools in enumerate(zones):
            students = self._zone_student_count(number)
            db.execute("BEGIN")
            for collection, records in self._zone(schools, students):
                store.insert_many(collection, records)
            db.execute("COMMIT")
            done += students
            yield done, self.size.students
        store.create_indexes()
        store.set_meta(
            size=self.size_name,
            seed=self.seed,
            district=self.district_id,
            id_timestamp=self.ids.timestamp,
            id_counter=self.ids.counter,
            serial=self.serial,
            domain=self.domain,
            state=self.state,
            city=self.city,
            area_codes=",".join(self.area_codes),
            generated_at=datetime.now(UTC).isoformat(),
        )
        db.execute("PRAGMA synchronous=NORMAL")

    def _zone_student_count(self, zone: int) -> int:
        base, extra = divmod(self.size.students, self.size.zones)
        return base + (1 if zone < extra else 0)

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    # -- district-wide records ---------------------------------------------------------------
    def _district(self) -> Record:
        city = self.faker.city()
        slug = "".join(c for c in city.lower() if c.isalnum())
        self.domain = f"{slug}.example.org"
        self.district_id = self.ids.mint()
        state = self.faker.state_abbr(include_territories=False)
        self.state = state
        self.city = city
        self.area_codes = [str(self.rng.randint(201, 989)) for _ in range(3)]
        contact_first = self.names.first_name(self.rng, "en_US", "F")
        contact_last = self.names.last_name(self.rng, "en_US")
        return {
            "id": self.district_id,
            "name": f"{city} Unified School District",
            "sis_type": "powerschool",
            "launch_date": SCHOOL_YEAR_START.replace(month=7, day=1).isoformat(),
            "portal_url": f"https://clever.example.com/in/{slug}",
            "login_methods": ["clever", "google"],
            "last_sync": self.created,
            "mdr_number": str(self.rng.randint(10_000_000, 99_999_999)),
            "nces_id": str(self.rng.randint(1_000_000, 9_999_999)),
            "error": "",
            "pause_start": None,
            "pause_end": None,
            "state": "success",
            "district_contact": {
                "id": self.ids.mint(),
                "district": self.district_id,
                "email": f"{contact_first}.{contact_last}@{self.domain}".lower(),
                "name": {"first": contact_first, "last": contact_last},
                "title": "Director of Technology",
            },
            "lms_state": "",
            "lms_type": "",
            "last_attendance_sync": None,
        }

    def terms_records(self) -> Iterator[Record]:
        middle = SCHOOL_YEAR_START + (SCHOOL_YEAR_END - SCHOOL_YEAR_START) / 2
        spans = {
            "year": ("2026-2027 School Year", SCHOOL_YEAR_START, SCHOOL_YEAR_END),
            "fall": ("Semester 1 2026-2027", SCHOOL_YEAR_START, middle),
            "spring": ("Semester 2 2026-2027", middle + timedelta(days=1), SCHOOL_YEAR_END),
        }
        for key, (name, start, end) in spans.items():
            term = {
                "id": self.ids.mint(),
                "district": self.district_id,
                "name": name,
                "start_date": _day(start),
                "end_date": _day(end),
            }
            self.terms[key] = term
            yield term

    def _course_catalog(self) -> Iterator[Record]:
        catalog: list[tuple[str, str, str]] = []  # (subject, key, name)
        for g in range(0, 6):
            grade = "Kindergarten" if g == 0 else f"Grade {g}"
            catalog.append(("homeroom/advisory", f"hr{g}", f"{grade} Homeroom"))
        for subject, by_grade in SECONDARY_COURSES.items():
            for g, name in by_grade.items():
                catalog.append((subject, f"{subject}{g}", name))
        for subject, name in ELECTIVES:
            catalog.append((subject, name, name))
        for number, (subject, key, name) in enumerate(catalog, start=1):
            course = {
                "id": self.ids.mint(),
                "district": self.district_id,
                "name": name,
                "number": f"{subject[:3].upper()}-{100 + number}",
            }
            self.courses[(subject, key)] = course
            yield course

    def _zone_schools(self, zone: int) -> list[Record]:
        shape = [
            ("elementary", self.size.elementary),
            ("middle", self.size.middle),
            ("high", self.size.high),
        ]
        schools = []
        for level, count in shape:
            for _ in range(count):
                grades = LEVEL_GRADES[level]
                label = f"{self.faker.last_name()} {LEVEL_NAMES[level]}"
                number = 100 + len(schools) + zone * 10
                school_id = self.ids.mint()
                principal_first = self.names.first_name(self.rng, "en_US", "F")
                principal_last = self.names.last_name(self.rng, "en_US")
                schools.append(
                    {
                        "id": school_id,
                        "district": self.district_id,
                        "name": label,
                        "created": self.created,
                        "last_modified": self.created,
                        "sis_id": str(number),
                        "school_number": str(number),
                        "state_id": f"{self.state}-{self.rng.randint(10000, 99999)}",
                        "nces_id": f"{self.rng.randint(1_000_000, 9_999_999)}"
                        f"{self.rng.randint(10000, 99999)}",
                        "mdr_number": str(self.rng.randint(10_000_000, 99_999_999)),
                        "phone": self.phone(self.next_serial(), style=0),
                        "low_grade": GRADES[grades[0]],
                        "high_grade": GRADES[grades[-1]],
                        "location": {
                            "address": self.faker.street_address(),
                            "city": self.city,
                            "state": self.state,
                            "zip": self.faker.zipcode(),
                            "lat": f"{self.rng.uniform(30, 45):.6f}",
                            "lon": f"{self.rng.uniform(-120, -75):.6f}",
                        },
                        "principal": {
                            "name": f"{principal_first} {principal_last}",
                            "email": f"{principal_first}.{principal_last}@{self.domain}".lower(),
                        },
                    }
                )
        return schools

    def _district_staff(self, school_ids: list[str]) -> list[Record]:
        users = []
        for n, title in enumerate(["Superintendent", "Director of Technology", "Data Manager"]):
            first, last, _ = self._person_name("en_US")
            roles: Record = {"district_admin": {"legacy_id": "", "title": title}}
            if n == 2:  # a data manager who is also staff at a few schools
                roles["staff"] = self._staff_role(school_ids[:3], title, "District Office")
            users.append(self._user(first, last, None, roles, email=self._work_email(first, last)))
        return users

    def _resources(self) -> tuple[list[Record], list[tuple[str, str]]]:
        records, links = [], []
        for title, roles, subject in RESOURCES:
            rid = self.ids.mint()
            records.append(
                {
                    "id": rid,
                    "district": self.district_id,
                    "resource_id": title.lower().replace(" ", "-"),
                    "title": title,
                    "roles": roles,
                    "created": self.created,
                    "updated": self.created,
                }
            )
            for (course_subject, _), course in self.courses.items():
                if subject is None or course_subject == subject:
                    links.append((rid, course["id"]))
        return records, links

    # -- one zone ----------------------------------------------------------------------------
    def _zone(self, schools: list[Record], total: int) -> Iterator[tuple[str, list[Record]]]:
        rng = self.rng
        by_level: dict[str, list[Record]] = {}
        for school in schools:
            by_level.setdefault(self._level_of(school), []).append(school)
        grades = [g for level in by_level for g in LEVEL_GRADES[level]]
        per_grade, extra = divmod(total, len(grades))
        slots: list[tuple[int, str]] = []  # (grade, school id) for every student of the zone
        for i, g in enumerate(grades):
            level_schools = by_level[self._level_of_grade(g)]
            for k in range(per_grade + (1 if i < extra else 0)):
                slots.append((g, level_schools[k % len(level_schools)]["id"]))
        rng.shuffle(slots)

        students: list[Record] = []
        contacts: list[Record] = []
        while slots:
            size = _weighted(rng, [(1, 55), (2, 30), (3, 12), (4, 3)])
            household, slots = slots[:size], slots[size:]
            kids, guardians = self._household(household)
            students += kids
            contacts += guardians

        # Some students are enrolled at a second school of the zone as well (dual enrollment).
        school_ids = [s["id"] for s in schools]
        for student in students:
            if len(school_ids) > 1 and rng.random() < 0.01:
                role = student["roles"]["student"]
                other = rng.choice([s for s in school_ids if s != role["school"]])
                role["schools"].append(other)
                role["enrollments"].append(dict(role["enrollments"][0], school=other))

        teachers: list[Record] = []
        staff: list[Record] = []
        sections: list[Record] = []
        for level, level_schools in by_level.items():
            for school in level_schools:
                roster = [s for s in students if s["roles"]["student"]["school"] == school["id"]]
                build = self._elementary if level == "elementary" else self._secondary
                school_teachers, school_sections = build(school, roster)
                teachers += school_teachers
                sections += school_sections
                staff += self._school_staff(school, len(roster))
        # Teachers who also teach at a second school (music, special education, ...).
        for teacher in teachers:
            if len(school_ids) > 1 and rng.random() < 0.03:
                role = teacher["roles"]["teacher"]
                role["schools"].append(rng.choice([s for s in school_ids if s != role["school"]]))
        yield "users", staff + teachers + students + contacts
        yield "sections", sections

    def _level_of(self, school: Record) -> str:
        low = GRADES.index(school["low_grade"])
        return next(level for level, grades in LEVEL_GRADES.items() if low in grades)

    @staticmethod
    def _level_of_grade(grade: int) -> str:
        return next(level for level, grades in LEVEL_GRADES.items() if grade in grades)

    # -- people ------------------------------------------------------------------------------
    def _person_name(self, locale: str, last: str | None = None) -> tuple[str, str, str]:
        gender = "F" if self.rng.random() < 0.5 else "M"
        first = self.names.first_name(self.rng, locale, gender)
        return first, last or self.names.last_name(self.rng, locale), gender

    def _user(
        self, first: str, last: str, middle: str | None, roles: Record, *, email: str | None
    ) -> Record:
        return {
            "id": self.ids.mint(),
            "district": self.district_id,
            "email": email,
            "name": {"first": first, "middle": middle, "last": last},
            "created": self.created,
            "last_modified": self.created,
            "roles": roles,
        }

    def _work_email(self, first: str, last: str) -> str:
        local = "".join(c for c in f"{first[0]}{last}".lower() if c.isascii() and c.isalnum())
        email = f"{local or 'staff'}@{self.domain}"
        n = 1
        while email in self.teacher_emails:
            n += 1
            email = f"{local or 'staff'}{n}@{self.domain}"
        self.teacher_emails.add(email)
        return email

    def phone(self, serial: int, *, style: int) -> str:
        # A bijection of the serial (7919 is prime to 8,000,000), so phones never repeat.
        number = (serial * 7919) % 8_000_000
        area = self.area_codes[serial % len(self.area_codes)]
        exchange, line = 200 + number // 10_000, number % 10_000
        formats = [
            f"({area}) {exchange}-{line:04d}",
            f"{area}-{exchange}-{line:04d}",
            f"{area}{exchange}{line:04d}",
            f"+1{area}{exchange}{line:04d}",
            f"{area}.{exchange}.{line:04d}",
        ]
        return formats[style]

    def _staff_role(self, schools: list[str], title: str, department: str) -> Record:
        return {
            "staff_id": f"E{self.next_serial():06d}",
            "schools": schools,
            "title": title,
            "department": department,
            "roles": [title],
            "credentials": {"district_username": f"staff{self.serial}"},
            "legacy_id": "",
        }

    def _school_staff(self, school: Record, students: int) -> list[Record]:
        wanted = STAFF_TITLES if students > 500 else STAFF_TITLES[:1] + STAFF_TITLES[2:]
        if self.size_name == "tiny":
            wanted = STAFF_TITLES[:1]
        users = []
        for title, department in wanted:
            first, last, _ = self._person_name(_weighted(self.rng, [("en_US", 85), ("es_MX", 15)]))
            roles = {"staff": self._staff_role([school["id"]], title, department)}
            users.append(self._user(first, last, None, roles, email=self._work_email(first, last)))
        return users

    def make_teacher(self, school: Record, title: str) -> Record:
        locale = _weighted(self.rng, [("en_US", 80), ("es_MX", 12), ("vi_VN", 4), ("de_DE", 4)])
        first, last, _ = self._person_name(locale)
        serial = self.next_serial()
        roles: Record = {
            "teacher": {
                "sis_id": f"T{serial:06d}",
                "teacher_number": f"{serial:06d}",
                "state_id": f"{self.state}{self.rng.randint(1_000_000, 9_999_999)}",
                "title": title,
                "school": school["id"],
                "schools": [school["id"]],
                "credentials": {"district_username": f"t{serial:06d}"},
                "legacy_id": "",
            }
        }
        if self.rng.random() < 0.03:  # one person, two roles: Clever merges employee roles
            roles["staff"] = self._staff_role([school["id"]], "Department Chair", "Academics")
        return self._user(first, last, None, roles, email=self._work_email(first, last))

    def _household(self, slots: list[tuple[int, str]]) -> tuple[list[Record], list[Record]]:
        rng = self.rng
        locale_row = _weighted(rng, [(row, row[1]) for row in LOCALES])
        locale, _, language, language_code = locale_row
        surname = self.names.last_name(rng, locale)
        kids = []
        for grade, school_id in slots:
            kids.append(
                self.make_student(grade, school_id, locale, surname, language, language_code)
            )
        count = _weighted(rng, [(1, 25), (2, 65), (3, 10)])
        guardians = []
        shared_email = None
        for n in range(count):
            guardians.append(self.make_contact(n, locale, surname, kids, shared_email))
            if n == 0 and count > 1 and rng.random() < 0.04:
                shared_email = guardians[0]["email"]  # two parents, one family e-mail
        return kids, guardians

    def make_student(
        self, grade: int, school_id: str, locale: str, surname: str, language: str, code: str
    ) -> Record:
        rng = self.rng
        last = surname if rng.random() < 0.85 else self.names.last_name(rng, locale)
        first, last, gender = self._person_name(locale, last)
        middle = self.names.first_name(rng, locale, gender) if rng.random() < 0.5 else None
        serial = self.next_serial()
        born = date(2020 - grade, 9, 2) + timedelta(days=rng.randrange(365))
        ascii_local = "".join(c for c in f"{first}.{last}".lower() if c.isascii() and c.isalnum())
        email = f"{ascii_local or 'student'}{serial}@students.{self.domain}"
        gender_code = _weighted(rng, [("F", 49), ("M", 49), ("X", 1), ("", 1)])
        enrollment = {
            "school": school_id,
            "start_date": _day(SCHOOL_YEAR_START),
            "end_date": _day(SCHOOL_YEAR_END),
        }
        student = {
            "sis_id": str(100_000 + serial),
            "student_number": f"S{serial * 37 % 10_000_000:07d}",
            "state_id": str(rng.randint(1_000_000_000, 9_999_999_999)),
            "school": school_id,
            "schools": [school_id],
            "grade": GRADES[grade],
            "dob": f"{born.month}/{born.day}/{born.year}",
            "gender": gender_code if gender_code in ("X", "") else gender,
            "race": _weighted(
                rng,
                [
                    ("Caucasian", 45),
                    ("Black or African American", 15),
                    ("Asian", 6),
                    ("Two or More Races", 8),
                    ("American Indian", 1),
                    ("Hawaiian or Other Pacific Islander", 1),
                    ("Unknown", 4),
                    ("", 2),
                ],
            ),
            "hispanic_ethnicity": "Y" if locale == "es_MX" else ("N" if rng.random() < 0.9 else ""),
            "ell_status": "Y" if code != "eng" and rng.random() < 0.4 else "N",
            "graduation_year": str(SCHOOL_YEAR_END.year + 12 - grade),
            "location": {"zip": self.faker.zipcode()},
            "credentials": {"district_username": f"s{serial}"},
            "enrollments": [enrollment],
            "legacy_id": "",
            "created": self.created,
            "last_modified": self.created,
            "frl_status": _weighted(rng, [("Free", 30), ("Reduced", 8), ("Paid", 60), ("", 2)]),
            "gifted_status": "Y" if rng.random() < 0.07 else "N",
            "section_504_status": "Y" if rng.random() < 0.03 else "N",
            "iep_status": "Y" if rng.random() < 0.13 else "N",
            "home_language": language,
            "home_language_code": code,
            "disability": {"disability_status": "N", "disability_type": None},
            "preferred_name": {
                "first": first[:3] if rng.random() < 0.05 else None,
                "middle": None,
                "last": None,
            },
        }
        if student["iep_status"] == "Y":
            student["disability"] = {
                "disability_status": "Y",
                "disability_type": "Specific learning disability",
                "disability_code": "sld",
            }
        return self._user(first, last, middle, {"student": student}, email=email)

    def make_contact(
        self, n: int, locale: str, surname: str, kids: list[Record], shared_email: str | None
    ) -> Record:
        rng = self.rng
        if n == 0:
            relationship, kind = (
                "Parent",
                _weighted(rng, [("Parent/Guardian", 70), ("Primary", 30)]),
            )
        elif n == 1:
            relationship = _weighted(rng, [("Parent", 85), ("Grandparent", 10), ("Other", 5)])
            kind = _weighted(rng, [("Parent/Guardian", 60), ("Secondary", 25), ("Family", 15)])
        else:
            relationship = _weighted(
                rng, [("Grandparent", 50), ("Aunt/Uncle", 30), ("Other", 15), ("Sibling", 5)]
            )
            kind = _weighted(rng, [("Emergency", 70), ("Family", 20), ("Other", 10)])
        if rng.random() < 0.02:
            relationship = ""
        last = surname if n == 0 or rng.random() < 0.7 else self.names.last_name(rng, locale)
        first, last, _ = self._person_name(locale, last)
        serial = self.next_serial()
        reach = _weighted(rng, [("both", 60), ("email", 15), ("phone", 18), ("neither", 7)])
        email = phone = phone_type = None
        if reach in ("both", "email"):
            local = "".join(c for c in f"{first}.{last}" if c.isascii() and c.isalnum() or c == ".")
            domain = rng.choice(["example.com", "example.net", "example.org", "mail.example"])
            email = f"{local.strip('.') or 'family'}{serial}@{domain}"
            email = email.lower() if rng.random() < 0.85 else email  # SIS e-mails keep their case
            if rng.random() < 0.01:
                email = f" {email} "
        if shared_email and reach in ("both", "email"):
            email = shared_email
        if reach in ("both", "phone"):
            phone = self.phone(serial, style=rng.randrange(5))
            phone_type = _weighted(
                rng, [("Cell", 65), ("Home", 20), ("Work", 10), ("Other", 4), ("", 1)]
            )
        # A step-parent or relative may be linked to only some of the children.
        linked = kids if n == 0 or len(kids) == 1 or rng.random() < 0.9 else kids[:1]
        contact = {
            "sis_id": f"C{serial:07d}" if rng.random() < 0.85 else None,
            "phone": phone,
            "phone_type": phone_type,
            "legacy_id": "",
            "student_relationships": [
                {"student": kid["id"], "relationship": relationship, "type": kind} for kid in linked
            ],
        }
        if contact["sis_id"] is None:
            del contact["sis_id"]
        user = self._user(first, last, None, {"contact": contact}, email=email)
        if rng.random() < 0.2:  # the whole name arrives in name.last
            user["name"] = {"first": None, "middle": None, "last": f"{first} {last}"}
        return user

    # -- classes -----------------------------------------------------------------------------
    def _section(
        self,
        school: Record,
        course: Record,
        subject: str,
        grade: int,
        period: str,
        teacher: Record,
        students: list[Record],
        term: str = "year",
    ) -> Record:
        serial = self.next_serial()
        teacher_last = teacher["name"]["last"]
        return {
            "id": self.ids.mint(),
            "district": self.district_id,
            "school": school["id"],
            "created": self.created,
            "last_modified": self.created,
            "name": f"{course['name']} - {teacher_last} - {period}",
            "sis_id": f"SEC{serial:07d}",
            "course": course["id"],
            "term_id": self.terms[term]["id"],
            "grade": GRADES[grade],
            "period": period,
            "section_number": str(serial % 1000),
            "subject": subject,
            "teacher": teacher["id"],
            "teachers": [teacher["id"]],
            "students": [s["id"] for s in students],
        }

    def _split(self, roster: list[Record], low: int, high: int) -> list[list[Record]]:
        """Split a roster into classes of about `low`-`high` students, as evenly as possible."""
        if not roster:
            return []
        count = max(1, round(len(roster) / self.rng.randint(low, high)))
        while len(roster) / count > MAX_CLASS_SIZE:
            count += 1
        return [roster[i::count] for i in range(count)]

    def _elementary(self, school: Record, roster: list[Record]) -> tuple[list, list]:
        teachers, sections = [], []
        co_teachers = [self.make_teacher(school, "Special Education Teacher")]
        teachers += co_teachers
        for g in LEVEL_GRADES["elementary"]:
            grade_roster = [s for s in roster if s["roles"]["student"]["grade"] == GRADES[g]]
            low, high = (20, 26) if self.size_name != "tiny" else (3, 6)
            for group in self._split(grade_roster, low, high):
                teacher = self.make_teacher(school, "Teacher")
                teachers.append(teacher)
                course = self.courses[("homeroom/advisory", f"hr{g}")]
                section = self._section(
                    school, course, "homeroom/advisory", g, "HR", teacher, group
                )
                if self.rng.random() < 0.15:
                    section["teachers"].append(self.rng.choice(co_teachers)["id"])
                sections.append(section)
        return teachers, sections

    def _secondary(self, school: Record, roster: list[Record]) -> tuple[list, list]:
        """Six periods a day: four core subjects by grade and two electives that mix grades."""
        rng = self.rng
        free: dict[str, list[tuple[Record, set[str]]]] = {}  # subject -> [(teacher, periods)]

        def teacher_for(subject: str, period: str) -> Record:
            for teacher, busy in free.setdefault(subject, []):
                if period not in busy and len(busy) < 5:
                    busy.add(period)
                    return teacher
            teacher = self.make_teacher(school, f"{subject.split('/')[0].title()} Teacher")
            free[subject].append((teacher, {period}))
            return teacher

        sections = []
        grades = sorted({GRADES.index(s["roles"]["student"]["grade"]) for s in roster})
        for g in grades:
            # Core subjects, by grade, in periods 1-4 (rotated so teachers are free in turn).
            grade_roster = [s for s in roster if s["roles"]["student"]["grade"] == GRADES[g]]
            for slot, subject in enumerate(CORE_SUBJECTS):
                period = str((slot + g) % 4 + 1)
                course = self.courses[(subject, f"{subject}{g}")]
                for group in self._split(grade_roster, 24, 34):
                    teacher = teacher_for(subject, period)
                    sections.append(
                        self._section(school, course, subject, g, period, teacher, group)
                    )
        # Electives mix grades, in periods 5 and 6; high schools run them by semester.
        picks = {s["id"]: rng.sample(range(len(ELECTIVES)), 2) for s in roster}
        high_school = grades and grades[0] >= 9
        for slot in (0, 1):
            period = str(5 + slot)
            term = ("fall", "spring")[slot] if high_school else "year"
            for e, (subject, name) in enumerate(ELECTIVES):
                members = [s for s in roster if picks[s["id"]][slot] == e]
                for group in self._split(members, 24, 34):
                    teacher = teacher_for(subject, period)
                    grade = min(GRADES.index(s["roles"]["student"]["grade"]) for s in group)
                    section = self._section(
                        school,
                        self.courses[(subject, name)],
                        subject,
                        grade,
                        period,
                        teacher,
                        group,
                        term,
                    )
                    sections.append(section)
        teachers = [t for pool in free.values() for t, _ in pool]
        return teachers, sections


def generate(
    store: Store, *, size: str, seed: int, progress: Callable[[int, int], None] | None = None
) -> None:
    """Generate a district into an empty store."""
    for done, total in DistrictGenerator(size=size, seed=seed).run(store):
        if progress:
            progress(done, total)
