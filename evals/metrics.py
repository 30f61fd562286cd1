"""Plain metric functions: gold evidence and passages/answers in, numbers out.

Matching follows the judging rules of the independent dev set (../shared/evalsets/README.md), so
our harness and its `score.py` agree. Retrieval metrics follow the usual IR definitions (hit@k,
recall@k, MRR, nDCG@k with binary gains, Järvelin & Kekäläinen 2002); the unit of relevance is a
gold quote, so a passage earns gain for each gold quote it is the first to support.
"""
from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections.abc import Sequence


_HYPHEN_BREAK = re.compile(r"(\w)-\s+(\w)")
_TOKEN = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    """The judging rules' normal form (../shared/evalsets/README.md): case ignored, whitespace runs
    made one space, words hyphenated across a line break joined ("Part- nerschaft")."""
    text = re.sub(r"\s+", " ", (text or "").replace("\u00ad", "")).strip()
    return _HYPHEN_BREAK.sub(r"\1\2", text).lower()


def coverage(gold: str, text: str) -> float:
    """Share of the gold quote's word tokens that occur in `text`."""
    g = set(_TOKEN.findall(normalize(gold)))
    return len(g & set(_TOKEN.findall(normalize(text)))) / len(g) if g else 0.0


def supports(text: str, gold: str, threshold: float = 0.6) -> bool:
    """A passage or citation supports a gold quote when it holds at least 60 % of its word tokens
    (the dev set's rule, so our figures and `score.py`'s agree)."""
    return coverage(gold, text) >= threshold


def gold_ranks(passage_texts: Sequence[str], gold: Sequence[dict[str, str]]) -> list[int | None]:
    """For each gold quote, the 1-based rank of the first passage that supports it."""
    return [next((i for i, t in enumerate(passage_texts, 1) if supports(t, g["quote"])), None) for g in gold]


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
    """Share of the facts whose normal form is a substring of the answer's."""
    if not facts:
        return 1.0
    text = normalize(answer)
    return sum(normalize(f) in text for f in facts) / len(facts)


def answer_words(answer: str) -> int:
    """Words of an answer without its citation marks."""
    return len(re.sub(r"\[\d+\]", " ", normalize(answer)).split())


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


# The lead: what a reader takes in first. The dev set's rule counts key facts in the first 50 words,
# XQuAD's rule looks for the answer span in the first 40 (../shared/evalsets README and xquad.py).
LEAD_WORDS_FACTS = 50
LEAD_WORDS_SPAN = 40
_MARK = re.compile(r"\[\d+\]")


def lead_fact_recall(answer: str, facts: Sequence[str], refused: bool = False) -> float:
    """Key-fact recall on the answer's first 50 words, citation marks removed (a refusal scores 0)."""
    if refused:
        return 0.0
    return key_fact_recall(" ".join(_MARK.sub(" ", answer).split()[:LEAD_WORDS_FACTS]), facts)


def span_norm(text: str) -> str:
    """XQuAD's normal form: NFKC, lower case, punctuation as spaces, citation marks removed."""
    text = _MARK.sub(" ", unicodedata.normalize("NFKC", text or "").lower())
    return " ".join(re.sub(r"[^\w%€$]+", " ", text).split())


def holds_span(text: str, spans: Sequence[str]) -> bool:
    """One of the gold answer spans stands in `text`, as whole words."""
    t = f" {span_norm(text)} "
    return any(f" {span_norm(s)} " in t for s in spans if span_norm(s))


def lead_holds_span(answer: str, spans: Sequence[str]) -> bool:
    """The answer span stands within the answer's first 40 words (citation marks removed)."""
    return holds_span(" ".join(_MARK.sub(" ", answer).split()[:LEAD_WORDS_SPAN]), spans)
