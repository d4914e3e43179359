"""What a reader sees on a page, and the English in it that should be Chinese."""

import gettext
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# English that reached Chinese pages before (issue #20): each must never appear again.
KNOWN_LEAKS = [
    "purchase ·",
    "first_purchase bonus",
    "signup bonus",
    "redemption:",
    "adjustment:",
    "points past their expiry date",
    "by selecting them",
    "（分）",
    "(fen)",
    "Use the form YYYY-MM",
    "is not a month",
]

# Words that are names, not interface text (demo data, brand, formats, language switch).
ALLOWED_WORDS = {
    "jifen",
    "demo",
    "english",
    "yyyy",
    "mm",
    "dd",
    "csv",
    "jsonl",
    "pdf",
    "qr",
    "co",
    "e",
    "g",
    "id",
    "sms",
    "pos",
    "api",
    "ok",
}


class _Visible(HTMLParser):
    """Text a reader sees, plus the texts of attributes read aloud or shown (title,
    placeholder, aria-label, alt, value of buttons)."""

    SKIP = {"script", "style", "noscript", "template"}
    SHOWN_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        for name, value in attrs:
            if name in self.SHOWN_ATTRIBUTES and value:
                self.parts.append(value)
            if tag == "input" and name == "value" and value and ("type", "submit") in attrs:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    return parser.parts


@cache
def project_msgids() -> frozenset[str]:
    """Every English message id our own catalogs translate (not Django's)."""
    ids = set()
    for mo in ROOT.glob("**/locale/zh_Hans/LC_MESSAGES/django.mo"):
        if ".venv" in mo.parts:
            continue
        with open(mo, "rb") as handle:
            catalog = gettext.GNUTranslations(handle)._catalog
        for key, value in catalog.items():
            msgid = key[0] if isinstance(key, tuple) else key
            if msgid and value:
                ids.add(msgid)
    return frozenset(ids)


_FILE_NAME = re.compile(r"https?://\S+|[\w./-]+\.(?:md|py|pem|jsonl|csv|pdf)\b")
_ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z'’]+(?:[ ,.\-:]+[A-Za-z][A-Za-z'’]+)+")


def english_leaks(html: str, *, extra_allowed: frozenset[str] = frozenset()) -> list[str]:
    """English a Chinese reader would see: a known leak, a project message id shown as is,
    or any run of two or more English words that are not names (demo data, brand)."""
    texts = visible_text(html)
    joined = "\n".join(texts)
    found = [leak for leak in KNOWN_LEAKS if leak in joined]
    msgids = project_msgids()
    for text in texts:
        if text in msgids and re.search(r"[A-Za-z]{3,} [A-Za-z]{2,}", text):
            found.append(f"untranslated msgid: {text[:60]}")
            continue
        # Addresses and file names (docs/audit.md, a QR code's link) are not prose.
        text = _FILE_NAME.sub(" ", text)
        for run in _ENGLISH_RUN.findall(text):
            words = {word.lower() for word in re.findall(r"[A-Za-z]+", run)}
            if words <= ALLOWED_WORDS | extra_allowed:
                continue
            found.append(run[:60])
    return sorted(set(found))
