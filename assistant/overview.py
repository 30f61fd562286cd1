"""An overview of one document from its own structure: what it is (title, kind, publisher, year),
how it sums itself up, and the lists in which it lays out its fields, aims or demands. A document
states its structure early and in lists ("umfasst die folgenden Handlungsfelder: 1. … 2. …"), so
lists are taken in document order, after the opening statements of its summary."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from assistant.answer import MAX_LIST_ITEMS, REFUSAL, Composed, Excerpt, _cite, _list_excerpt, _marked, _statement
from assistant.core.text import units, words
from assistant.core.types import Passage, kind_label

# headings under which a document sums itself up (general German and English document vocabulary)
SUMMARY_HEADING = re.compile(r"^(zusammenfassung|kurzfassung|das wichtigste|kernaussagen|auf einen blick|"
                             r"überblick|summary|executive summary|abstract)\b", re.IGNORECASE)
OPENING_SENTENCES = 2  # how a document introduces itself: its first two statements
# a document speaking of itself ("Das vorliegende Papier zeigt …", "definiert das Leitbild …"): general
# German document vocabulary; such a sentence says what the document is for better than its first one
SELF_REFERENCE = re.compile(
    r"\b(das|dieses|diese|dieser|der|die|im|in (diesem|dieser|dem))\s+(vorliegende\w*\s+)?(papier|positionspapier|"
    r"dokument|broschüre|erklärung|leitbild|flyer|faltblatt|beitrag|artikel|bericht|leitfaden|studie|handreichung)\b",
    re.IGNORECASE)
SELF_REACH = 6  # a document says what it is for in its first pages: the first six chunks (about 2,400 tokens)
HEADING_WORDS = 12  # a heading is a short line that does not end like a sentence
LEAD_IN_REACH = 3  # units between a list's lead-in and its items at most (a box or column set between them)
MAX_LISTS = 2  # a document's first lists carry its structure; later ones belong to single sections
# the library at a glance: as many documents as a list in an answer shows (answer.MAX_LIST_ITEMS)
MAX_DOCUMENT_LINES = MAX_LIST_ITEMS


def header(p: Passage) -> str:
    """What the document is, from the catalogue (not a quote, so it carries no citation mark)."""
    kind = kind_label(p.kind) if p.kind and p.kind != "unknown" else "Dokument"
    bits = [kind] + [x for x in (re.split(r"[(]", p.publisher)[0].strip(" ,"), str(p.year or "")) if x]
    return f"**{p.title}** – " + ", ".join(bits)


def _statements(p: Passage) -> list[tuple[int, int]]:
    """Where the statements of a passage stand (not list items, headings or fragments)."""
    return [(a, e) for a, e, item in units(p.text) if not item and _statement(p.text[a:e])]


def _opening(doc: list[Passage], sentences: int = OPENING_SENTENCES) -> Excerpt | None:
    """Where the document first speaks of itself (in its summary section, else in its first
    pages), else the first statements of its summary section, else of the document."""
    summary = [p for p in doc if SUMMARY_HEADING.match(p.section or "")]
    rest = [x for x in doc if x not in summary]
    for p in summary + rest[:SELF_REACH]:
        spans = _statements(p)
        at = next((k for k, (a, e) in enumerate(spans) if SELF_REFERENCE.search(p.text[a:e])), None)
        if at is not None:
            chosen = spans[at:at + sentences]
            return Excerpt(p, chosen[0][0], chosen[-1][1])
    for p in summary + rest:
        spans = _statements(p)[:sentences]
        if spans:
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


def _outline(doc: list[Passage]) -> list[tuple[str, Excerpt]]:
    """The document's headings in order, each with the first statement under it: its own table of
    contents with what each part says first. The title line and a heading without a statement
    after it (a heading directly above another) are left out."""
    out: list[tuple[str, Excerpt]] = []
    reach = -1  # document offset up to which units were already taken (chunks overlap)
    title = doc[0].title.strip() if doc else ""
    for p in doc:
        spans = units(p.text)
        for i, (a, e, item) in enumerate(spans[:-1]):
            text = re.sub(r"\s+", " ", p.text[a:e]).strip()
            if item or p.char_start + a <= reach or _statement(text, 1) or len(words(text)) > HEADING_WORDS \
                    or text == title:
                continue
            a2, e2, item2 = spans[i + 1]
            if item2 or not _statement(p.text[a2:e2]):
                continue
            out.append((text, Excerpt(p, a2, e2)))
            reach = p.char_start + e2
    return out


def overview(doc: list[Passage], budget: int, more: Callable[[Passage], Passage] | None = None) -> Composed:
    """A cited overview of one document within about `budget` words: what it is, its opening, its
    first lists (a list is shown whole or not at all)."""
    doc = sorted(doc, key=lambda x: x.ordinal)
    if not doc:
        return Composed(REFUSAL, REFUSAL, [])
    head = header(doc[0])
    listed = _lists(doc, more)
    outline = _outline(doc) if not listed else []
    if len(outline) >= 2:  # no list lays the document out: its headings do
        return _by_headings(head, outline, budget)
    parts: list[Excerpt] = []
    opening = _opening(doc)
    if opening is not None:
        parts.append(opening)
    used = len(words(head)) + sum(e.words for e in parts)
    for one in listed:
        if len([e for e in parts if e.list_lines]) >= MAX_LISTS:
            break
        if used + one.words <= budget or not any(e.list_lines for e in parts):
            parts.append(one)
            used += one.words
    if not parts:
        return Composed(REFUSAL, REFUSAL, [])
    body = [_marked(e, n) for n, e in enumerate(parts, start=1)]
    text = "\n\n".join([f"{head}. {body[0]}"] + body[1:])
    # the outline is the answer: all of it leads (the chat shows it whole, not its lists folded away)
    return Composed(text, text, [_cite(n, e) for n, e in enumerate(parts, start=1)])


def _by_headings(head: str, outline: list[tuple[str, Excerpt]], budget: int) -> Composed:
    """What the document is, then one line per heading with its first statement, within `budget`
    words (at least two headings, so the outline shows)."""
    lines: list[str] = []
    parts: list[Excerpt] = []
    used = len(words(head))
    for heading, e in outline:
        line = f"- **{heading}**: {_marked(e, len(parts) + 1)}"
        n = len(words(heading)) + e.words
        if len(parts) >= 2 and used + n > budget:
            break
        lines.append(line)
        parts.append(e)
        used += n
    text = "\n".join([f"{head}:"] + lines)
    return Composed(text, text, [_cite(n, e) for n, e in enumerate(parts, start=1)])


def library_overview(docs: list[list[Passage]], total: int, budget: int) -> Composed:
    """What the library holds: one line per document of `docs` (the caller reads only the first
    MAX_DOCUMENT_LINES of `total`): what it is, and, while `budget` words last, the statement in
    which it says what it is for."""
    lines: list[str] = []
    parts: list[Excerpt] = []
    used = 0
    for doc in docs:
        doc = sorted(doc, key=lambda x: x.ordinal)
        if not doc:
            continue
        head = header(doc[0])
        opening = _opening(doc, sentences=1)
        n = len(words(head)) + (opening.words if opening else 0)
        if opening is not None and used + n <= budget:
            parts.append(opening)
            lines.append(f"- {head}: {_marked(opening, len(parts))}")
            used += n
        else:
            lines.append(f"- {head}")
            used += len(words(head))
    if not lines:
        return Composed(REFUSAL, REFUSAL, [])
    if total > len(lines):
        lines.append(f"- … und {total - len(lines)} weitere")
    intro = "Die Bibliothek umfasst ein Dokument:" if total == 1 else f"Die Bibliothek umfasst {total} Dokumente:"
    text = "\n".join([intro] + lines)
    return Composed(text, text, [_cite(n, e) for n, e in enumerate(parts, start=1)])
