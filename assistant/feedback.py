"""Thumbs up/down with an optional comment per answer, kept durably in SQLite with what was asked,
what was answered, the citations and the settings hash, so ratings can be traced to a version.
Data protection: text can be left out, rows expire after a retention period, and `purge` deletes
them for good (the file is vacuumed, so deleted questions are not left in free pages)."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from assistant.core.types import Answer

FIELDS = ("id", "created_at", "rating", "comment", "question", "answer", "refused", "mode", "citations",
          "settings_hash")
MAX_COMMENT = 2000


class FeedbackStore:
    """One SQLite file in the data directory; every write is its own transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT,"
                       " rating INTEGER, comment TEXT, question TEXT, answer TEXT, refused INTEGER, mode TEXT,"
                       " citations TEXT, settings_hash TEXT)")

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def add(self, answer: Answer, rating: int, comment: str, settings_hash: str, store_text: bool = True,
            retention_days: float = 0.0) -> int:
        """Store one rating; rows past `retention_days` (if > 0) are deleted in the same transaction."""
        if rating not in (1, -1):
            raise ValueError("rating must be +1 (hilfreich) or -1 (nicht hilfreich)")
        cits = json.dumps([{k: v for k, v in asdict(c).items() if k != "passage"} for c in answer.citations],
                          ensure_ascii=False)
        with self._db() as db:
            if retention_days > 0:
                db.execute("DELETE FROM feedback WHERE created_at < ?", (_cutoff(retention_days),))
            cur = db.execute(
                "INSERT INTO feedback (created_at, rating, comment, question, answer, refused, mode, citations,"
                " settings_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (datetime.now(timezone.utc).isoformat(timespec="seconds"), rating, (comment or "")[:MAX_COMMENT],
                 answer.question if store_text else "", answer.answer if store_text else "", int(answer.refused),
                 answer.mode, cits, settings_hash))
            return int(cur.lastrowid or 0)

    def purge(self, older_than_days: float | None = None) -> int:
        """Delete all rows, or those older than `older_than_days`; returns how many. The file is
        checkpointed and vacuumed so the deleted text is gone from disk, not only from queries."""
        with self._db() as db:
            if older_than_days is None:
                n = db.execute("DELETE FROM feedback").rowcount
            else:
                n = db.execute("DELETE FROM feedback WHERE created_at < ?", (_cutoff(older_than_days),)).rowcount
        db = self._db()
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        return n

    def rows(self) -> list[dict[str, object]]:
        with self._db() as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(f"SELECT {', '.join(FIELDS)} FROM feedback ORDER BY id")]

    def export_csv(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=FIELDS)
        w.writeheader()
        for r in self.rows():
            w.writerow(r)
        return buf.getvalue()


def _cutoff(days: float) -> str:
    """created_at values are UTC ISO strings of one format, so they compare as text."""
    return (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
