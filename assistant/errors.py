"""The small family of errors the CLI and UI turn into clear messages."""
from __future__ import annotations


class KepolError(Exception):
    """Base class: every error carries a hint telling the user what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class DocumentError(KepolError):
    """A single input file could not be loaded; the rest of the folder still is."""

    def __init__(self, path: str, problem: str, hint: str = "") -> None:
        super().__init__(f"{path}: {problem}", hint)
        self.path = path
        self.problem = problem


class IndexMissingError(KepolError):
    """Asking before anything was ingested."""


class UnsupportedFormatError(DocumentError):
    """A file type we do not read."""


class IndexCorruptError(KepolError):
    """The data directory is damaged (e.g. an unreadable manifest); `kepol ingest --rebuild` repairs it."""


class StoreUnavailableError(KepolError):
    """The configured Chroma server cannot be reached or refuses us."""
