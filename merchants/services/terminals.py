"""Till API keys: random, shown once, stored as a hash, revocable."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from merchants.models import Store, Terminal


def terminal_create(*, store: Store, name: str) -> tuple[Terminal, str]:
    """Create a terminal and return it with its raw API key — the only time the key is seen."""
    raw_key = Terminal.new_key()
    terminal = Terminal(store=store, name=name)
    terminal.set_key(raw_key)
    with transaction.atomic():
        terminal.save()
    return terminal, raw_key


def terminal_rotate_key(*, terminal: Terminal) -> str:
    """Give a terminal a new key; the old one stops working at once."""
    raw_key = Terminal.new_key()
    terminal.set_key(raw_key)
    terminal.save(update_fields=["key_hash", "key_hint"])
    return raw_key


def terminal_revoke(*, terminal: Terminal) -> Terminal:
    terminal.active = False
    terminal.revoked_at = timezone.now()
    terminal.save(update_fields=["active", "revoked_at"])
    return terminal
