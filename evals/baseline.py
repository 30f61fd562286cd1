"""The naive pipeline every report compares against: raw pypdf text, llama-index's SentenceSplitter
with its defaults, the same embedder, dense retrieval only, and the top chunks as the answer.

It is what a first llama-index tutorial would build; our system must beat it to earn its complexity.
Vectors go through the same embedding cache, so the baseline costs one embedding pass per corpus.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from assistant.core.settings import Settings
from assistant.core.types import Answer, Citation, Passage
from ingest.embed_cache import EmbeddingCache, EmbedStats, embed_texts
from ingest.loaders import load
from ingest.pipeline import catalogue_entry, discover, slug

ANSWER_CHUNKS = 3


class NaiveBaseline:
    """Dense-only retrieval over default-sized chunks of uncleaned text; never refuses."""

    def __init__(self, settings: Settings, embedder: Any, folder: Path | None = None) -> None:
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter

        files, _ = discover([folder or settings.store.corpus_dir])
        docs = []
        for path in files:
            try:
                raw = load(path)
            except Exception:  # the baseline indexes what loads; our pipeline reports the rest
                continue
            meta = catalogue_entry(path)
            doc_id = meta.get("doc_id") or slug(path.stem)
            for page, text in raw.pages:  # one Document per page, as llama-index's PDF reader does
                docs.append(Document(text=text, metadata={"doc_id": doc_id, "page": page or 0,
                                                          "title": meta.get("title", path.stem), "source": path.name}))
        nodes = SentenceSplitter().get_nodes_from_documents(docs)
        cache = EmbeddingCache(settings.store.data_dir / "embedding-cache.sqlite3", settings.vector_space)
        try:
            vectors = embed_texts([n.get_content() for n in nodes], embedder.get_text_embedding_batch, cache,
                                  EmbedStats())
        finally:
            cache.close()
        for n, v in zip(nodes, vectors):
            n.embedding = v
        self.chunks = len(nodes)
        self._index = VectorStoreIndex(nodes, embed_model=embedder)  # nodes carry vectors: nothing re-embedded

    def retrieve(self, question: str, k: int | None = None, history: list[str] | None = None) -> list[Passage]:
        hits = self._index.as_retriever(similarity_top_k=k or 5).retrieve(question)  # history is ignored
        out = []
        for i, h in enumerate(hits):
            m = h.node.metadata
            text = h.node.get_content()
            out.append(Passage(chunk_id=h.node.node_id, doc_id=m["doc_id"], title=m["title"], source=m["source"],
                               kind="", text=text, ordinal=i, char_start=0, char_end=len(text),
                               page_start=m["page"] or None, page_end=m["page"] or None, score=float(h.score or 0)))
        return out

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        t = time.perf_counter()
        passages = self.retrieve(question, ANSWER_CHUNKS)
        cits = tuple(Citation(n, p.doc_id, p.title, p.source, p.page_start, p.text, p.text)
                     for n, p in enumerate(passages, 1))
        text = "\n\n".join(f"{p.text} [{n}]" for n, p in enumerate(passages, 1))
        return Answer(question, text, False, cits, (time.perf_counter() - t) * 1000, question, tuple(passages))


PROBE_PASSAGES = 4
PROBE_WORDS = 50


class ProbeBaseline:
    """The untuned probe: our retrieval's fused top 4 passages, every sentence scored by its e5
    cosine to the question, sentences taken best first until about 50 words; no fitted weight,
    never refuses. What any lead-first composer must beat."""

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    def _pool(self, question: str, history: list[str] | None) -> Any:
        from assistant.api import clean_question
        from assistant.chat import condense

        a = self.assistant
        version = a.index.current()
        q = clean_question(question, a.settings.retrieval.max_question_chars)
        u = a.understand(version, q, condense(q, history or [], a.settings.retrieval.max_history_turns))
        return a.pool(version, u)

    def retrieve(self, question: str, k: int | None = None, history: list[str] | None = None) -> list[Passage]:
        return [c.passage for c in self._pool(question, history).candidates[:k or 5]]

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        t = time.perf_counter()
        pool = self._pool(question, history)
        scored = []
        for c in pool.candidates[:PROBE_PASSAGES]:
            sims = c.vectors @ pool.qvec if len(c.vectors) else []
            scored += [(float(s), c.passage, a, e) for s, (a, e, _) in zip(sims, c.spans)]
        scored.sort(key=lambda x: -x[0])
        parts: list[str] = []
        cits: list[Citation] = []
        used = 0
        for _, p, a, e in scored:
            if used >= PROBE_WORDS:
                break
            text = p.text[a:e]
            n = len(cits) + 1
            cits.append(Citation(n, p.doc_id, p.title, p.source, p.page_at(a), text, p.text))
            parts.append(f"{' '.join(text.split())} [{n}]")
            used += len(text.split())
        return Answer(question, " ".join(parts), False, tuple(cits), (time.perf_counter() - t) * 1000, question,
                      tuple(c.passage for c in pool.candidates[:PROBE_PASSAGES]))
