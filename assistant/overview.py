"""An overview of one document from its own structure: what it is (title, kind, publisher, year),
how it sums itself up, and the lists in which it lays out its fields, aims or demands. A document
states its structure early and in lists ("umfasst die folgenden Handlungsfelder: 1. … 2. …"), so
lists are taken in document order, after the opening statements of its summary."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from assistant.answer import REFUSAL, Composed, Excerpt, _cite, _list_excerpt, _marked, _statement
from assistant.core.text import units, words
from assistant.core.types import Passage, kind_label

# headings under which a document sums itself up (general German and English document vocabulary)
SUMMARY_HEADING = re.compile(r"^(zusammenfassung|kurzfassung|das wichtigste|kernaussagen|auf einen blick|"
                             r"überblick|summary|executive summary|abstract)\b", re.IGNORECASE)
OPENING_SENTENCES = 2  # how a document introduces itself: its first two statements
LEAD_IN_REACH = 3  # units between a list's lead-in and its items at most (a box or column set between them)
MAX_LISTS = 2  # a document's first lists carry its structure; later ones belong to single sections


def header(p: Passage) -> str:
    """What the document is, from the catalogue (not a quote, so it carries no citation mark)."""
    kind = kind_label(p.kind) if p.kind and p.kind != "unknown" else "Dokument"
    bits = [kind] + [x for x in (re.split(r"[(]", p.publisher)[0].strip(" ,"), str(p.year or "")) if x]
    return f"**{p.title}** – " + ", ".join(bits)


def _opening(doc: list[Passage]) -> Excerpt | None:
    """The first statements of the summary section, or else of the document."""
    summary = [p for p in doc if SUMMARY_HEADING.match(p.section or "")]
    for p in summary + [x for x in doc if x not in summary]:
        spans = [(a, e) for a, e, item in units(p.text) if not item and _statement(p.text[a:e])]
        if spans:
            spans = spans[:OPENING_SENTENCES]
            return Excerpt(p, spans[0][0], spans[-1][1])
    return None


def _lists(doc: list[Passage], more: Callable[[Passage], Passage] | None) -> list[Excerpt]:
    """Every list of the document (two or more items under a lead-in that ends in a colon), in
    document order, each once. The lead-in may stand a few units before the items: PDF text puts
    a box or a column between them at times; only the lead-in and the items are shown."""
    out: list[Excerpt] = []
    reach = -1  # the document offset up to which lists were already taken (chunks overlap)
    for p in doc:
        spans = units(p.text)
        i = 0
        while i < len(spans):
            if not spans[i][2] or (i and spans[i - 1][2]):
                i += 1
                continue
            j = i
            while j + 1 < len(spans) and spans[j + 1][2]:
                j += 1
            lead_in = next((k for k in range(i - 1, max(i - 1 - LEAD_IN_REACH, -1), -1)
                            if p.text[spans[k][0]:spans[k][1]].rstrip().endswith(":")), None)
            items = _list_excerpt(p, spans[i][0], spans[j][1], more) if j > i else None
            if items is not None and lead_in is not None and p.char_start + spans[lead_in][0] > reach:
                a, e, _ = spans[lead_in]
                line = re.sub(r"\s*\n+\s*", " ", p.text[a:e])
                out.append(replace(items, start=a, list_lines=(line,) + items.list_lines))
                reach = items.passage.char_start + items.end
            i = j + 1
    return out


def overview(doc: list[Passage], budget: int, more: Callable[[Passage], Passage] | None = None) -> Composed:
    """A cited overview of one document within about `budget` words: what it is, its opening, its
    first lists (a list is shown whole or not at all)."""
    doc = sorted(doc, key=lambda x: x.ordinal)
    if not doc:
        return Composed(REFUSAL, REFUSAL, [])
    head = header(doc[0])
    parts: list[Excerpt] = []
    opening = _opening(doc)
    if opening is not None:
        parts.append(opening)
    used = len(words(head)) + sum(e.words for e in parts)
    for listed in _lists(doc, more):
        if len([e for e in parts if e.list_lines]) >= MAX_LISTS:
            break
        if used + listed.words <= budget or not any(e.list_lines for e in parts):
            parts.append(listed)
            used += listed.words
    if not parts:
        return Composed(REFUSAL, REFUSAL, [])
    body = [_marked(e, n) for n, e in enumerate(parts, start=1)]
    lead = f"{head}. {body[0]}"
    text = "\n\n".join([lead] + body[1:])
    return Composed(text, lead, [_cite(n, e) for n, e in enumerate(parts, start=1)])
