"""The one API every face uses: Assistant.ingest / retrieve / ask."""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import replace
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import generate, manage
from assistant.audit import AuditLog
from assistant import library as library_view
from assistant import llm as llm_module
from assistant import weights as weights_module
from assistant.answer import REFUSAL, Composed, compose, near_miss
from assistant.overview import MAX_DOCUMENT_LINES, library_overview, overview
from assistant.chat import Condensed, condense
from assistant.evidence import Evidence, Pool, gather
from assistant.pool import candidate_pool
from assistant.gate import judge
from assistant.lists import with_next
from assistant.llm import LLMUnavailable
from assistant.core.rights import Rights, collection_name
from assistant.core.settings import Settings
from assistant.storage import IndexVersion, KepolIndex
from assistant.core.types import Answer, Citation, DocumentInfo, Delta, Final, LibraryFilter, Passage, StreamEvent
from assistant.understand import Understood, understand
from assistant.weights import Weights
from ingest.pipeline import IngestReport
from ingest.pipeline import ingest as run_ingest

if TYPE_CHECKING:  # imported lazily at run time: feedback storage is optional
    from assistant.feedback import FeedbackStore

EMPTY_QUESTION = "Bitte stellen Sie eine Frage zu den Dokumenten."
EVIDENCE_CACHE = 32  # questions remembered per Assistant: a few conversations' worth, a few MB
CATALOGUES = 16  # catalogues kept: one per caller's view of the committed version (a few sets of collections)


