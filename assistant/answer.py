"""Extractive, grounded answers: the best supporting sentences (or list items) from the retrieved
passages, each with a numbered citation whose quote is a verbatim substring of its passage."""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from dataclasses import dataclass

import numpy as np

from assistant.text import keyword_terms, sentence_spans, words
from assistant.types import Citation, Passage

REFUSAL = "In den Dokumenten finde ich dazu keine Angabe."
_LIST_CUE = re.compile(
    r"\b(welche[nrs]?|nenne\w*|liste\w*|aufz[äa]hl\w*|angebote?n?|handlungsfeld\w*|schwerpunkt\w*|aufgaben|"
    r"ziele|ans[äa]tze|leits[äa]tze|forderung\w*|bietet|bieten|which|list)\b", re.IGNORECASE)
_ITEM = re.compile(r"^(?:• |\d{1,2}\. |[a-z]\.\) )")
_EN_STOP = {"the", "what", "which", "how", "does", "do", "is", "are", "of", "for", "who", "offer", "and", "to", "in"}


@dataclass(frozen=True)
class Unit:
    """A sentence or list item inside a passage: the smallest thing an answer quotes."""

    passage: Passage
    rank: int
    start: int
    end: int
    is_item: bool

    @property
    def text(self) -> str:
        return self.passage.text[self.start:self.end]


def units_of(p: Passage, rank: int) -> list[Unit]:
    """Split a passage into list items (whole) and sentences (within paragraphs)."""
    out: list[Unit] = []
    pos = 0
    for block in p.text.split("\n\n"):
        b0 = p.text.index(block, pos) if block else pos
        pos = b0 + len(block)
        if not block.strip():
            continue
        if _ITEM.match(block):
            out.append(Unit(p, rank, b0, b0 + len(block), True))
            continue
        for a, e in sentence_spans(block):
            out.append(Unit(p, rank, b0 + a, b0 + e, False))
    return out


@lru_cache(maxsize=8192)
def _terms(text: str) -> frozenset[str]:
    """Stemmed term set of a text; cached because refusal checks and scoring read the same passages."""
    return frozenset(keyword_terms(text))


def _source_terms(p: Passage) -> frozenset[str]:
    """Terms that name a passage's document (title, publisher, year) rather than its content."""
    return _terms(f"{p.title} {p.publisher} {p.year or ''}")


def is_english(question: str) -> bool:
    toks = [w.lower() for w in words(question)]
    return sum(t in _EN_STOP for t in toks) >= 2 and not any(ch in question for ch in "äöüßÄÖÜ")


def is_list_question(question: str) -> bool:
    return bool(_LIST_CUE.search(question))


def _covered(t: str, terms: set[str]) -> float:
    """How well a stemmed query term is matched: 1 for the same stem; 0.8 when it is part of a longer
    compound in the text (Partnerschaft → Städtepartnerschaft); for a query compound, the share of it
    spelled by text words it contains (Migrantenorganisation ← migrant + organisation). A cheap
    stand-in for decompounding; parts shorter than 5 letters never count."""
    if t in terms:
        return 1.0
    if len(t) < 5:
        return 0.0
    if any(len(u) > len(t) and t in u for u in terms):
        return 0.8
    spelled = sum(len(u) for u in terms if 5 <= len(u) < len(t) and u in t)
    return min(spelled / len(t), 1.0) if spelled / len(t) >= 0.5 else 0.0


def _weighted(terms: set[str], wanted: list[str], idf: dict[str, float]) -> float:
    total = sum(idf.get(t, 1.0) for t in wanted)
    return sum(idf.get(t, 1.0) * _covered(t, terms) for t in wanted) / total if total else 0.0


