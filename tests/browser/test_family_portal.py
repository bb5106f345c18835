"""A parent, in a browser, from the invitation e-mail to the home page with two children."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from homeroom.families.services import invitation_issue
from homeroom.rostering.models import SyncSettings
from tests.directory.factories import EnrollmentFactory, SectionFactory, StudentFactory
from tests.families.factories import SectionTeacherFactory

LINK = re.compile(r"(http://\S+/i/[A-Za-z0-9_-]{22})\b")
PASSWORD = "a long family passphrase"


@pytest.fixture
def invitation_email(live_server, settings, transactional_db):
    """Two children of one district, with classes, and the invitation e-mail staff sent."""
    settings.HOMEROOM_BASE_URL = live_server.url
    ada = StudentFactory(first_name="Ada", last_name="Park", grade="3")
    ada.school.name = "Hill Elementary"
    ada.school.save()
    ben = StudentFactory(
        first_name="Ben",
        last_name="Park",
        grade="7",
        district=ada.district,
        school__name="Lake Middle",
    )
    SyncSettings.objects.create(district=ada.district)
    for student, class_name, teacher in ((ada, "Room 12", "Okafor"), (ben, "Science", "Nguyen")):
        section = SectionFactory(school=student.school, name=class_name)
        EnrollmentFactory(section=section, student=student)
        SectionTeacherFactory(section=section, staff__last_name=teacher)
    # Outside a test transaction the commit is real, so the e-mail goes out at once.
    invitation_issue(
        district=ada.district,
        name="Pat Park",
        email="pat.park@example.net",
        phone="",
        students=[(ada, "Parent"), (ben, "Parent")],
    )
    [message] = mail.outbox
    return message


def test_parent_goes_from_the_invitation_email_to_two_children(
    invitation_email, phone_page, screenshot
):
    page = phone_page
    [link] = LINK.findall(invitation_email.body)

    # The link shows nothing about the family until it is opened
    page.goto(link)
    assert page.get_by_role("heading").first.inner_text().startswith("You have an invitation")
    assert "Park" not in page.content()
    screenshot("link")
    page.get_by_role("button", name="Open the invitation").click()

    # One child at a time: school and child, then the next
    page.wait_for_url("**/family/invitation/")
    assert page.get_by_test_id("school").inner_text() == "Hill Elementary"
    assert page.get_by_test_id("child").inner_text() == "Ada Park"
    assert "Child 1 of 2" in page.content()
    screenshot("first-child")
    page.get_by_role("button", name="Yes, this is my child").click()
    assert page.get_by_test_id("child").inner_text() == "Ben Park"
    assert page.get_by_test_id("school").inner_text() == "Lake Middle"
    screenshot("second-child")
    page.get_by_role("button", name="Yes, this is my child").click()

    # Create the account: name and e-mail come from the invitation
    page.get_by_role("link", name="Create an account").click()
    page.wait_for_url("**/accounts/signup/**")
    assert page.get_by_label("Your name").input_value() == "Pat Park"
    assert page.get_by_label("Email").input_value() == "pat.park@example.net"
    page.get_by_label("Password").fill(PASSWORD)
    screenshot("sign-up")
    page.get_by_role("button", name="Create account").click()

    # Signed in at once (the invitation proved the address), home with both children
    page.wait_for_url("**/family/")
    cards = page.get_by_test_id("child-card")
    assert cards.count() == 2
    assert "Ada Park" in cards.nth(0).inner_text()
    assert "Room 12" in cards.nth(0).inner_text() and "Okafor" in cards.nth(0).inner_text()
    assert "Ben Park" in cards.nth(1).inner_text()
    assert "Science" in cards.nth(1).inner_text()
    assert "Your children are connected to your account." in page.content()
    path = screenshot("home")
    assert path.stat().st_size > 10_000

    # The link is used up now
    page.goto(link)
    page.get_by_role("button", name="Open the invitation").click()
    assert "already accepted" in page.content()
    screenshot("used-link")
