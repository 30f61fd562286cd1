"""Extractive, grounded answers: the best supporting sentences (or list items) from the retrieved
passages, each with a numbered citation whose quote is a verbatim substring of its passage."""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from dataclasses import dataclass

import numpy as np

from assistant.query import Query
from assistant.text import LIST_ITEM, is_english, keyword_terms, sentence_spans, words
from assistant.types import Citation, Passage

REFUSAL = "In den Dokumenten finde ich dazu keine Angabe."
# "Welches/Welcher …" ask for one thing; "Welche …", "nenne …", "Angebote" may ask for a list
_LIST_CUE = re.compile(
    r"\b(welche|welchen|nenne\w*|liste\w*|aufz[äa]hl\w*|angebote?n?|handlungsfeld\w*|schwerpunkt\w*|aufgaben|"
    r"ziele|ans[äa]tze|leits[äa]tze|forderung\w*|mehrwerte|themen|bietet|bieten|which|list)\b", re.IGNORECASE)


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
        if LIST_ITEM.match(block):
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


def is_list_question(question: str) -> bool:
    return bool(_LIST_CUE.search(question))


def _covered(t: str, terms: frozenset[str] | set[str], alternatives: tuple[frozenset[str], ...] = ()) -> float:
    """How well a stemmed query term is matched: 1 for the same stem or a synonym/abbreviation whose
    terms all occur; 0.8 when it is part of a longer compound in the text (Partnerschaft →
    Städtepartnerschaft); for a query compound, the share of it spelled by text words it contains
    (Migrantenorganisation ← migrant + organisation); a hyphenated term by its parts."""
    if t in terms or any(alt <= terms for alt in alternatives):
        return 1.0
    if "-" in t:
        parts = [x for x in t.split("-") if x]
        return sum(1.0 if x in terms else _covered(x, terms) for x in parts) / len(parts) if parts else 0.0
    if len(t) < 5:
        return 0.0
    if any(len(u) > len(t) and t in u for u in terms):
        return 0.8
    spelled = sum(len(u) for u in terms if 5 <= len(u) < len(t) and u in t)
    return min(spelled / len(t), 1.0) if spelled / len(t) >= 0.5 else 0.0


def _weighted(terms: frozenset[str] | set[str], q: Query, idf: dict[str, float]) -> float:
    """idf-weighted share of the query's terms that `terms` cover; a term found nowhere in the
    corpus (a place or name the documents never mention) weighs double."""
    weight = {t: idf.get(t, 1.0) * (2.0 if t in q.unknown else 1.0) for t in q.terms}
    total = sum(weight.values())
    return sum(w * _covered(t, terms, q.alternatives.get(t, ())) for t, w in weight.items()) / total if total else 0.0


# What a question asks for, and what a sentence that answers it contains.
_DATE = re.compile(r"\b(1[89]\d\d|20\d\d)\b|\b(januar|februar|märz|april|mai|juni|juli|august|september|"
                   r"oktober|november|dezember)\b", re.I)
_ANSWER_TYPES: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    ("date", re.compile(r"^\s*(wann|seit wann|bis wann|in welchem jahr|when|since when|until when)\b|"
                        r"\b(frist|stichtag|deadline|datum|termin|due date)\b", re.I), _DATE),
    ("frequency", re.compile(r"\b(wie oft|wie häufig|in welchem (rhythmus|turnus)|how often)\b", re.I),
     re.compile(r"\b(jährlich|halbjährlich|monatlich|wöchentlich|täglich|regelmäßig|alle \w+ jahre|\w+mal |"
                r"pro jahr|im jahr|jedes jahr)", re.I)),
    ("amount", re.compile(r"\b(wie hoch|wie viel\w*|wieviel\w*|wie gro(ß|ss)|how much|how many|how large|"
                          r"betrag|summe|budget|preisgeld)\b", re.I), re.compile(r"\d")),
    ("contact", re.compile(r"\b(telefon\w*|e-?mail\w*|adresse|kontaktdaten|phone|anschrift|erreiche ich)\b", re.I),
     re.compile(r"@|\+?\d[\d /-]{5,}\d|\b(str\.|straße)\b", re.I)),
]
_DEFINITION_Q = re.compile(r"^\s*(was (ist|sind|bedeutet|meint|heißt)|was versteht man|wie ist .* zu verstehen|"
                           r"what (is|are|does .* mean))\b", re.I)
_DEFINES = re.compile(r"\b(meint|bezeichnet|versteht man|verstanden|bedeutet|heißt|ist ein|ist eine)\b", re.I)