# Questions asking for a date, an amount or contact data need such a thing in the evidence.
_ANSWER_TYPES: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (re.compile(r"^\s*(wann|seit wann|bis wann|in welchem jahr|when)\b|\b(frist|stichtag|deadline|datum)\b", re.I),
     re.compile(r"\b(1[89]\d\d|20\d\d)\b|\b(januar|februar|märz|april|mai|juni|juli|august|september|oktober|"
                r"november|dezember)\b", re.I)),
    (re.compile(r"\b(wie hoch|wie viel\w*|wieviel\w*|wie gro(ß|ss)|how much|how many|betrag|summe|budget)\b", re.I),
     re.compile(r"\d")),
    (re.compile(r"\b(telefon\w*|e-?mail\w*|adresse|kontaktdaten|ansprechpart\w*|phone|anschrift)\b", re.I),
     re.compile(r"@|\+?\d[\d /-]{5,}\d|\b(str\.|straße)\b", re.I)),
]


def typed_evidence_missing(question: str, units: list[Unit], q_terms: list[str], idf: dict[str, float]) -> bool:
    """True when the question wants a date/amount/contact and no on-topic sentence contains one."""
    for asks, has in _ANSWER_TYPES:
        if asks.search(question):
            return not any(has.search(u.text) and _weighted(_terms(u.text), q_terms, idf) >= 0.5
                           for u in units)
    return False


def coverage(question_terms: list[str], passages: list[Passage], idf: dict[str, float]) -> float:
    """Best share (idf-weighted) of the question's key terms that one passage contains."""
    best = 0.0
    for p in passages:
        terms = _source_terms(p) | _terms(p.section) | _terms(p.text)
        best = max(best, _weighted(terms, question_terms, idf))
    return best


def answerable(question: str, passages: list[Passage], idf: dict[str, float],
               min_dense: float, min_coverage: float, context: str = "") -> bool:
    """Calibrated refusal: the evidence must be semantically close and cover the question's key terms."""
    if not passages or max(p.score for p in passages) < min_dense:
        return False
    if is_english(question):
        return True  # German stems cannot match English words; rely on the cross-lingual dense score
    q_terms = list(dict.fromkeys(keyword_terms(question)))
    if not q_terms:
        return False
    cov = coverage(q_terms, passages, idf)
    if context:  # a follow-up may lean on its history for the topic words
        both = list(dict.fromkeys(q_terms + keyword_terms(context)))
        cov = max(cov, coverage(both, passages, idf))
    if cov < min_coverage:
        return False
    units = [u for rank, p in enumerate(passages) for u in units_of(p, rank)]
    return not typed_evidence_missing(question, units, q_terms, idf)


def _score_units(units: list[Unit], q_terms: list[str], c_terms: list[str], idf: dict[str, float]) -> list[float]:
    scores = []
    for u in units:
        terms = _terms(u.text)
        p = u.passage
        doc_terms = _source_terms(p)
        ctx_terms = _terms(p.section) | doc_terms
        # terms naming the source ("laut der Hamburger Erklärung") credit every sentence of it alike,
        # so the remaining terms decide which sentence answers
        lex = _weighted(terms | doc_terms, q_terms, idf) + 0.3 * _weighted(ctx_terms - terms, q_terms, idf)
        ctx = _weighted(terms | ctx_terms, c_terms, idf) if c_terms else 0.0
        s = lex + 0.35 * ctx + 0.25 / (1 + u.rank) + 0.5 * max(u.passage.score - 0.75, 0.0)
        if len(words(u.text)) < 6 and not u.is_item:
            s *= 0.5  # fragments and headings rarely answer anything alone
        scores.append(s)
    return scores


