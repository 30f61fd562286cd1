"""Removing a document in two phases, so that a process killed at any point leaves it fully there
or fully gone. Before the commit a journal names what lies outside the index and must go with it (its
stored upload, its cached embeddings); the commit drops its chunks, keyword entries, sidecars and text.
Then the journal is carried out, and whoever finds one later (the next commit's clean-up) decides by
the manifest: the document still committed means the delete never happened (the journal is dropped),
the document gone means the journal is finished."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from assistant.storage.manifest import Manifest, atomic_write

JOURNAL = "removal.json"
CACHE_FILE = "embedding-cache.sqlite3"  # ingest/embed_cache.py, beside the index directories


def write_journal(index_dir: Path, doc_id: str, files: list[str], cache_keys: list[bytes]) -> None:
    atomic_write(index_dir / JOURNAL, json.dumps({"doc_id": doc_id, "files": files,
                                                  "cache_keys": [k.hex() for k in cache_keys]}))


def finish(index_dir: Path, manifest: Manifest) -> int:
    """Carry out or drop a journal left by a delete (see the module's rule); returns the files removed."""
    path = index_dir / JOURNAL
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0
    except ValueError:  # torn before its atomic rename could not happen; a damaged one is of no use
        path.unlink(missing_ok=True)
        return 0
    removed = 0
    if job.get("doc_id") not in manifest.documents:
        for f in job.get("files", []):
            p = Path(f)
            if p.exists():
                p.unlink()
                removed += 1
        keys = [bytes.fromhex(k) for k in job.get("cache_keys", [])]
        cache = index_dir.parent / CACHE_FILE
        if keys and cache.exists():
            with sqlite3.connect(str(cache), timeout=30) as db:
                for i in range(0, len(keys), 500):
                    part = keys[i:i + 500]
                    db.execute(f"DELETE FROM vectors WHERE key IN ({','.join('?' * len(part))})", part)
    path.unlink(missing_ok=True)
    return removed
