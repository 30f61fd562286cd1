"""Embedding and writing one run's chunks, and committing the run: the documents the run knows
(by content hash and path), the batched embed-and-stage writer, and the one-step commit."""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.errors import ChromaError

from assistant.core.errors import WriteError
from assistant.core.settings import Settings
from assistant.core.text import unit_texts
from assistant.core.types import Passage
from assistant.storage import DocumentRecord, IndexWriter, Manifest
from ingest.embed_cache import EmbeddingCache, EmbedStats, embed_texts
from ingest.read import add_time
from ingest.report import FileResult, IngestReport

# what failing writes raise; anything else (a failing model, a bug) keeps its own type
WRITE_ERRORS = (OSError, sqlite3.Error, ChromaError)


def commit_run(store: IndexWriter, committed: Manifest, docs: Docs, report: IngestReport, settings: Settings) -> None:
    """Commit the run when it changed anything (or the index has no keyword index yet); otherwise
    only collect chunks an earlier, killed run left behind."""
    t = time.perf_counter()
    changed = any(r.status in ("ingested", "removed") for r in report.results)
    try:
        if changed or not committed.keyword_index and docs.docs:
            report.cleanup_error = store.commit(Manifest(docs.docs)).cleanup_error
        elif store.orphan_count():
            store.collect_garbage()
    except WRITE_ERRORS as exc:  # the manifest swap is the last write: failing before it changes nothing
        raise write_failure(settings, exc) from exc
    add_time(report.stage_seconds, "commit", time.perf_counter() - t)


def write_failure(settings: Settings, exc: BaseException) -> WriteError:
    return WriteError(
        f"ingest stopped, nothing was committed: writing to {settings.store.data_dir} failed "
        f"({type(exc).__name__}: {str(exc)[:300]})",
        "the previous index is unchanged and still answers; free disk space or fix permissions, then run "
        "`kepol ingest` again (vectors already computed are taken from the embedding cache)")


class Docs:
    """The manifest's documents with lookups by content hash and by path, kept in step: a run over
    thousands of files must not scan every entry for every file."""

    def __init__(self, docs: dict[str, DocumentRecord]) -> None:
        self.docs = docs
        self.by_hash = {v.sha256: k for k, v in docs.items()}
        self.by_path = {v.path: k for k, v in docs.items()}

    def snapshot(self) -> Docs:
        """A view for the helper thread; entries are replaced, never changed in place, so a shallow
        copy of the maps is a consistent picture of the run's start."""
        snap = Docs.__new__(Docs)
        snap.docs, snap.by_hash, snap.by_path = dict(self.docs), dict(self.by_hash), dict(self.by_path)
        return snap

    def owner(self, sha: str) -> tuple[str, DocumentRecord] | None:
        doc_id = self.by_hash.get(sha)
        return (doc_id, self.docs[doc_id]) if doc_id is not None else None

    def known(self, path: Path, sha: str, meta_fp: str) -> FileResult | None:
        """The file is indexed already: unchanged (same path, content and catalogue entry) or a
        duplicate of another file that still exists; None when it must be read."""
        owner = self.owner(sha)
        if owner is None:
            return None
        doc_id, entry = owner
        if entry.path == str(path) and entry.catalogue == meta_fp:
            return FileResult(str(path), "unchanged", doc_id, entry.chunks)
        if entry.path != str(path) and Path(entry.path).exists():
            return FileResult(str(path), "duplicate", doc_id, reason=f"same content as {entry.source}",
                              reason_de=f"gleicher Inhalt wie {entry.source}")
        return None

    def remove(self, doc_id: str) -> None:
        entry = self.docs.pop(doc_id)
        if self.by_hash.get(entry.sha256) == doc_id:
            del self.by_hash[entry.sha256]
        if self.by_path.get(entry.path) == doc_id:
            del self.by_path[entry.path]

    def put(self, entry: DocumentRecord) -> None:
        """Add or replace; a renamed or replaced file keeps no stale entry under its old id."""
        for old in {self.by_path.get(entry.path), self.by_hash.get(entry.sha256), entry.doc_id}:
            if old is not None and old in self.docs:
                self.remove(old)
        self.docs[entry.doc_id] = entry
        self.by_hash[entry.sha256] = entry.doc_id
        self.by_path[entry.path] = entry.doc_id


class Writer:
    """Embeds chunks in batches across documents (a folder of one-page notes would otherwise call the
    model with one chunk at a time, about 10 % slower per token) and writes them to the store in
    large batches (one Chroma call per document costs more than the write itself)."""

    def __init__(self, index: IndexWriter, embedder: Any, cache: EmbeddingCache | None, stats: EmbedStats,
                 on_batch: Callable[[int], None], timings: dict[str, float], embed_batch: int = 32,
                 write_batch: int = 1024, sentence_stats: EmbedStats | None = None) -> None:
        self.index, self.embedder, self.cache, self.stats, self.on_batch = index, embedder, cache, stats, on_batch
        self.sentence_stats = sentence_stats or EmbedStats()
        self.timings, self.embed_batch, self.write_batch = timings, embed_batch, write_batch
        self.to_embed: list[tuple[Passage, str, list[str]]] = []
        self.passages: list[Passage] = []
        self.embeddings: list[list[float]] = []
        self.terms: list[list[str]] = []
        self.sentence_vectors: list[np.ndarray] = []

    def add(self, passages: list[Passage], texts: list[str], terms: list[list[str]]) -> None:
        self.to_embed += zip(passages, texts, terms)
        if len(self.to_embed) >= self.embed_batch:
            self._embed()

    def _embed(self) -> None:
        if not self.to_embed:
            return
        passages, texts, terms = zip(*self.to_embed)
        self.to_embed = []
        vectors = embed_texts(list(texts), self.embedder.get_text_embedding_batch, self.cache, self.stats,
                              batch_size=self.embed_batch, on_batch=self.on_batch)
        # each chunk's sentences too, so that answers can score them by meaning (text.units); a
        # sentence repeated by overlapping chunks is embedded once
        spans = [unit_texts(p.text) for p in passages]
        flat = embed_texts([u for s in spans for u in s], self.embedder.get_text_embedding_batch, self.cache,
                           self.sentence_stats, batch_size=self.embed_batch)
        at = 0
        for s in spans:
            vecs = np.asarray(flat[at:at + len(s)], dtype=np.float32)
            self.sentence_vectors.append(vecs if s else np.zeros((0, 0), dtype=np.float32))
            at += len(s)
        self.passages += passages
        self.embeddings += vectors
        self.terms += terms
        if len(self.passages) >= self.write_batch:
            self._write()

    def _write(self) -> None:
        if self.passages:
            t = time.perf_counter()
            self.index.stage(self.passages, self.embeddings, self.terms, self.sentence_vectors)
            add_time(self.timings, "write", time.perf_counter() - t)
            self.passages, self.embeddings, self.terms, self.sentence_vectors = [], [], [], []

    def flush(self) -> None:
        self._embed()
        self._write()
