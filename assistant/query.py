"""What a question asks for, in the index's own vocabulary: stemmed terms with typos corrected,
compounds split into known parts, and domain synonyms/abbreviations (assistant/data/synonyms.json).

German needs all three: "Bürgerbeteiligung" should find "Beteiligung", "Komune" should find
"Kommune", and "AKEZ" should find "Ausschuss für Kommunale Entwicklungszusammenarbeit".
"""
from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from assistant.text import english_stopwords, is_english, keyword_terms, split_compound, words

SYNONYMS = Path(__file__).with_name("data") / "synonyms.json"


@dataclass(frozen=True)
class Query:
    """A question as term sets. `alternatives[t]` lists term sets that stand for `t` (all members of
    one set must occur); `unknown` are terms found nowhere in the corpus, even after correction."""

    text: str
    terms: tuple[str, ...]
    alternatives: dict[str, tuple[frozenset[str], ...]] = field(default_factory=dict)
    unknown: frozenset[str] = frozenset()
    expansion: str = ""  # spelled-out abbreviations, appended to the text for the dense retriever

    def keyword_query(self) -> list[str]:
        """Terms for BM25: the question's terms plus every alternative's terms."""
        extra = [t for alts in self.alternatives.values() for alt in alts for t in alt]
        return list(dict.fromkeys([*self.terms, *extra]))


@lru_cache(maxsize=2)
def synonym_groups(english: bool = False, path: Path = SYNONYMS) -> tuple[tuple[str, ...], ...]:
    """The domain's synonym groups; for English questions also the bilingual glossary (which must
    not touch German questions: "Städte" ↔ "cities" would pull in every "Connective Cities")."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(tuple(g) for g in data["groups"] + (data.get("english", []) if english else []))


@lru_cache(maxsize=2)
def _group_stems(english: bool) -> tuple[tuple[tuple[str, frozenset[str]], ...], ...]:
    return tuple(tuple((m, frozenset(keyword_terms(m))) for m in g if keyword_terms(m))
                 for g in synonym_groups(english))


class Vocabulary(Collection[str]):
    """The keyword index's terms, plus the candidates typo correction needs, bucketed by first letter
    and length once per index version: a lookup never scans the whole vocabulary (which grows with
    the corpus, to hundreds of thousands of terms)."""

    def __init__(self, terms: Iterable[str]) -> None:
        self._terms = terms if isinstance(terms, Collection) else frozenset(terms)
        self._buckets: dict[tuple[str, int], list[str]] | None = None

    def __contains__(self, term: object) -> bool:
        return term in self._terms

    def __iter__(self) -> Iterator[str]:
        return iter(self._terms)

    def __len__(self) -> int:
        return len(self._terms)

    def near(self, term: str, max_edits: int) -> list[str]:
        """Terms with the same first letter whose length is within `max_edits` of `term`'s."""
        if self._buckets is None:
            buckets: dict[tuple[str, int], list[str]] = {}
            for t in self._terms:
                buckets.setdefault((t[:1], len(t)), []).append(t)
            self._buckets = buckets
        return [v for n in range(len(term) - max_edits, len(term) + max_edits + 1)
                for v in self._buckets.get((term[:1], n), ())]


def correct(term: str, vocab: Collection[str]) -> str | None:
    """The vocabulary term one edit away (two for long words), for typos such as "komun"/"wetbewerb"."""
    if term in vocab or len(term) < 5 or not term.isalpha():
        return None
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    limit = 1 if len(term) < 9 else 2
    # typos keep the first letter; a real word the corpus lacks ("verfolgt") must not become another
    # word one letter away ("erfolgt")
    if isinstance(vocab, Vocabulary):
        same_start = vocab.near(term, limit)
    else:
        same_start = [v for v in vocab if v[:1] == term[:1] and abs(len(v) - len(term)) <= limit]
    hit = process.extractOne(term, same_start, scorer=Levenshtein.distance, score_cutoff=limit)
    return hit[0] if hit else None


def analyze(question: str, vocab: Collection[str]) -> Query:
    """Terms of `question` mapped onto the corpus vocabulary (`vocab`: the keyword index's terms)."""
    english = is_english(question)
    raw = list(dict.fromkeys(keyword_terms(question)))
    if english:
        raw = [t for t in raw if t not in english_stopwords()]
    # only a capitalised word (a noun or a name, not the question's first word) that the corpus never
    # mentions is evidence that the documents cannot answer: "Würzburg", but not "ausgelobt"
    names = set(keyword_terms(" ".join(w for w in words(question)[1:] if w[:1].isupper())))
    terms: list[str] = []
    alternatives: dict[str, list[frozenset[str]]] = {}
    unknown: set[str] = set()
    for t in raw:
        fixed = correct(t, vocab) if vocab else None
        t2 = fixed or t
        terms.append(t2)
        if t2 not in vocab and vocab:
            parts = split_compound(t2, vocab)
            hyphen_known = "-" in t2 and all(x in vocab for x in t2.split("-") if x)
            if parts:
                alternatives.setdefault(t2, []).append(frozenset(parts[-1:]))  # the head noun carries the meaning
            elif t in names and not hyphen_known:  # "RGRE-Ausschuss" is made of known words
                unknown.add(t2)
    present = set(terms)
    expansion: list[str] = []
    for group in _group_stems(english):
        hit = [(m, stems) for m, stems in group if stems <= present]
        for m, stems in hit:
            others = [s for n, s in group if s != stems]
            for t in stems:
                alternatives.setdefault(t, []).extend(o for o in others if o not in alternatives.get(t, []))
                unknown.discard(t)
            if (m.isupper() and len(m) <= 6) or english:
                # an abbreviation, or an English word: give the dense retriever the German wording too
                expansion += [n for n, _ in group if n != m and not n.isupper()][:1]
    if english:
        # English words the glossary does not map say nothing about the German documents either way
        terms = [t for t in terms if t in vocab or t in alternatives]
        unknown = set()
    return Query(question, tuple(terms), {k: tuple(v) for k, v in alternatives.items()}, frozenset(unknown),
                 " ".join(dict.fromkeys(expansion)))
