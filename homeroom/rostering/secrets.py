"""Source API tokens are encrypted at rest (Fernet: AES-128-CBC with an HMAC).

The key is `HOMEROOM_TOKEN_KEY` (a Fernet key) when set; otherwise it is derived from Django's
SECRET_KEY, so a development install needs no extra setting. Rotating the key means re-entering
the districts' tokens.
"""

from __future__ import annotations

import base64
import os

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

MSG_UNREADABLE = (
    "The district's token cannot be decrypted: HOMEROOM_TOKEN_KEY or SECRET_KEY changed since it "
    "was saved. Enter the token again with `homeroom district settings SLUG --token …`."
)


class TokenUnreadable(Exception):
    pass


def _fernet() -> Fernet:
    key = os.environ.get("HOMEROOM_TOKEN_KEY")
    if not key:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"homeroom source tokens"
        ).derive(settings.SECRET_KEY.encode())
        key = base64.urlsafe_b64encode(derived).decode()
    return Fernet(key)


def token_encrypt(token: str) -> str:
    return _fernet().encrypt(token.encode()).decode()


def token_decrypt(encrypted: str) -> str:
    try:
        return _fernet().decrypt(encrypted.encode()).decode()
    except InvalidToken:
        raise TokenUnreadable(MSG_UNREADABLE) from None
