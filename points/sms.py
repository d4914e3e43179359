"""Text messages (SMS), shaped like Django's email backends.

`SMS_BACKEND` names the class (dotted path). Shipped:

- `points.sms.FileBackend` (the default for `make run`): appends one JSON line per message,
  `{"to", "text", "sent_at"}`, to `SMS_FILE_PATH` (default `var/sms/outbox.jsonl`).
- `points.sms.LocmemBackend` (tests): keeps messages in `points.sms.outbox`, like
  `django.core.mail.outbox`.

A real provider (Aliyun SMS, Tencent Cloud SMS) is one subclass of `BaseSmsBackend` that
implements `send_messages()`; nothing else changes.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SmsMessage:
    to: str  # 11-digit mainland mobile
    text: str  # Simplified Chinese, signed 【积分通】
    sent_at: datetime = field(default_factory=timezone.now)

    def as_dict(self) -> dict:
        return {"to": self.to, "text": self.text, "sent_at": self.sent_at.isoformat()}


class BaseSmsBackend:
    """The base class of every SMS backend.

    Subclass it and implement `send_messages(messages) -> int` (how many were accepted by
    the provider). Raise nothing for a provider's refusal of one message: log it and leave
    it out of the count; the caller never shows a provider error to the person asking for a
    code (that would tell them something about the number).
    """

    def __init__(self, **options):
        self.options = options

    def send_messages(self, messages: list[SmsMessage]) -> int:
        raise NotImplementedError("An SMS backend implements send_messages().")


class LocmemBackend(BaseSmsBackend):
    """Keeps messages in memory (`points.sms.outbox`): for tests."""

    def send_messages(self, messages: list[SmsMessage]) -> int:
        outbox.extend(messages)
        return len(messages)


class FileBackend(BaseSmsBackend):
    """Appends one JSON line per message to `SMS_FILE_PATH` (`var/sms/outbox.jsonl`)."""

    _lock = threading.Lock()

    def send_messages(self, messages: list[SmsMessage]) -> int:
        path = Path(self.options.get("path") or settings.SMS_FILE_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(
            json.dumps(message.as_dict(), ensure_ascii=False) + "\n" for message in messages
        )
        with self._lock, path.open("a", encoding="utf-8") as outfile:
            outfile.write(lines)  # one write per batch: lines of concurrent senders never mix
        return len(messages)


outbox: list[SmsMessage] = []


def sms_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()


def sms_send(*, to: str, text: str) -> int:
    """Send one text message through `SMS_BACKEND`."""
    return sms_backend().send_messages([SmsMessage(to=to, text=text)])