_CONTINUES = re.compile(r"^(doch|daher|deshalb|deswegen|dazu|dafür|damit|dies|diese[rs]?|hierzu|hierfür|so|"
                        r"somit|also|zudem|außerdem|darüber hinaus)\b", re.I)
_ENDS_SENTENCE = re.compile(r"[.!?:;…“”\"')\]]\s*$")


def answer_type(question: str) -> tuple[str, re.Pattern[str]] | None:
    for name, asks, has in _ANSWER_TYPES:
        if asks.search(question):
            return name, has
    return None


def _unit_terms(units: list[Unit], i: int) -> frozenset[str]:
    """A sentence's terms plus those of the sentence before it in the same paragraph and its
    section: "Insgesamt haben sich … 500 Kommunen beteiligt" is about Connective Cities because the
    sentence before names it."""
    u = units[i]
    terms = _terms(u.text) | _terms(u.passage.section) | _source_terms(u.passage)
    heading_like = not _ENDS_SENTENCE.search(u.text)  # "Beschluss vom 28. September 2021 …" under its title
    if i and units[i - 1].passage is u.passage and not u.is_item and \
            (heading_like or "\n\n" not in u.passage.text[units[i - 1].end:u.start]):
        terms |= _terms(units[i - 1].text)
    return terms


def typed_evidence_missing(question: str, units: list[Unit], q: Query, idf: dict[str, float]) -> bool:
    """True when the question wants a date/frequency/amount/contact and no on-topic sentence has one."""
    kind = answer_type(question)
    if kind is None:
        return False
    return not any(kind[1].search(u.text) and _weighted(_unit_terms(units, i), q, idf) >= 0.6
                   for i, u in enumerate(units))


def coverage(q: Query, passages: list[Passage], idf: dict[str, float]) -> float:
    """Best share (idf-weighted) of the question's key terms that one passage contains."""
    best = 0.0
    for p in passages:
        terms = _source_terms(p) | _terms(p.section) | _terms(p.text)
        best = max(best, _weighted(terms, q, idf))
    return best


def answerable(q: Query, passages: list[Passage], idf: dict[str, float], min_dense: float, min_coverage: float,
               context: Query | None = None) -> bool:
    """Calibrated refusal: the evidence must be semantically close and cover the question's key terms."""
    english = is_english(q.text)
    # cross-lingual similarity runs lower: an English question is held to a slightly lower bar, and
    # its words count through the bilingual glossary (assistant/data/synonyms.json)
    if not passages or max(p.score for p in passages) < min_dense - (0.03 if english else 0.0):
        return False
    if english and not q.terms:
        kind = answer_type(q.text)  # nothing to check lexically: a typed question still needs its type
        return kind is None or any(kind[1].search(p.text) for p in passages[:2])
    cov = coverage(q, passages, idf) if q.terms else 0.0
    if context is not None and context.terms:  # a follow-up may lean on its history for the topic words
        both = Query(q.text, tuple(dict.fromkeys(q.terms + context.terms)),
                     {**context.alternatives, **q.alternatives}, q.unknown | context.unknown)
        cov = max(cov, coverage(both, passages, idf))
        q = both
    if not q.terms or cov < min_coverage:
        return False
    units = [u for rank, p in enumerate(passages) for u in units_of(p, rank)]
    return not typed_evidence_missing(q.text, units, q, idf)


def _score_units(units: list[Unit], q: Query, ctx: Query | None, idf: dict[str, float]) -> list[float]:
    kind = answer_type(q.text)
    defining = bool(_DEFINITION_Q.search(q.text))
    scores = []
    for i, u in enumerate(units):
        terms = _terms(u.text)
        p = u.passage
        doc_terms = _source_terms(p)
        ctx_terms = _terms(p.section) | doc_terms
        # terms naming the source ("laut der Hamburger Erklärung") credit every sentence of it alike,
        # so the remaining terms decide which sentence answers
        lex = _weighted(terms | doc_terms, q, idf) + 0.3 * _weighted(ctx_terms - terms, q, idf)
        c = _weighted(terms | ctx_terms, ctx, idf) if ctx is not None and ctx.terms else 0.0
        s = lex + 0.35 * c + 0.25 / (1 + u.rank) + 0.5 * max(u.passage.score - 0.75, 0.0)
        if kind is not None and kind[1].search(u.text):
            s += 0.25 if _weighted(_unit_terms(units, i), q, idf) >= 0.4 else 0.1
        if defining and _DEFINES.search(u.text) and _weighted(terms, q, idf) >= 0.5:
            s += 0.2  # "Städtediplomatie meint …" answers "Was versteht man unter Städtediplomatie?"
        if len(words(u.text)) < 6 and not u.is_item:
            s *= 0.5  # fragments and headings rarely answer anything alone
        elif not u.is_item and not _ENDS_SENTENCE.search(u.text):
            s *= 0.7  # a heading or caption line: it names the topic but does not say anything about it
        scores.append(s)
    return scores


