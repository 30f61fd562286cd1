"""Versions of a document. A catalogue entry may say that its document `replaces` an older one (and
from which year it is `valid_from`). Answers draw on the current version: a passage of an older
version is dropped when the newer version makes the same statements, and kept, marked "ältere
Fassung (ersetzt durch …)", when it is the only source of what it says."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from assistant.core.text import unit_texts, words
from assistant.core.types import DocumentInfo, Passage

# an old sentence sharing this share of its words with a sentence of the new version is that sentence
# revised ("tagt viermal" → "tagt sechsmal"), not a statement of its own
REVISED = 0.6


@dataclass(frozen=True)
class Versions:
    """Which document replaces which, read from the library once per index version."""

    replaced_by: dict[str, str]  # older doc id → the doc id that replaces it
    titles: dict[str, str]

    def newest(self, doc_id: str) -> str:
        seen = {doc_id}
        while doc_id in self.replaced_by and self.replaced_by[doc_id] not in seen:
            doc_id = self.replaced_by[doc_id]
            seen.add(doc_id)
        return doc_id

    def chain_note(self, doc_id: str) -> str:
        """The German note for the library: what this document replaces and what replaces it."""
        notes = [f"ersetzt „{self.titles.get(old, old)}“" for old, new in self.replaced_by.items() if new == doc_id]
        if doc_id in self.replaced_by:
            notes.append(f"ältere Fassung, ersetzt durch „{self.titles.get(self.replaced_by[doc_id], '?')}“")
        return "; ".join(notes)


def versions(docs: Iterable[DocumentInfo]) -> Versions:
    docs = list(docs)
    ids = {d.doc_id for d in docs}
    return Versions({d.replaces: d.doc_id for d in docs if d.replaces and d.replaces in ids and d.replaces != d.doc_id},
                    {d.doc_id: d.title for d in docs})


def _word_set(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in words(text))


def says_something_new(old: str, current: str) -> bool:
    """Whether an old passage holds a sentence the current version neither keeps nor revises."""
    new_sentences = [_word_set(u) for u in unit_texts(current)]
    for u in unit_texts(old):
        w = _word_set(u)
        if len(w) < 4:
            continue  # headings and fragments say nothing by themselves
        if not any(len(w & n) / len(w) >= REVISED for n in new_sentences):
            return True
    return False


def prefer_current(passages: list[Passage], v: Versions, text_of: Callable[[str], str | None]) -> list[Passage]:
    """Passages of older versions dropped where the current version keeps or revises everything they
    say; kept, marked with the newer version's title, where they are the only source of a statement."""
    if not v.replaced_by:
        return passages
    out = []
    current: dict[str, str] = {}
    for p in passages:
        if p.doc_id not in v.replaced_by:
            out.append(p)
            continue
        newest = v.newest(p.doc_id)
        if newest not in current:
            current[newest] = text_of(newest) or ""
        if says_something_new(p.text, current[newest]):
            out.append(replace(p, superseded_by=v.titles.get(newest, newest)))
    return out


def mark(passages: list[Passage], v: Versions) -> list[Passage]:
    """Every passage of an older version marked as such (when all versions are searched)."""
    return [replace(p, superseded_by=v.titles.get(v.newest(p.doc_id), "")) if p.doc_id in v.replaced_by else p
            for p in passages]
