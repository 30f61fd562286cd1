"""Extractive, grounded answers, evidence first: the sentence most likely to answer leads, then
contiguous excerpts (a sentence with the neighbours that carry it on) from up to a few passages,
within a word budget; lists stay whole; answers from several documents are grouped by document.
Every statement is a verbatim quote with a numbered citation."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from assistant.evidence import Evidence, Sentence
from assistant.text import ends_in_list_item, units, words
from assistant.types import Citation, Passage
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

    @property
    def quote(self) -> str:
        return self.passage.text[self.start:self.end]

    def render(self) -> str:
        if self.list_lines:
            return "\n".join(self.list_lines)
        return re.sub(r"\s*\n+\s*", " ", self.quote).strip()


def _cite(n: int, e: Excerpt) -> Citation:
    p = e.passage
    return Citation(n=n, doc_id=p.doc_id, title=p.title, source=p.source, page=p.page_at(e.start),
                    quote=e.quote, passage=p.text, kind=p.kind, section=p.section, year=p.year)


def _label(p: Passage) -> str:
    """A document as a reader names it: its publisher up to the first bracket or comma, and the year."""
    name = re.split(r"[(,]", p.publisher)[0].strip() or p.title
    return f"{name} ({p.year})" if p.year else name


def select(ev: Evidence, weights: Weights, budget: int) -> list[list[Sentence]]:
    """Sentences to show, grouped per passage (lead's passage first): the best sentence, then greedily
    the most probable of (a) the neighbours of chosen sentences and (b) the best sentence of another
    passage that comes close enough to the lead, until the word budget is spent."""
    sents = list(ev.sentences)
    if not sents:
        return []
    c = weights.compose
    by_passage: dict[str, list[Sentence]] = {}
    for s in sents:
        by_passage.setdefault(s.passage.chunk_id, []).append(s)
    lead = max(sents, key=lambda s: s.prob)
    chosen: dict[str, set[int]] = {lead.passage.chunk_id: {lead.index}}
    order = [lead.passage.chunk_id]
    used = lead.words
    seen = {lead.text}
    best_of = {cid: max(ss, key=lambda s: s.prob) for cid, ss in by_passage.items()}
    while True:
        options: list[Sentence] = []
        for cid, idx in chosen.items():
            for s in by_passage[cid]:
                if s.index not in idx and (s.index - 1 in idx or s.index + 1 in idx) \
                        and s.prob >= c["neighbour_floor"]:
                    options.append(s)
        if len(chosen) < int(c["max_passages"]):
            options += [s for cid, s in best_of.items()
                        if cid not in chosen and s.prob >= c["lead_ratio"] * lead.prob]
        options = [s for s in options if s.text not in seen and used + s.words <= budget]
        if not options:
            break
        s = max(options, key=lambda x: x.prob)
        cid = s.passage.chunk_id
        if cid not in chosen:
            chosen[cid] = set()
            order.append(cid)
        chosen[cid].add(s.index)
        used += s.words
        seen.add(s.text)
    return [[s for s in by_passage[cid] if s.index in chosen[cid]] for cid in order]


def _excerpt(group: list[Sentence]) -> Excerpt:
    return Excerpt(group[0].passage, min(s.start for s in group), max(s.end for s in group))


def _list_excerpt(group: list[Sentence], more: Callable[[Passage], Passage] | None) -> Excerpt | None:
    """The whole list the chosen sentences belong to (its lead-in line and every item), also when it
    runs on into the next chunks (`more` joins them); None when they are not part of a list."""
    p = group[0].passage
    spans = units(p.text)
    idx = {s.index for s in group}
    items = [i for i, (_, _, item) in enumerate(spans) if item]
    if not items:
        return None
    # a chosen item, or a chosen lead-in right before an item, anchors the run
    anchor = next((i for i in sorted(idx) if spans[i][2] or (i + 1 < len(spans) and spans[i + 1][2])), None)
    if anchor is None:
        return None
    first = anchor + 1 if not spans[anchor][2] else anchor
    while first > 0 and spans[first - 1][2]:
        first -= 1
    last = first
    while last + 1 < len(spans) and spans[last + 1][2]:
        last += 1
    lead = first - 1 if first > 0 and not spans[first - 1][2] else None
    if last == len(spans) - 1 and ends_in_list_item(p.text) and more is not None:
        merged = more(p)
        if merged.text != p.text:
            return _list_excerpt([Sentence(merged, 0, lead if lead is not None else first, 0, 0, False, 0.0)], None)
    start = spans[lead][0] if lead is not None else spans[first][0]
    lines = [p.text[a:e] for a, e, _ in (spans[lead],)] if lead is not None else []
    lines += ["- " + re.sub(r"^• ", "", p.text[a:e]) for a, e, _ in spans[first:last + 1]]
    if last - first < 1:
        return None  # one item is no list
    return Excerpt(p, start, spans[last][1], tuple(re.sub(r"\s*\n+\s*", " ", x) for x in lines))


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
    groups = select(ev, weights, budget)
    if not groups:
        return REFUSAL, []
    excerpts = []
    for g in groups:
        listed = _list_excerpt(g, more) if u.wants_list else None
        excerpts.append(listed or _excerpt(g))
    return _render(excerpts)


def near_miss(ev: Evidence, weights: Weights, budget: int) -> tuple[str, list[Citation]]:
    """A refusal that still shows the closest passage, so the reader can judge for themselves."""
    groups = select(ev, weights, budget)[:1]
    if not groups:
        return REFUSAL, []
    text, cits = _render([_excerpt(groups[0])])
    return f"{NEAR_MISS} {text}", cits


def _statement(text: str) -> bool:
    """A whole sentence that says something (not a heading, caption or fragment)."""
    return len(words(text)) >= 6 and text.rstrip().endswith((".", "!", "?", ":"))


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


