"""Invitation link tokens: unguessable, kept only as a hash.

A token is 128 random bits in URL-safe base64 (22 characters), so a text message's link stays
short. Homeroom stores its SHA-256; a leaked database holds no working link.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 16


def token_new() -> tuple[str, str]:
    """A fresh token and the hash to store for it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()