def compose(q: Query, passages: list[Passage], idf: dict[str, float], max_sentences: int,
            context: Query | None = None, embed: Callable[[str, list[str]], np.ndarray] | None = None,
            ) -> tuple[str, list[Citation]]:
    """German answer text with [n] markers, and the citations behind them (never an unsourced sentence)."""
    units = [u for rank, p in enumerate(passages) for u in units_of(p, rank)]
    if not units:
        return REFUSAL, []
    scores = _score_units(units, q, context, idf)
    if embed is not None and max(scores) < 0.45:
        # weak lexical signal (an English word the glossary lacks, a paraphrase): rank the sentences
        # of the best passages semantically
        top = [i for i, u in enumerate(units) if u.rank < 3]
        asked = f"{context.text} {q.text}" if context is not None and context.text else q.text
        sims = embed(asked, [units[i].text for i in top])
        kind = answer_type(q.text)
        for i, sim in zip(top, sims):
            typed = 0.03 if kind is not None and kind[1].search(units[i].text) else 0.0
            scores[i] = float(sim) + 0.02 / (1 + units[i].rank) + typed
    if is_list_question(q.text):
        listed = _list_answer(units, scores)
        if listed is not None:
            return listed
    return _prose_answer(units, scores, max_sentences, q, idf)


def _cite(n: int, u: Unit, start: int | None = None, end: int | None = None) -> Citation:
    a = u.start if start is None else start
    e = u.end if end is None else end
    p = u.passage
    return Citation(n=n, doc_id=p.doc_id, title=p.title, source=p.source, page=p.page_at(a),
                    quote=p.text[a:e], passage=p.text, kind=p.kind, section=p.section, year=p.year)


def _norm(s: str) -> str:
    return re.sub(r"\W+", " ", s.lower()).strip()


def _prose_answer(units: list[Unit], scores: list[float], max_sentences: int, q: Query,
                  idf: dict[str, float]) -> tuple[str, list[Citation]]:
    """The best sentence, plus a few that are nearly as good and add something: question terms the
    chosen ones do not cover yet, or the view of another document. Fewer, better citations."""
    order = sorted(range(len(units)), key=lambda i: -scores[i])
    best = scores[order[0]]
    chosen = [order[0]]
    seen = {_norm(units[order[0]].text)}
    covered = _weighted(_terms(units[order[0]].text), q, idf)
    docs = {units[order[0]].passage.doc_id}
    for i in order[1:]:
        if len(chosen) >= max_sentences or scores[i] < 0.6 * best:
            break
        key = _norm(units[i].text)
        if key in seen or any(key in s or s in key for s in seen):
            continue  # overlapping chunks repeat sentences
        together = _weighted(frozenset().union(*(_terms(units[j].text) for j in chosen), _terms(units[i].text)),
                             q, idf)
        other_doc = units[i].passage.doc_id not in docs and scores[i] >= 0.75 * best
        if not (scores[i] >= 0.85 * best and together - covered >= 0.15) and not other_doc:
            continue
        seen.add(key)
        chosen.append(i)
        covered = together
        docs.add(units[i].passage.doc_id)
    # a sentence that goes on from a chosen one ("Doch gerade dann …", "Deswegen …") completes it
    for i in list(chosen):
        j = i + 1
        if j < len(units) and j not in chosen and units[j].passage is units[i].passage and not units[j].is_item \
                and _CONTINUES.match(units[j].text) and scores[j] >= 0.3 * best \
                and "\n\n" not in units[i].passage.text[units[i].end:units[j].start]:
            chosen.append(j)
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
    if score < 0.9 * max(scores):
        return None  # a better single sentence exists: the question was not asking for this list
    # one citation from the lead-in line through the last item: the list as the document states it
    lead = units[first - 1] if first > 0 and units[first - 1].passage is units[first].passage \
        and not units[first - 1].is_item else None
    items = units[first:last + 1]
    start = lead.start if lead is not None else items[0].start
    cit = _cite(1, items[0], start, items[-1].end)
    parts = [f"{lead.text} [1]"] if lead is not None else []
    for u in items:
        text = u.text[2:] if u.text.startswith("• ") else u.text
        parts.append(f"- {text} [1]")
    return "\n".join(parts), [cit]
