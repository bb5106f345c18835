"""Keeps invitation tokens out of the logs.

Django logs request lines ("GET /i/<token> HTTP/1.1" 200) and warnings for error responses
("Not Found: /i/<token>"); a token in a log file is a working link for whoever reads it. This
filter, on every handler of the settings' LOGGING, replaces the token with "…".
"""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(r"/i/[A-Za-z0-9_-]+")


class InvitationTokenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_PATH.sub("/i/…", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
