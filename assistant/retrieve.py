"""Hybrid retrieval: dense (e5) and German BM25 candidates fused by reciprocal rank."""
from __future__ import annotations

from typing import Any

from assistant.index import KepolIndex
from assistant.types import Passage


def rrf(rankings: list[list[str]], k: int) -> dict[str, float]:
    """Reciprocal rank fusion, score = Σ 1/(k + rank) (Cormack, Clarke & Büttcher, SIGIR 2009)."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking, start=1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (k + rank)
    return fused


def hybrid_search(index: KepolIndex, query_embedding: list[float], keyword_query: list[str], k: int,
                  candidates: int, rrf_k: int, where: dict[str, Any] | None = None) -> list[Passage]:
    """Top-k passages by RRF of the dense and keyword rankings; `score` is the dense cosine
    (the calibrated relevance signal), the order is the fused one."""
    dense = index.dense_search(query_embedding, candidates, where)
    # the keyword index has no metadata filters: with a filter, dense results alone are exact
    keyword = [] if where else index.keyword_search(keyword_query, candidates)
    fused = rrf([[p.chunk_id for p in dense], [cid for cid, _ in keyword]], rrf_k)
    order = sorted(fused, key=lambda c: -fused[c])[:k]
    by_id = {p.chunk_id: p for p in dense}
    missing = [c for c in order if c not in by_id]
    if missing:  # keyword-only hits: fetch them, with their cosine to the query as score
        by_id.update(index.get(missing, query_embedding))
    return [by_id[c] for c in order if c in by_id]
