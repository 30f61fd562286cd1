"""Extractive, grounded answers, evidence first: the sentence most likely to answer leads, then
contiguous excerpts (a sentence with the neighbours that carry it on) from up to a few passages,
within a word budget; lists stay whole; answers from several documents are grouped by document.
Every statement is a verbatim quote with a numbered citation."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from assistant.evidence import Evidence, Sentence
from assistant.core.text import ends_in_list_item, is_caption, units, words
from assistant.core.types import Citation, Passage
from assistant.understand import Understood
from assistant.weights import Weights

REFUSAL = "In den Dokumenten finde ich dazu keine Angabe."
NEAR_MISS = "Dazu steht in den Dokumenten nichts; am nächsten kommt:"
OVERVIEW_SENTENCES = 2  # lead sentences of a document's opening in an overview (then one per section)


@dataclass(frozen=True)
class Excerpt:
    """Consecutive units of one passage: what one citation quotes."""

    passage: Passage
    start: int
    end: int
    list_lines: tuple[str, ...] = ()  # set when the excerpt is a list (its lead-in and items)
    anchor: int | None = None  # where its likeliest sentence starts: the page a citation names

    @property
    def quote(self) -> str:
        return self.passage.text[self.start:self.end]

    def render(self) -> str:
        if self.list_lines:
            return "\n".join(self.list_lines)
        return re.sub(r"\s*\n+\s*", " ", self.quote).strip()


def _cite(n: int, e: Excerpt) -> Citation:
    p = e.passage
    return Citation(n=n, doc_id=p.doc_id, title=p.title, source=p.source,
                    page=p.page_at(e.start if e.anchor is None else e.anchor),
                    quote=e.quote, passage=p.text, kind=p.kind, section=p.section, year=p.year, ocr=p.ocr,
                    superseded_by=p.superseded_by)


def _label(p: Passage) -> str:
    """A document as a reader names it: its publisher up to the first bracket or comma, and the year."""
    name = re.split(r"[(,]", p.publisher)[0].strip() or p.title
    return f"{name} ({p.year})" if p.year else name


def whole_lists(sents: list[Sentence]) -> list[Sentence]:
    """The sentences with every list (two or more consecutive items, with the lead-in line before
    them) replaced by one unit as likely as its likeliest part: a list is shown whole or not at all."""
    out: list[Sentence] = []
    i = 0
    while i < len(sents):
        s = sents[i]
        j = i
        while j + 1 < len(sents) and sents[j + 1].is_item and sents[j + 1].passage is s.passage \
                and sents[j + 1].index == sents[j].index + 1:
            j += 1
        first = i + 1 if not s.is_item else i  # a non-item directly before the items is their lead-in
        if j > first and all(x.is_item for x in sents[first:j + 1]):
            members = sents[i:j + 1]
            out.append(replace(members[0], end=members[-1].end, is_item=True,
                               cos=max(x.cos for x in members), prob=max(x.prob for x in members)))
            i = j + 1
        else:
            out.append(s)
            i += 1
    return out


def select(ev: Evidence, weights: Weights, budget: int, lists: bool = False,
           docs: frozenset[str] = frozenset()) -> list[list[Sentence]]:
    """Sentences to show as runs of consecutive sentences, the lead's run first. The best sentence
    leads; then greedily the most probable of (a) further sentences of the passages already drawn
    on (with `contiguous`, only the neighbours of chosen ones) and (b) the best sentence of another
    passage that comes close enough to the lead, until the word budget is spent."""
    # a heading names a topic but states nothing: it is never shown on its own (a list's lead-in line
    # comes with its list); a photo caption may be shown, but never leads (below)
    sents = whole_lists(list(ev.sentences)) if lists else list(ev.sentences)
    sents = [s for s in sents if s.is_item or _statement(s.text, min_words=4) or is_caption(s.text)]
    if not sents:
        return []
    c = weights.compose
    contiguous = c.get("contiguous", 1.0) >= 0.5
    by_passage: dict[str, list[Sentence]] = {}
    for s in sents:
        by_passage.setdefault(s.passage.chunk_id, []).append(s)
    # a photo caption may add to an answer but never leads it: it describes a picture
    lead = max(sents, key=lambda s: (not is_caption(s.text), s.prob))
    chosen: dict[str, set[int]] = {lead.passage.chunk_id: {lead.index}}
    used = lead.words
    seen = {lead.text}
    best_of = {cid: max(ss, key=lambda s: s.prob) for cid, ss in by_passage.items()}
    # several documents named in the question: each of them speaks, with its likeliest sentence
    for doc in sorted(docs) if len(docs) > 1 else ():
        if not any(by_passage[cid][0].passage.doc_id == doc for cid in chosen):
            voice = max((x for x in sents if x.passage.doc_id == doc), key=lambda x: x.prob, default=None)
            if voice is not None and voice.text not in seen:
                chosen.setdefault(voice.passage.chunk_id, set()).add(voice.index)
                used += voice.words
                seen.add(voice.text)
    while True:
        options: list[Sentence] = []
        for cid, idx in chosen.items():
            options += [s for s in by_passage[cid] if s.index not in idx and s.prob >= c["neighbour_floor"]
                        and (not contiguous or s.index - 1 in idx or s.index + 1 in idx)]
        if len(chosen) < max(int(c["max_passages"]), len(docs)):
            options += [s for cid, s in best_of.items()
                        if cid not in chosen and s.prob >= c["lead_ratio"] * lead.prob]
        # a whole list may exceed what is left of the budget (the composer then drops prose for it)
        options = [s for s in options if s.text not in seen
                   and (used + s.words <= budget or lists and s.is_item and s.words <= 2 * budget)]
        if not options:
            break
        s = max(options, key=lambda x: x.prob)
        chosen.setdefault(s.passage.chunk_id, set()).add(s.index)
        used += s.words
        seen.add(s.text)
    runs: list[list[Sentence]] = []
    for cid, idx in chosen.items():
        run: list[Sentence] = []
        for s in by_passage[cid]:
            if s.index in idx:
                if run and s.index != run[-1].index + 1:
                    runs.append(run)
                    run = []
                run.append(s)
        runs.append(run)
    # the lead's run first; the others by passage rank, then in document order
    return sorted(runs, key=lambda r: (lead not in r, r[0].rank, r[0].index))


def _excerpt(group: list[Sentence]) -> Excerpt:
    return Excerpt(group[0].passage, min(s.start for s in group), max(s.end for s in group),
                   anchor=max(group, key=lambda s: s.prob).start)


def _list_excerpt(p: Passage, start: int, end: int, more: Callable[[Passage], Passage] | None) -> Excerpt | None:
    """A list shown as lines (lead-in, then "- item"), from `start` to `end` of `p`; a list that
    runs on past the chunk's end is completed from the following chunks (`more` joins them)."""
    spans = [(a, e, item) for a, e, item in units(p.text) if a >= start and e <= end]
    if sum(item for _, _, item in spans) < 2:
        return None
    if end >= len(p.text.rstrip()) and ends_in_list_item(p.text) and more is not None:
        merged = more(p)
        if merged.text != p.text:
            tail = units(merged.text)
            last = end
            for a, e, item in tail:
                if a >= end and item:
                    last = e
                elif a >= end:
                    break
            return _list_excerpt(merged, start, last, None)
    lines: list[str] = []
    for n, (a, e, item) in enumerate(spans):
        text = re.sub(r"\s*\n+\s*", " ", p.text[a:e])
        if item:
            lines.append("- " + re.sub(r"^• ", "", text))
        elif n and not spans[n - 1][2]:
            lines[-1] += " " + text  # prose before the list stays one paragraph
        else:
            lines.append(text)
    return Excerpt(p, spans[0][0], spans[-1][1], tuple(lines))


