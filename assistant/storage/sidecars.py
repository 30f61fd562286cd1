"""Per-chunk data kept beside the vector store in SQLite, keyed by chunk id: each chunk's keyword
terms (so a commit builds the keyword index without re-stemming every chunk) and its sentence
vectors (so answers score sentences by meaning without embedding them at question time). Chunk
ids hash the chunk, so rows of uncommitted runs are harmless and collected with the orphans."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection
from pathlib import Path

import numpy as np


class _Table:
    """One lazily opened SQLite table, safe to share between threads."""

    SCHEMA = ""
    TABLE = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:  # opened on first use: many readers never need it
            self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(self.SCHEMA)
        return self._db

    def keep_only(self, ids: Collection[str]) -> None:
        with self._lock:
            stale = [(i,) for (i,) in self._conn().execute(f"SELECT chunk_id FROM {self.TABLE}") if i not in ids]
            with self._conn() as db:
                db.executemany(f"DELETE FROM {self.TABLE} WHERE chunk_id = ?", stale)

    def clear(self) -> None:
        with self._lock, self._conn() as db:
            db.execute(f"DELETE FROM {self.TABLE}")

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class TermStore(_Table):
    """Each staged chunk's keyword terms."""

    TABLE = "terms"
    SCHEMA = "CREATE TABLE IF NOT EXISTS terms (chunk_id TEXT PRIMARY KEY, terms TEXT NOT NULL)"

    def put(self, terms: dict[str, list[str]]) -> None:
        with self._lock, self._conn() as db:
            db.executemany("INSERT OR REPLACE INTO terms VALUES (?, ?)", [(i, " ".join(t)) for i, t in terms.items()])

    def get(self, ids: Collection[str]) -> dict[str, list[str]]:
        with self._lock:
            rows = self._conn().execute("SELECT chunk_id, terms FROM terms").fetchall()
        return {i: t.split() for i, t in rows if i in ids}


class SentenceStore(_Table):
    """Each staged chunk's sentence vectors (float16, one row per chunk, in the order of `text.units`)."""

    TABLE = "vectors"
    SCHEMA = ("CREATE TABLE IF NOT EXISTS vectors (chunk_id TEXT PRIMARY KEY, n INTEGER NOT NULL,"
              " dim INTEGER NOT NULL, vecs BLOB NOT NULL)")

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        rows = [(i, int(v.shape[0]), int(v.shape[1]) if v.ndim == 2 else 0, v.astype(np.float16).tobytes())
                for i, v in vectors.items()]
        with self._lock, self._conn() as db:
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)

    def get(self, ids: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self._lock:
            db = self._conn()
            for k in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
                part = ids[k:k + 500]
                rows = db.execute(f"SELECT chunk_id, n, dim, vecs FROM vectors WHERE chunk_id IN "
                                  f"({','.join('?' * len(part))})", part).fetchall()
                for i, n, dim, blob in rows:
                    out[i] = np.frombuffer(blob, dtype=np.float16).astype(np.float32).reshape(n, dim)
        return out
