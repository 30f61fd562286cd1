"""One committed version of the index as a value: its manifest, its keyword index and vocabulary,
and the chunk ids it makes visible. Built once per commit; a question holds one from start to
end, whatever commits meanwhile (the load test caught an answer built from the old vocabulary and
the new passages when this was a copied, pinned index object)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.core.errors import IndexCorruptError, IndexMissingError
from assistant.core.vocabulary import Vocabulary
from assistant.storage.chroma import ChromaStore
from assistant.storage.keywords import Keywords
from assistant.storage.manifest import Manifest, manifest_path
from assistant.storage.sidecars import SentenceStore
from assistant.core.types import DocumentInfo, LibraryFilter, Passage


@dataclass(frozen=True, eq=False)
class IndexVersion:
    """What one commit made visible, and how to read it. The stores it reads through are shared:
    they hold every version's chunks, and this version shows only its own."""

    manifest: Manifest
    keywords: Keywords
    chroma: ChromaStore
    sentences: SentenceStore
    dir: Path
    whole: IndexVersion | None = None  # the committed version this is a caller's view of (seen_by)
    _views: dict[frozenset[str], IndexVersion] = field(default_factory=dict, repr=False)

    def seen_by(self, collections: frozenset[str] | None) -> IndexVersion:
        """This version as a caller who may read only `collections` (None: all) sees it: the documents
        of other collections are not in its manifest, so no search, lookup, listing, context or file
        route reads them, and its keyword indexes are those of its collections only. One view per
        set of collections and version, built on first use."""
        if collections is None or self.whole is not None:
            return self if collections is None else self.whole.seen_by(collections)  # type: ignore[union-attr]
        view = self._views.get(collections)
        if view is None:
            docs = {k: d for k, d in self.manifest.documents.items() if d.collection in collections}
            view = self if len(docs) == len(self.manifest.documents) else IndexVersion(
                Manifest(docs, self.manifest.keyword_index), self.keywords.seen_by(collections), self.chroma,
                self.sentences, self.dir, whole=self)
            self._views[collections] = view
        return view

    def collections(self) -> list[str]:
        """The collections this version's documents belong to."""
        return sorted({d.collection for d in self.manifest.documents.values()})

    @property
    def active_ids(self) -> frozenset[str]:
        return self.manifest.active

    @property
    def vocabulary(self) -> Vocabulary:
        """Every term of the keyword index (stems and compound parts): what queries are mapped onto."""
        return self.keywords.vocabulary

    def count(self) -> int:
        return len(self.manifest.active)

    def documents(self) -> list[DocumentInfo]:
        return [d.info() for d in self.manifest.documents.values()]

    def require_ready(self) -> None:
        if self.whole is not None:  # a caller's view: what matters is whether anything was ingested at all
            self.whole.require_ready()
            return
        if self.count():
            return
        stored = self.chroma.count()
        if stored and not manifest_path(self.dir).exists():
            raise IndexCorruptError(
                f"the index manifest {manifest_path(self.dir)} is missing, but the store holds {stored} chunks",
                "run `kepol ingest --rebuild` to rebuild the index from the documents")
        raise IndexMissingError(
            f"the index in {self.chroma.settings.store.data_dir} is empty",
            "run `kepol ingest` first (it reads the bundled corpus/ by default)")

    # ---------- search ----------
    def dense_search(self, query_embedding: list[float], k: int,
                     only: LibraryFilter | None = None) -> list[tuple[str, float]]:
        """(chunk_id, cosine similarity) of the `k` nearest visible chunks. Ids and distances only:
        fetching texts and metadata costs about 0.2 ms per result at 100k chunks, so only the
        passages that survive fusion are fetched (see `get`)."""
        active = self.manifest.active
        if not active:
            return []
        # Invisible chunks (staged by a running ingest, left by a killed one) may take places: ask for
        # a few more, and for many more only when that was not enough. Chroma's count() would say
        # how many exist, but it scans the collection (12 ms at 100k chunks), so it is not asked.
        n = k + 4
        while True:
            found = self.chroma.query(query_embedding, n, only)
            out = [(i, s) for i, s in found if i in active]
            if len(out) >= k or len(found) < n:
                return out[:k]
            n *= 4

    def keyword_search(self, query_terms: list[str], k: int) -> list[tuple[str, float]]:
        if self.whole is None:
            return self.keywords.search(query_terms, k)
        active = self.manifest.active  # a view's indexes hold its collections only; an old single index does not
        return [(i, s) for i, s in self.keywords.search(query_terms, k) if i in active]

    def idf(self, terms: list[str]) -> dict[str, float]:
        return self.keywords.idf(terms)

    # ---------- passages ----------
    def get(self, chunk_ids: list[str], query_embedding: list[float] | None = None) -> dict[str, Passage]:
        """Visible passages by id; with a query embedding, `score` is their cosine similarity to it."""
        active = self.manifest.active
        ids = [i for i in chunk_ids if i in active]
        return self.chroma.get(ids, query_embedding) if ids else {}

    def all_passages(self) -> list[Passage]:
        return list(self.get(sorted(self.manifest.active)).values())

    def document_passages(self, doc_id: str) -> list[Passage]:
        """A document's passages in order."""
        record = self.manifest.record(doc_id)
        return list(self.get(list(record.chunk_ids)).values()) if record else []

    def neighbours(self, p: Passage) -> list[Passage]:
        """The chunks right before and after `p` in its document (for list questions and context).
        Looked up by id in the manifest, which lists each document's chunks in order: a metadata
        query in Chroma scans the collection (about 50 ms at 100k chunks)."""
        record = self.manifest.record(p.doc_id)
        ids = record.chunk_ids if record else ()
        want = [ids[o] for o in (p.ordinal - 1, p.ordinal + 1) if 0 <= o < len(ids)]
        return sorted(self.get(want).values(), key=lambda x: x.ordinal)

    def sentence_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """Vectors of each chunk's units (`text.units`), for the chunks that have them."""
        return self.sentences.get(chunk_ids)

    def document_text(self, doc_id: str) -> str | None:
        """The committed cleaned text of a document (what chunk offsets point into), if stored."""
        record = self.manifest.record(doc_id)
        path = self.dir / "texts" / record.text_file if record and record.text_file else None
        return path.read_text(encoding="utf-8") if path is not None and path.exists() else None

    def context(self, p: Passage, chars: int = 500) -> tuple[str, str, str]:
        """(text before, the passage, text after) from the cleaned document, to show a citation in
        context; empty sides when the document text is not stored."""
        text = self.document_text(p.doc_id)
        if text is None:
            return "", p.text, ""
        return text[max(0, p.char_start - chars):p.char_start], text[p.char_start:p.char_end], \
            text[p.char_end:p.char_end + chars]