def _render(excerpts: list[Excerpt]) -> tuple[str, list[Citation]]:
    """Text with [n] markers; grouped under a document label when several documents speak."""
    cits = [_cite(n, e) for n, e in enumerate(excerpts, start=1)]
    docs = list(dict.fromkeys(e.passage.doc_id for e in excerpts))
    if len(docs) < 2:
        parts = [f"{e.render()} [{n}]" if not e.list_lines else e.render().replace("\n", f" [{n}]\n") + f" [{n}]"
                 for n, e in enumerate(excerpts, start=1)]
        return "\n".join(parts) if any(e.list_lines for e in excerpts) else " ".join(parts), cits
    blocks = []
    for d in docs:
        mine = [(n, e) for n, e in enumerate(excerpts, start=1) if e.passage.doc_id == d]
        body = " ".join(f"{e.render()} [{n}]" if not e.list_lines else e.render().replace("\n", f" [{n}]\n") + f" [{n}]"
                        for n, e in mine)
        blocks.append(f"{_label(mine[0][1].passage)}: {body}")
    return "\n\n".join(blocks), cits


def compose(u: Understood, ev: Evidence, weights: Weights, budget: int,
            more: Callable[[Passage], Passage] | None = None) -> tuple[str, list[Citation]]:
    """The answer text with [n] markers and the citations behind them (never an unsourced sentence)."""
    groups = select(ev, weights, budget, lists=u.wants_list, docs=u.named)
    if not groups:
        return REFUSAL, []
    excerpts = []
    for g in groups:
        e = _excerpt(g)
        listed = _list_excerpt(e.passage, e.start, e.end, more) if u.wants_list and any(x.is_item for x in g) else None
        excerpts.append(listed or e)
    lists = [e for e in excerpts if e.list_lines]
    if lists:
        # for a list question the list is the answer: it leads, prose inside it is not repeated, and
        # prose makes room for it (the least likely excerpt first) until the answer fits the budget
        # again; a list itself is never cut
        excerpts = lists[:1] + [e for e in excerpts if e is not lists[0] and not _inside(e, lists)]
        size = lambda e: len(words(e.render()))  # noqa: E731
        while len(excerpts) > 1 and sum(map(size, excerpts)) > budget:
            drop = next((i for i in range(len(excerpts) - 1, 0, -1) if not excerpts[i].list_lines), None)
            if drop is None:
                break
            del excerpts[drop]
    return _render(excerpts)


