"""Normalising e-mails and phones as matching compares them."""

from __future__ import annotations

import pytest

from homeroom.rostering.sync.contacts import email_normalize, phone_e164


@pytest.mark.parametrize(
    ("email", "normal"),
    [
        (" Mary.Smith@Example.ORG ", "mary.smith@example.org"),
        ("a@b.c", "a@b.c"),
        ("", ""),
        ("no-at.example.org", ""),
        ("two@at@example.org", ""),
        ("@example.org", ""),
        ("local@nodot", ""),
        ("local@", ""),
    ],
)
def test_email_normalize(email: str, normal: str) -> None:
    assert email_normalize(email) == normal


@pytest.mark.parametrize(
    ("phone", "e164"),
    [
        ("(312) 555-0123", "+13125550123"),
        ("312.555.0123", "+13125550123"),
        (" 312 555 0123 ", "+13125550123"),
        ("1-312-555-0123", "+13125550123"),
        ("+1 312 555 0123", "+13125550123"),
        ("+1 (312) 555-0123 ext 4", "+13125550123"),  # the long way: phonenumbers
        ("+44 20 7946 0958", "+442079460958"),
        ("12", ""),  # too short to be possible
        ("", ""),
        ("   ", ""),
        ("not a phone", ""),
    ],
)
def test_phone_e164(phone: str, e164: str) -> None:
    assert phone_e164(phone) == e164
