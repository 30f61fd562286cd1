"""Writing: stage chunks invisibly, commit a manifest in one atomic step, collect what no version
refers to any more.

Chunks are written to Chroma before a run commits, but readers only see the chunk ids the
committed manifest lists, and the keyword index it names. Replacing manifest.json (one atomic
rename) is therefore the only step that changes what questions see: a run killed before it leaves
the previous index intact; the next run's commit collects the orphaned chunks."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from assistant.storage import removals
from assistant.storage.chroma import ChromaStore, search_text
from assistant.storage.keywords import Keywords, keyword_dirs
from assistant.storage.manifest import Manifest, atomic_write, manifest_path
from assistant.storage.sidecars import SentenceStore, TermStore
from assistant.storage.version import IndexVersion
from assistant.core.text import keyword_terms
from assistant.core.types import Passage


@dataclass(frozen=True)
class Commit:
    """What a commit produced: the new version, and the clean-up error when collecting failed
    (the commit stands; the next run collects what is left)."""

    version: IndexVersion
    cleanup_error: str = ""


class IndexWriter:
    """Stages, commits and collects for one index directory."""

    def __init__(self, dir: Path, chroma: ChromaStore, terms: TermStore, sentences: SentenceStore,
                 install: Callable[[IndexVersion], None], current: Callable[[], IndexVersion]) -> None:
        self.dir, self.chroma, self.terms, self.sentences = dir, chroma, terms, sentences
        self._install, self._current = install, current

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.dir)

    def stage(self, passages: list[Passage], embeddings: list[list[float]],
              terms: list[list[str]] | None = None, sentence_vectors: list[np.ndarray] | None = None) -> None:
        """Write chunks without making them visible (see `commit`). `terms`: each chunk's keyword
        terms (computed here when not given), kept so a commit builds the keyword index without
        re-reading and re-stemming every chunk."""
        self.chroma.add(passages, embeddings)
        if terms is None:
            terms = [keyword_terms(search_text(p)) for p in passages]
        self.terms.put({p.chunk_id: t for p, t in zip(passages, terms)})
        if sentence_vectors is not None:
            self.sentences.put({p.chunk_id: v for p, v in zip(passages, sentence_vectors)})

    def stage_text(self, doc_id: str, digest: str, text: str) -> str:
        """Store a document's cleaned text (what chunk offsets point into); returns its file name."""
        name = f"{doc_id}-{digest[:12]}.txt"
        (self.dir / "texts").mkdir(exist_ok=True)
        atomic_write(self.dir / "texts" / name, text)
        return name

    def commit(self, manifest: Manifest) -> Commit:
        """Make `manifest` the visible index: build its keyword index, swap the manifest in (the
        commit point), install the new version, then drop what nothing refers to any more."""
        ids = manifest.chunk_ids
        terms = self.terms.get(set(ids))
        missing = [i for i in ids if i not in terms]
        if missing:  # chunks staged before terms were kept (older indexes): read and stem them once
            fresh = {i: keyword_terms(search_text(p)) for i, p in self.chroma.get(missing).items()}
            self.terms.put(fresh)
            terms.update(fresh)
        parts: dict[str, tuple[list[str], list[list[str]]]] = {}
        for d in manifest.documents.values():  # one keyword index per collection (storage/keywords.py)
            ordered, part_terms = parts.setdefault(d.collection, ([], []))
            for i in d.chunk_ids:
                if i in terms:
                    ordered.append(i)
                    part_terms.append(terms[i])
        keywords = Keywords.build(self.dir, parts)
        committed = replace(manifest, keyword_index=keywords.name)
        atomic_write(self.manifest_path, committed.dumps())
        version = IndexVersion(committed, keywords, self.chroma, self.sentences, self.dir)
        self._install(version)
        try:
            self.collect_garbage()
        except Exception as exc:  # committed already; what is left over is collected by the next run
            return Commit(version, f"{type(exc).__name__}: {exc}")
        return Commit(version)

    def orphan_count(self) -> int:
        """Stored chunks the committed version does not list (left by a killed or failed run)."""
        return self.chroma.count() - self._current().count()

    def collect_garbage(self) -> int:
        """Delete stored chunks, sidecar rows, texts and keyword indexes the committed manifest does not list."""
        manifest = self._current().manifest
        removals.finish(self.dir, manifest)  # a delete's files and cached vectors, or its journal if it never committed
        active = manifest.active
        orphans = [i for i in self.chroma.ids() if i not in active]
        self.chroma.delete(orphans)
        self.terms.keep_only(active)
        self.sentences.keep_only(active)
        texts = {d.text_file for d in manifest.documents.values()}
        for f in (self.dir / "texts").glob("*.txt") if (self.dir / "texts").exists() else ():
            if f.name not in texts:
                f.unlink(missing_ok=True)
        for d in keyword_dirs(self.dir):
            if d.name != manifest.keyword_index:
                shutil.rmtree(d, ignore_errors=True)
        return len(orphans)

    def reset(self) -> None:
        """Forget everything in this index (for `--rebuild`); the embedding cache is kept."""
        self.chroma.reset()
        self.manifest_path.unlink(missing_ok=True)
        for d in keyword_dirs(self.dir):
            shutil.rmtree(d, ignore_errors=True)
        self.terms.clear()
        self.sentences.clear()
        self._install(IndexVersion(Manifest(), Keywords(), self.chroma, self.sentences, self.dir))



