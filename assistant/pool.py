"""What retrieval finds for one question, before any fitted weight is applied: the question's
vectors, the fused dense and keyword candidates (older versions of a document dropped where the
current one says the same) with their sentence vectors, and the idf of the question's terms."""
from __future__ import annotations

from typing import Any

import numpy as np

from assistant.core.settings import RetrievalSettings
from assistant.core.text import units
from assistant.core.types import LibraryFilter
from assistant.evidence import Pool, ReaderScores, candidates_from
from assistant.retrieve import hybrid_search
from assistant.storage import IndexVersion
from assistant.understand import Understood
from assistant.versions import Versions, mark, prefer_current


def _vectors(embedder: Any, texts: list[str]) -> list[np.ndarray]:
    """Query vectors of a question's texts (itself, its parts, its focus) in one model call where the
    embedder takes several at once (one forward pass instead of up to four)."""
    batch = getattr(embedder, "query_embeddings", None)
    found = batch(texts) if batch is not None else [embedder.get_query_embedding(t) for t in texts]
    return [np.asarray(v, dtype=np.float32) for v in found]


def candidate_pool(version: IndexVersion, u: Understood, embedder: Any, r: RetrievalSettings, v: Versions,
                   only: LibraryFilter | None = None, include_superseded: bool = False, reader: Any = None) -> Pool:
    """The Pool of one question; with `include_superseded` older versions are kept, marked; with a
    `reader` (its `score(question, sentences)`) the composer's likeliest sentences get read."""
    version.require_ready()
    # every part of a multi-part question finds its own sentence; a question with background about
    # the asker is also read without it (its focus)
    focus = [u.focus_text] if u.focus != u.condensed.question else []
    vecs = _vectors(embedder, [u.dense_text(), *u.parts, *focus])
    qvec, part_vecs = vecs[0], vecs[1:1 + len(u.parts)]
    fvec = vecs[-1] if focus else None
    found = hybrid_search(version, qvec.tolist(), u.retrieval.keyword_query(), r.candidates, r.candidates,
                          r.rrf_k, only, r.fusion, r.dense_weight)
    passages = mark(found.passages, v) if include_superseded else \
        prefer_current(found.passages, v, version.document_text)
    vectors = version.sentence_vectors([p.chunk_id for p in passages])
    embed = lambda texts: np.asarray(embedder.get_text_embedding_batch(texts), dtype=np.float32)  # noqa: E731
    cands = candidates_from(passages, found.fused, found.keyword, vectors, units, embed)
    idf = version.idf(u.query.keyword_query() + (u.context.keyword_query() if u.context else [])
                      + u.retrieval.keyword_query())
    scores = ReaderScores(u.reading_text, reader.score) if reader is not None else None
    return Pool(cands, qvec, part_vecs, idf, fvec, scores)