def _inside(e: Excerpt, lists: list[Excerpt]) -> bool:
    """`e` is part of a list excerpt already shown (lists may be joined from several chunks)."""
    at = e.passage.char_start
    return not e.list_lines and any(x.passage.doc_id == e.passage.doc_id and x.passage.char_start + x.start <= at + e.start
                                    and at + e.end <= x.passage.char_start + x.end for x in lists)


def near_miss(ev: Evidence, weights: Weights, budget: int) -> tuple[str, list[Citation]]:
    """A refusal that still shows the closest passage, so the reader can judge for themselves."""
    groups = select(ev, weights, budget)[:1]
    if not groups:
        return REFUSAL, []
    text, cits = _render([_excerpt(groups[0])])
    return f"{NEAR_MISS} {text}", cits


def _statement(text: str, min_words: int = 6) -> bool:
    """A whole sentence that says something (not a heading, caption or fragment)."""
    return len(words(text)) >= min_words and text.rstrip().endswith((".", "!", "?", ":", "“", "\""))


def overview(doc: list[Passage], budget: int) -> tuple[str, list[Citation]]:
    """A cited overview of one document from its structure: its opening sentences, then the first
    sentence of each further section, in document order, within the word budget."""
    excerpts: list[Excerpt] = []
    used, last_section = 0, None
    for n, p in enumerate(sorted(doc, key=lambda x: x.ordinal)):
        if n and p.section == last_section:
            continue
        spans = [(a, e) for a, e, item in units(p.text) if not item and _statement(p.text[a:e])]
        spans = spans[:OVERVIEW_SENTENCES if not excerpts else 1]
        if not spans:
            continue
        w = sum(len(words(p.text[a:e])) for a, e in spans)
        if used + w > budget:
            break
        excerpts.append(Excerpt(p, spans[0][0], spans[-1][1]))
        used += w
        last_section = p.section
    return _render(excerpts) if excerpts else (REFUSAL, [])