def clean_question(text: str, max_chars: int) -> str:
    """Drop control characters and cap the length: questions are data, never instructions."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text or "")
    return re.sub(r"\s+", " ", text).strip()[:max_chars]


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
        self._queries: Any = embedder  # a given embedder also embeds the questions: the same space
        self._llm: Any = None
        self._feedback: Any = None
        self._lock = threading.Lock()
        self._warm = False
        self._catalogues: OrderedDict[int, tuple[IndexVersion, library_view.Catalogue]] = OrderedDict()
        # the last questions' evidence per committed version: a door or the eval asking for passages and
        # an answer to the same question computes retrieval and sentence scores once (halves `kepol eval`)
        self._evidence_cache: OrderedDict[tuple[Any, ...], tuple[IndexVersion, Any, Evidence]] = OrderedDict()

    @property
    def index(self) -> KepolIndex:
        with self._lock:
            if self._index is None:
                self._index = KepolIndex(self.settings)
            return self._index

    @property
    def embedder(self) -> Any:
        """The llama-index embedding that ingest hands llama-index (imports llama-index)."""
        with self._lock:
            if self._embedder is None:
                from assistant.embedding import embedder_for

                self._embedder = embedder_for(self.settings)[1]
            return self._embedder

    @property
    def queries(self) -> Any:
        """The question encoder on the same engine, without llama-index: answering never imports it."""
        with self._lock:
            if self._queries is None:
                from assistant.runtime import query_encoder_for

                self._queries = query_encoder_for(self.settings)
            return self._queries

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
            vec = self.queries.get_query_embedding("warm-up")
            if version.count():
                version.vocabulary.near("warm", 1)
                version.dense_search(vec, 1)  # a damaged vector index shows at start, not at a user's question
                self._catalogue(version)
            self.reader()  # its graph is built (once) and loaded before the first question, not during it
            self._warm = True

    # ---------- ingestion ----------
    def ingest(self, paths: Sequence[str | os.PathLike[str]] | None = None, progress: bool = False,
               dry_run: bool = False, rebuild: bool = False, collection: str | None = None,
               who: str = "", action: str = "upload") -> IngestReport:
        """Ingest files/folders (default: the configured corpus folder); returns an IngestReport.
        Paths may be `str` or any path-like. `rebuild` discards the index first (the embedding
        cache keeps this cheap). `collection` puts the files into that collection (default: their
        catalogue's, else öffentlich). `who`: each file ingested goes to the audit log as `action`
        (an upload through a door, an ingest at the command line)."""
        if collection is not None:
            collection = collection_name(collection)
        if rebuild and not dry_run:
            with self._lock:  # a store too damaged to open is set aside, not fatal, when rebuilding
                if self._index is None:
                    self._index = KepolIndex(self.settings, repair=True)
        with self.index.writing():
            report = run_ingest(paths or [self.settings.store.corpus_dir], self.settings, self.index, self.embedder,
                                progress=progress, dry_run=dry_run, rebuild=rebuild, collection=collection)
        if who and not dry_run:
            committed = self.index.current().manifest
            for r in report.by_status("ingested"):
                d = committed.record(r.doc_id)
                self.audit.add(who, action, r.doc_id, d.title if d else "", d.collection if d else "",
                               file=Path(r.path).name)
        if self._warm and not dry_run:  # a serving process: the one who uploaded waits, not the next asker
            self._catalogue(self.index.current())
        return report

    def version(self, rights: Rights | None = None) -> IndexVersion:
        """The committed version as a caller with `rights` sees it (None: everything, as at the command
        line). Every read below goes through this: the documents of collections the caller may not
        read are not in what it returns (assistant/core/rights.py)."""
        return self.index.current().seen_by(rights.collections if rights else None)

    def documents(self, rights: Rights | None = None) -> list[DocumentInfo]:
        return self.version(rights).documents()

    def library(self, rights: Rights | None = None) -> list[dict[str, Any]]:
        """What is indexed, one row per document (assistant/library.py)."""
        version = self.version(rights)
        return library_view.library_rows(version, self._catalogue(version).versions)

    def folders(self, rights: Rights | None = None) -> list[str]:
        return library_view.folders(self.version(rights))

    def citation_context(self, answer: Answer, citation: Citation, chars: int = 400,
                         rights: Rights | None = None) -> tuple[str, str]:
        return library_view.citation_context(self.version(rights), answer, citation, chars)

    def source_file(self, doc_id: str, rights: Rights | None = None) -> Path | None:
        return library_view.source_file(self.version(rights), doc_id)

    # ---------- managing documents (assistant/manage.py) ----------
    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.settings.store.data_dir / "audit.jsonl")

    def delete_document(self, doc_id: str, rights: Rights | None = None, who: str = "local") -> Any:
        return manage.delete(self, doc_id, rights, who)

    def edit_document(self, doc_id: str, changes: dict[str, Any], rights: Rights | None = None,
                      who: str = "local") -> Any:
        return manage.edit(self, doc_id, changes, rights, who)

    def replace_document(self, doc_id: str, new_file: Path, rights: Rights | None = None, who: str = "local",
                         remove_old: bool = False) -> IngestReport:
        return manage.replace(self, doc_id, new_file, rights, who, remove_old)

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
        return {"feedback": rows, "exports": purge_exports(older_than_days), "audit": self.audit.purge(older_than_days)}

    # ---------- understanding, retrieval, evidence ----------
    def _catalogue(self, version: IndexVersion) -> library_view.Catalogue:
        """The catalogue of a committed version, computed once per version (assistant/library.py)."""
        with self._lock:
            cached = self._catalogues.get(id(version))
            if cached is not None and cached[0] is version:
                self._catalogues.move_to_end(id(version))
                return cached[1]
        catalogue = library_view.catalogue_of(version)
        with self._lock:
            self._catalogues[id(version)] = (version, catalogue)
            while len(self._catalogues) > CATALOGUES:
                self._catalogues.popitem(last=False)
        return catalogue

    def understand(self, version: IndexVersion, question: str, condensed: Condensed) -> Understood:
        c = self._catalogue(version)
        return understand(question, condensed, version.vocabulary, c.names, c.newest_year)

    def _evidence(self, version: IndexVersion, u: Understood, only: LibraryFilter | None,
                  include_superseded: bool = False) -> Evidence:
        """Fused candidates, re-ranked with their sentences; the best passages' sentences scored. The
        same question (as understood) against the same committed version gives the same evidence."""
        # the weights are part of the key: evals give copies of one assistant other weights to try
        key = (id(version), id(self.weights), u.question, u.condensed.question, u.condensed.context, only,
               include_superseded)
        with self._lock:
            hit = self._evidence_cache.get(key)
            if hit is not None and hit[0] is version and hit[1] is self.weights:
                self._evidence_cache.move_to_end(key)
                return hit[2]
        s = self.settings
        ev = gather(u, self.pool(version, u, only, include_superseded), self.weights,
                    max(s.retrieval.top_k, s.retrieval.read_passages), s.retrieval.read_passages,
                    s.retrieval.reader_sentences)
        with self._lock:
            self._evidence_cache[key] = (version, self.weights, ev)
            while len(self._evidence_cache) > EVIDENCE_CACHE:
                self._evidence_cache.popitem(last=False)
        return ev

    def pool(self, version: IndexVersion, u: Understood, only: LibraryFilter | None = None,
             include_superseded: bool = False) -> Pool:
        """What retrieval finds for the question (assistant/pool.py)."""
        return candidate_pool(version, u, self.queries, self.settings.retrieval, self._catalogue(version).versions,
                              only, include_superseded, self.reader())

    def reader(self) -> Any:
        """The fitted reader (assistant/e5/reader.py), or None when it is switched off or cannot run here
        (then the first-stage weights decide, as before the reader existed)."""
        r = self.settings.retrieval
        if not r.reader or self.weights.reader is None:
            return None
        from assistant.e5.reader import shared_reader

        return shared_reader(self.settings.graph_dir, r.reader_precision)

    def retrieve(self, question: str, k: int | None = None, history: list[str] | None = None,
                 only: LibraryFilter | None = None, include_superseded: bool = False,
                 rights: Rights | None = None) -> list[Passage]:
        """Ranked passages for a question (follow-ups resolved against `history`)."""
        q = clean_question(question, self.settings.retrieval.max_question_chars)
        if not q:
            return []
        k = k or self.settings.retrieval.top_k
        version = self.version(rights)
        version.require_ready()
        u = self.understand(version, q, condense(q, history or [], self.settings.retrieval.max_history_turns))
        ev = self._evidence(version, u, only, include_superseded)
        return list(ev.passages[:k])

    # ---------- answering ----------
    def ask(self, question: str, history: list[str] | None = None,
            only: LibraryFilter | None = None, include_superseded: bool = False,
            rights: Rights | None = None) -> Answer:
        """A grounded German answer with citations, or a refusal when the documents do not say."""
        final = None
        for event in self.ask_stream(question, history, only, include_superseded, rights):
            if isinstance(event, Final):
                final = event.answer
        assert final is not None
        return final

    def ask_stream(self, question: str, history: list[str] | None = None,
                   only: LibraryFilter | None = None, include_superseded: bool = False,
                   rights: Rights | None = None) -> Iterator[StreamEvent]:
        """Deltas as the answer is produced (line by line, or the model's tokens), then the final,
        verified Answer. Stages: understand → evidence → gate → generate (optional) / extract. With
        `rights`, every stage reads only the caller's collections (its view of the version)."""
        self.warm_up()  # one-off model/store loading is start-up cost, not per-question latency
        t0 = time.perf_counter()
        q = clean_question(question, self.settings.retrieval.max_question_chars)
        if not q:
            yield Final(Answer(question=question, answer=EMPTY_QUESTION, refused=True))
            return
        llm, notice = self._llm_or_notice()
        rules = condense(q, history or [], self.settings.retrieval.max_history_turns)
        c, llm, failed = generate.condense(llm, rules, history or [], self.settings.retrieval.max_history_turns)
        notice = failed or notice
        version = self.version(rights)  # one committed version for the whole question, whatever commits meanwhile
        version.require_ready()
        u = self.understand(version, q, c)
        ev = self._evidence(version, u, only, include_superseded)
        base = Answer(question=q, answer="", refused=True, standalone_question=c.standalone, passages=ev.passages,
                      notice=notice)
        verdict = judge(u, ev, self.weights, self.settings.retrieval.min_dense_score)
        # an overview of a document it names (or of the library) is answered by the documents themselves
        whole = not u.instruction and ((u.wants_overview and len(u.summed_up) == 1) or u.wants_library)
        if not (verdict.answerable or whole):
            answer = self._refusal(base, ev, verdict.near)
        else:
            generated = yield from generate.generate(llm, base, c) if llm is not None else generate.nothing()
            answer = generated if isinstance(generated, Answer) else self._extract(
                version, u, ev, replace(base, notice=generated or base.notice))
        if answer.mode == "extractive" or answer.refused:  # a model's answer streamed as it came
            for line in answer.answer.splitlines(keepends=True):  # line by line; joined, exactly the answer
                yield Delta(line)
        yield Final(replace(answer, latency_ms=(time.perf_counter() - t0) * 1000))

    def _refusal(self, base: Answer, ev: Evidence, near: bool) -> Answer:
        """The plain refusal, or, when the documents come close, the closest passage marked as such."""
        c = near_miss(ev) if near else Composed(REFUSAL, REFUSAL, [])
        return replace(base, answer=c.text, lead=c.lead, citations=tuple(c.citations))

    def _extract(self, version: IndexVersion, u: Understood, ev: Evidence, base: Answer) -> Answer:
        """The extractive answer: an overview of a document, or the composed evidence."""
        s = self.settings
        doc = self._overview_document(u, ev)
        more = lambda p: with_next(version, p)  # noqa: E731
        if u.wants_library:
            docs = sorted(version.documents(), key=lambda d: d.title)
            c = library_overview([version.document_passages(d.doc_id) for d in docs[:MAX_DOCUMENT_LINES]], len(docs),
                                 s.retrieval.overview_words)
        elif doc is not None:
            c = overview(version.document_passages(doc), s.retrieval.overview_words, more)
        else:
            c = compose(u, ev, self.weights, s.retrieval.answer_words, ev.idf, more)
        citations = [x for x in c.citations if x.quote and x.quote in x.passage]  # never show an unverifiable quote
        return replace(base, answer=c.text, lead=c.lead, refused=not citations, citations=tuple(citations),
                       emphasis=c.emphasis)

    @staticmethod
    def _overview_document(u: Understood, ev: Evidence) -> str | None:
        """The document an overview question is about: the one it names (or whose title it gives), else
        the best passage's."""
        if not u.wants_overview:
            return None
        if len(u.summed_up) == 1:
            return next(iter(u.summed_up))
        return ev.passages[0].doc_id if ev.passages and not u.summed_up else None

    def _llm_or_notice(self) -> tuple[Any, str]:
        """The configured language model (built once), or None with the reason to show the user."""
        if self.settings.model.llm_backend == "none":
            return None, ""
        with self._lock:
            if self._llm is None:
                try:
                    self._llm = llm_module.make_llm(self.settings)
                except LLMUnavailable as exc:
                    return None, generate.fallback_notice(exc)
            return self._llm, ""
