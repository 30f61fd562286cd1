"""Catalogue edits made through the assistant (`kepol docs edit`, REST PATCH, Verwaltung) and documents
deleted there, kept in the data directory (never written into a corpus folder): each ingest run lays
them over the file's catalogue entry, so an edited document keeps its edit and a deleted one does not
come back when its folder is ingested again."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from assistant.storage.manifest import atomic_write

FILE = "library-edits.json"
EDITABLE = ("title", "kind", "publisher", "year", "collection")
LAID_OVER = EDITABLE + ("replaces",)  # a replacement names the document it replaces (assistant/manage.py)
_LOCK = threading.Lock()


def key(path: str | Path) -> str:
    return str(Path(path).resolve())


def load(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Path of the original → its edits ({"deleted": true} for a deleted document)."""
    try:
        data = json.loads((data_dir / FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def update(data_dir: Path, path: str | Path, changes: dict[str, Any]) -> None:
    """Merge `changes` into the edits of one original (None removes a field)."""
    with _LOCK:
        edits = load(data_dir)
        entry = {**edits.get(key(path), {}), **changes}
        edits[key(path)] = {k: v for k, v in entry.items() if v is not None}
        data_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(data_dir / FILE, json.dumps(edits, ensure_ascii=False, indent=1))


def applied(meta: dict[str, Any], edits: dict[str, Any] | None) -> dict[str, Any]:
    """The catalogue entry with the assistant's edits laid over it."""
    return {**meta, **{k: v for k, v in (edits or {}).items() if k in LAID_OVER}} if edits else meta
