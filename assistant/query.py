"""What a question asks for, in the index's own vocabulary: stemmed terms with typos corrected,
compounds split into known parts, and domain synonyms/abbreviations (assistant/data/synonyms.json).

German needs all three: "Bürgerbeteiligung" should find "Beteiligung", "Komune" should find
"Kommune", and "AKEZ" should find "Ausschuss für Kommunale Entwicklungszusammenarbeit".
"""
from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from assistant.core.text import english_stopwords, is_english, keyword_terms, split_compound, words
from assistant.core.vocabulary import correct

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