def compose(question: str, passages: list[Passage], idf: dict[str, float], max_sentences: int,
            context: str = "", embed: Callable[[str, list[str]], np.ndarray] | None = None,
            ) -> tuple[str, list[Citation]]:
    """German answer text with [n] markers, and the citations behind them (never an unsourced sentence)."""
    units = [u for rank, p in enumerate(passages) for u in units_of(p, rank)]
    if not units:
        return REFUSAL, []
    q_terms = list(dict.fromkeys(keyword_terms(question)))
    c_terms = [t for t in dict.fromkeys(keyword_terms(context)) if t not in q_terms]
    scores = _score_units(units, q_terms, c_terms, idf)
    if embed is not None and max(scores) < 0.45:
        # weak lexical signal (English question, paraphrase): rank sentences of the top passages semantically
        top = [i for i, u in enumerate(units) if u.rank < 3]
        sims = embed(question if not context else f"{context} {question}", [units[i].text for i in top])
        for i, sim in zip(top, sims):
            scores[i] = float(sim) + 0.1 / (1 + units[i].rank)
    if is_list_question(question):
        listed = _list_answer(units, scores)
        if listed is not None:
            return listed
    return _prose_answer(units, scores, max_sentences)


def _cite(n: int, u: Unit, start: int | None = None, end: int | None = None) -> Citation:
    a = u.start if start is None else start
    e = u.end if end is None else end
    p = u.passage
    return Citation(n=n, doc_id=p.doc_id, title=p.title, source=p.source, page=p.page_at(a),
                    quote=p.text[a:e], passage=p.text, kind=p.kind, section=p.section)


def _norm(s: str) -> str:
    return re.sub(r"\W+", " ", s.lower()).strip()


def _prose_answer(units: list[Unit], scores: list[float], max_sentences: int) -> tuple[str, list[Citation]]:
    order = sorted(range(len(units)), key=lambda i: -scores[i])
    best = scores[order[0]]
    chosen: list[int] = []
    seen: set[str] = set()
    for i in order:
        if len(chosen) >= max_sentences or scores[i] < 0.55 * best:
            break
        key = _norm(units[i].text)
        if key in seen or any(key in s or s in key for s in seen):
            continue  # overlapping chunks repeat sentences
        seen.add(key)
        chosen.append(i)
    # read in document order within each passage, passages in rank order
    chosen.sort(key=lambda i: (units[i].rank, units[i].start))
    parts, cits = [], []
    for n, i in enumerate(chosen, start=1):
        u = units[i]
        text = u.text[2:] if u.text.startswith("• ") else u.text
        parts.append(f"{text} [{n}]")
        cits.append(_cite(n, u))
    return " ".join(parts), cits


def _list_answer(units: list[Unit], scores: list[float]) -> tuple[str, list[Citation]] | None:
    """Answer a list question with the best-scoring run of list items (plus its lead-in sentence)."""
    runs: list[tuple[float, int, int]] = []  # (score, first, last) indexes into units
    i = 0
    while i < len(units):
        if not units[i].is_item:
            i += 1
            continue
        j = i
        while j + 1 < len(units) and units[j + 1].is_item and units[j + 1].passage is units[i].passage:
            j += 1
        if j > i:
            lead = scores[i - 1] if i > 0 and units[i - 1].passage is units[i].passage else 0.0
            runs.append((max(lead, max(scores[i:j + 1])) + 0.1 * min(j - i, 5) / 5, i, j))
        i = j + 1
    if not runs:
        return None
    # overlapping chunks hold the same list cut at different places: score it once, show the longest
    best_of: dict[str, tuple[float, int, int]] = {}
    for score, first, last in runs:
        key = _norm(units[first].text)
        old = best_of.get(key)
        if old is None:
            best_of[key] = (score, first, last)
        else:
            longer = (first, last) if last - first > old[2] - old[1] else (old[1], old[2])
            best_of[key] = (max(score, old[0]), *longer)
    score, first, last = max(best_of.values())
    if score < 0.6 * max(scores):
        return None
    parts, cits = [], []
    n = 1
    if first > 0 and units[first - 1].passage is units[first].passage and not units[first - 1].is_item:
        lead = units[first - 1]
        parts.append(f"{lead.text} [{n}]")
        cits.append(_cite(n, lead))
        n += 1
    items = units[first:last + 1]
    cits.append(_cite(n, items[0], items[0].start, items[-1].end))
    for u in items:
        text = u.text[2:] if u.text.startswith("• ") else u.text
        parts.append(f"- {text} [{n}]")
    return "\n".join(parts), cits
