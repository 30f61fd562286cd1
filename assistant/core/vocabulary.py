"""The keyword index's vocabulary as a lookup: typo correction without scanning every term."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator


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
