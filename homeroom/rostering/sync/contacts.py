"""Normalising contact details: e-mails as matching compares them, phones in E.164.

Rosters send e-mails with stray spaces and capitals and phones in every format; a family account is
matched on these, so they are normalised once, here.
"""

from __future__ import annotations

import phonenumbers

# Numbers without a country code are read as this region's (the districts served so far are US).
DEFAULT_REGION = "US"


def email_normalize(email: str) -> str:
    email = email.strip()
    if email.count("@") != 1:
        return ""
    local, domain = email.split("@")
    if not local or "." not in domain:
        return ""
    return f"{local}@{domain.lower()}".lower()


def phone_e164(phone: str, *, region: str = DEFAULT_REGION) -> str:
    """The number in E.164 (+13125550123), or "" when it is not a possible number."""
    if not phone.strip():
        return ""
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
