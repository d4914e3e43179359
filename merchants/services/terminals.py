"""Till API keys: random, shown once, stored as a hash, revocable for good.

Every key event (created, rotated, revoked) is recorded with its actor and time. Revoking
destroys the key hash and can never be undone (a database constraint keeps a revoked
terminal inactive); a till that needs a new key is rotated instead.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.models import Store, Terminal, TerminalKeyEvent


class TerminalRevoked(Exception):
    """The terminal's key was revoked: it can get no new key and cannot be re-activated."""

    code = "terminal_revoked"

    def __init__(self, terminal: Terminal):
        self.message = _("Terminal %(terminal)s was revoked; create a new terminal instead.") % {
            "terminal": terminal
        }
        super().__init__(self.message)


def _record(terminal: Terminal, kind: str, actor: str) -> None:
    TerminalKeyEvent.objects.create(
        terminal=terminal, kind=kind, actor=actor[:150], key_hint=terminal.key_hint
    )


def terminal_create(*, store: Store, name: str, actor: str = "system") -> tuple[Terminal, str]:
    """Create a terminal and return it with its raw API key — the only time the key is seen."""
    raw_key = Terminal.new_key()
    terminal = Terminal(store=store, name=name)
    terminal.set_key(raw_key)
    with transaction.atomic():
        terminal.save()
        _record(terminal, TerminalKeyEvent.Kind.CREATED, actor)
    return terminal, raw_key


def terminal_rotate_key(*, terminal: Terminal, actor: str = "system") -> str:
    """Give a terminal a new key; the old one stops working at once. A revoked terminal
    gets none (`TerminalRevoked`)."""
    raw_key = Terminal.new_key()
    with transaction.atomic():
        locked = Terminal.objects.select_for_update().get(pk=terminal.pk)
        if locked.is_revoked:
            raise TerminalRevoked(locked)
        terminal.set_key(raw_key)
        terminal.save(update_fields=["key_hash", "key_hint"])
        _record(terminal, TerminalKeyEvent.Kind.ROTATED, actor)
    return raw_key


def terminal_revoke(*, terminal: Terminal, actor: str = "system") -> Terminal:
    """Revoke the terminal's key for good: the hash is destroyed, the terminal inactive."""
    with transaction.atomic():
        locked = Terminal.objects.select_for_update().get(pk=terminal.pk)
        if locked.is_revoked:
            return locked
        terminal.active = False
        terminal.revoked_at = timezone.now()
        # Not a sha256 hex digest, so no key can ever hash to it again.
        terminal.key_hash = f"revoked:{terminal.pk}"
        terminal.save(update_fields=["active", "revoked_at", "key_hash"])
        _record(terminal, TerminalKeyEvent.Kind.REVOKED, actor)
    return terminal
