"""Plain metric functions: gold evidence and passages/answers in, numbers out.

Retrieval metrics follow the usual IR definitions (hit@k, recall@k, MRR, nDCG@k with binary
gains, Järvelin & Kekäläinen 2002); the unit of relevance is a gold quote, so a passage earns gain
for each gold quote it is the first to contain.
"""
from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence


def normalize(text: str) -> str:
    """Whitespace-, case- and soft-hyphen-insensitive form used to match quotes."""
    return re.sub(r"\s+", " ", text.replace("\u00ad", "")).strip().lower()


def _words(text: str) -> list[str]:
    return re.findall(r"\w{3,}", normalize(text))


def supports(quote: str, gold: str) -> bool:
    """A cited quote supports a gold quote when one contains the other or they share at least
    half of the words of the shorter one (quotes are sentence-sized, gold quotes may be parts)."""
    q, g = normalize(quote), normalize(gold)
    if not q or not g:
        return False
    if g in q or q in g:
        return True
    qw, gw = set(_words(q)), set(_words(g))
    return bool(qw and gw) and len(qw & gw) / min(len(qw), len(gw)) >= 0.5


def gold_ranks(passage_texts: Sequence[tuple[str, str]], gold: Sequence[dict[str, str]]) -> list[int | None]:
    """For each gold quote, the 1-based rank of the first passage (doc_id, text) containing it."""
    norm = [(d, normalize(t)) for d, t in passage_texts]
    out: list[int | None] = []
    for g in gold:
        quote = normalize(g["quote"])
        out.append(next((i for i, (d, t) in enumerate(norm, 1) if d == g["doc_id"] and quote in t), None))
    return out


def hit_at(ranks: Sequence[int | None], k: int) -> float:
    return float(any(r is not None and r <= k for r in ranks))


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    return sum(r is not None and r <= k for r in ranks) / len(ranks) if ranks else 0.0


def reciprocal_rank(ranks: Sequence[int | None], k: int = 10) -> float:
    found = [r for r in ranks if r is not None and r <= k]
    return 1.0 / min(found) if found else 0.0


def ndcg_at(ranks: Sequence[int | None], k: int = 10) -> float:
    """Each gold quote is one relevant item found at its rank; ideal: all at ranks 1..G."""
    dcg = sum(1.0 / math.log2(r + 1) for r in ranks if r is not None and r <= k)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(ranks), k) + 1))
    return dcg / ideal if ideal else 0.0


def key_fact_recall(answer: str, facts: Sequence[str]) -> float:
    if not facts:
        return 1.0
    text = normalize(answer)
    return sum(normalize(f) in text for f in facts) / len(facts)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0
