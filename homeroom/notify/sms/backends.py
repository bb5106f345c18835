"""SMS backends that keep messages on this machine: console, file and in-memory."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from django.conf import settings

from homeroom.notify import sms


class ConsoleBackend:
    """Prints each message to stdout (for a developer watching a terminal)."""

    name = "console"

    def send(self, message: sms.SmsMessage) -> str:
        message_id = uuid.uuid4().hex
        sys.stdout.write(f"SMS to {message.to} ({message_id}):\n{message.body}\n{'-' * 40}\n")
        sys.stdout.flush()
        return message_id


class FileBackend:
    """Writes each message to its own file in HOMEROOM_SMS_FILE_PATH, like Django's file
    e-mail backend: the demo's outbox."""

    name = "file"

    def send(self, message: sms.SmsMessage) -> str:
        folder = Path(settings.HOMEROOM_SMS_FILE_PATH)
        folder.mkdir(parents=True, exist_ok=True)
        message_id = uuid.uuid4().hex
        (folder / f"{message_id}.txt").write_text(
            f"To: {message.to}\n\n{message.body}\n", encoding="utf-8"
        )
        return message_id


class LocmemBackend:
    """Keeps messages in `homeroom.notify.sms.outbox` (tests)."""

    name = "locmem"

    def send(self, message: sms.SmsMessage) -> str:
        sms.outbox.append(message)
        return uuid.uuid4().hex
