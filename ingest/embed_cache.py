"""Embedding cache keyed by (model, hash of the embedded text): re-chunking, metadata edits and
re-runs after a crash never pay twice for text that was embedded before."""
from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """A small SQLite table of float32 vectors; one file shared by every index in a data dir."""

    def __init__(self, path: Path, model: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.model = model
        self._db = sqlite3.connect(str(path), timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, dim INTEGER NOT NULL,"
            " vec BLOB NOT NULL, PRIMARY KEY (model, key))")
        self._db.commit()

    def get_many(self, texts: list[str]) -> dict[bytes, list[float]]:
        """Cached vectors by text key, for the texts that have one."""
        keys = list({text_key(t) for t in texts})
        out: dict[bytes, list[float]] = {}
        for i in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            part = keys[i:i + 500]
            rows = self._db.execute(
                f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({','.join('?' * len(part))})",
                [self.model, *part]).fetchall()
            out.update({k: np.frombuffer(v, dtype=np.float32).tolist() for k, v in rows})
        return out

    def put_many(self, texts: list[str], vectors: list[list[float]]) -> None:
        rows = [(self.model, text_key(t), len(v), np.asarray(v, dtype=np.float32).tobytes())
                for t, v in zip(texts, vectors)]
        with self._db:  # one transaction per batch: a killed run keeps every finished batch
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()


class EmbedStats:
    """Counters for the ingest report and the progress bar."""

    def __init__(self) -> None:
        self.embedded = 0
        self.cached = 0
        self.seconds = 0.0


def embed_texts(texts: list[str], embed_batch: Callable[[list[str]], list[list[float]]],
                cache: EmbeddingCache | None, stats: EmbedStats, batch_size: int = 32,
                on_batch: Callable[[int], None] | None = None) -> list[list[float]]:
    """Vectors for `texts`, from the cache where possible; misses are embedded in batches and stored
    batch by batch."""
    found = cache.get_many(texts) if cache else {}
    keys = [text_key(t) for t in texts]
    missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found))
    stats.cached += len(texts) - sum(1 for k in keys if k not in found)
    for i in range(0, len(missing), batch_size):
        batch = missing[i:i + batch_size]
        t0 = time.perf_counter()
        vecs = embed_batch(batch)
        stats.seconds += time.perf_counter() - t0
        stats.embedded += len(batch)
        if cache:
            cache.put_many(batch, vecs)
        found.update({text_key(t): v for t, v in zip(batch, vecs)})
        if on_batch:
            on_batch(len(batch))
    return [found[k] for k in keys]
