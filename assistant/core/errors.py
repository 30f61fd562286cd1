"""The small family of errors the CLI and UI turn into clear messages. Every message passes through
`redact`, so a secret a library echoes in its error text (an API key, a token) is never shown."""
from __future__ import annotations

import re

_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a configured secret so no error message can show it (Settings registers its own)."""
    if len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = re.sub(r"(sk-|Bearer\s+|token=|api_key=)[A-Za-z0-9._~+/=-]{6,}", r"\1***", text)
    return re.sub(r"kepol_[A-Za-z0-9_-]{16,}", "kepol_***", text)  # our own API tokens (faces/tokens.py)


class KepolError(Exception):
    """Base class: every error carries a hint telling the user what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        message, hint = redact(message), redact(hint)
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class DocumentError(KepolError):
    """A single input file could not be loaded; the rest of the folder still is. `de` says the same
    in German for the German faces (the chat's Verwaltung tab, the doors' bilingual answers)."""

    def __init__(self, path: str, problem: str, hint: str = "", de: str = "") -> None:
        super().__init__(f"{path}: {problem}", hint)
        self.path = path
        self.problem = redact(problem)
        self.de = redact(de) or self.problem


class IndexMissingError(KepolError):
    """Asking before anything was ingested."""


class UnsupportedFormatError(DocumentError):
    """A file type we do not read."""


class IndexCorruptError(KepolError):
    """The data directory is damaged (e.g. an unreadable manifest); `kepol ingest --rebuild` repairs it."""


class StoreUnavailableError(KepolError):
    """The configured Chroma server cannot be reached or refuses us."""


class WriteError(KepolError):
    """An ingest run could not write (disk full, file-size limit, permissions): nothing it did is
    visible, the previous index answers as before."""
