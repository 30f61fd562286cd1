"""The audit log: who (token, user, or the machine's user at the command line) uploaded, deleted,
replaced or edited which document, and when. One JSON object per line, appended under a lock with
O_APPEND, so an entry is whole or absent; only `purge` (the retention rule every stored record obeys)
rewrites the file, atomically."""
from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from assistant.core.rights import Rights
from assistant.storage.manifest import atomic_write

ACTIONS = ("upload", "ingest", "delete", "replace", "edit")
_LOCK = threading.Lock()


def _now() -> datetime:
    return datetime.now(timezone.utc)


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, who: str, action: str, doc_id: str, title: str = "", collection: str = "",
            **detail: Any) -> dict[str, Any]:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        entry = {"at": _now().isoformat(timespec="seconds"), "who": who or "?", "action": action, "doc_id": doc_id,
                 "title": title, "collection": collection, **({"detail": detail} if detail else {})}
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _LOCK:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    def entries(self, rights: Rights | None = None) -> list[dict[str, Any]]:
        """Every entry, oldest first (a torn last line from a crash mid-write is left out); with `rights`,
        those of the collections they may read (an administrator sees what happened in its collections)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out if rights is None else [e for e in out if rights.sees(e.get("collection") or "")]

    def purge(self, older_than_days: float | None = None) -> int:
        """Delete entries older than `older_than_days` (all of them when None); returns how many."""
        with _LOCK:
            entries = self.entries()
            if older_than_days is None:
                kept: list[dict[str, Any]] = []
            else:
                cutoff = _now() - timedelta(days=older_than_days)
                kept = [e for e in entries if datetime.fromisoformat(e["at"]) >= cutoff]
            if len(kept) != len(entries):
                atomic_write(self.path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in kept), private=True)
            return len(entries) - len(kept)
