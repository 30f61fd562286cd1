"""Extractive, grounded answers that lead with what was asked: the unit most likely to answer (a
sentence, cut to its answering clause when it is long, or a whole list when a list is asked for)
comes first, its asked-for span in bold; then the supporting excerpts ("Belege"), grouped by
document when several speak. Every statement is a verbatim quote with a numbered citation."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from assistant.evidence import MAX_DOCUMENTS, Evidence, Sentence
from assistant.lexical import answer_in, answer_type, terms_of, weighted
from assistant.core.text import ends_in_list_item, is_caption, units, words
from assistant.core.types import Citation, Passage
from assistant.understand import Understood
from assistant.weights import Weights

REFUSAL = "In den Dokumenten finde ich dazu keine Angabe."
NEAR_MISS = "Dazu steht in den Dokumenten nichts; am nächsten kommt:"
EVIDENCE_HEADING = "Belege:"
# a reader takes in about fifty words at a glance (the length of a search engine's featured
# snippet): a longer lead sentence is cut to its answering clauses
LEAD_WORDS = 50
# a list of more than a dozen lines no longer fits the chat's screen with its lead-in: its first
# items are shown and the number of the others; the whole list stays one click away in its source
MAX_LIST_ITEMS = 12
# where a long sentence may be cut: after a comma, semicolon, colon or dash that is followed by a space
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|\s+[–—-]\s+")


@dataclass(frozen=True)
class Excerpt:
    """Consecutive units of one passage: what one citation quotes."""

    passage: Passage
    start: int
    end: int
    list_lines: tuple[str, ...] = ()  # set when the excerpt is a list (its lead-in and items)
    anchor: int | None = None  # where its likeliest sentence starts: the page a citation names
    cut_before: bool = False  # the quote starts inside its sentence ("… " is shown)
    cut_after: bool = False  # the quote ends inside its sentence (" …" is shown)

    @property
    def quote(self) -> str:
        return self.passage.text[self.start:self.end]

    def render(self) -> str:
        if self.list_lines:
            return "\n".join(self.list_lines)
        text = re.sub(r"\s*\n+\s*", " ", self.quote).strip()
        return ("… " if self.cut_before else "") + text + (" …" if self.cut_after else "")

    @property
    def words(self) -> int:
        return len(words(self.render()))


@dataclass(frozen=True)
class Composed:
    """An answer as the reader sees it: the whole text, its lead alone, and the citations behind both."""

    text: str
    lead: str
    citations: list[Citation]
    emphasis: tuple[tuple[int, int], ...] = ()  # spans of `text` (within the lead) shown in bold


def _cite(n: int, e: Excerpt) -> Citation:
    p = e.passage
    return Citation(n=n, doc_id=p.doc_id, title=p.title, source=p.source,
                    page=p.page_at(e.start if e.anchor is None else e.anchor),
                    quote=e.quote, passage=p.text, kind=p.kind, section=p.section, year=p.year, ocr=p.ocr,
                    superseded_by=p.superseded_by)


def label(p: Passage) -> str:
    """A document as a reader names it: its publisher up to the first bracket or comma, and the year."""
    name = re.split(r"[(,]", p.publisher)[0].strip() or p.title
    return f"{name} ({p.year})" if p.year else name


def list_prob(members: list[Sentence]) -> float:
    """How likely a list (lead-in and items) answers. A lead-in that introduces it ("Was wir den
    Akteuren bieten:") speaks for the whole list, so the list is as likely as it; otherwise a list
    answers when two of its lines bear on the question (the geometric mean of the two likeliest):
    one line alone that matches is a mention, as a table of contents names the asked topic, and a
    heading above the list ("Leitsätze", "Ausblick") says nothing about what the items answer.
    (List questions, 12 dev and 9 own, facts in the first 50 words: 0.48 and 0.60 when the likeliest
    line alone counted, 0.73 and 0.68 now; key facts 0.78/0.81 then, 0.75/0.89 now.)"""
    top = sorted((x.prob for x in members), reverse=True)[:2]
    two = float(top[0] * top[-1]) ** 0.5
    lead_in = members[0]
    if not lead_in.is_item and lead_in.text.rstrip().endswith(":"):
        return max(two, lead_in.prob)
    return two


def likeliest_list(units: list[Sentence]) -> Sentence | None:
    """The likeliest list (or lone item) among the quotable units, None when there is none."""
    return max((s for s in units if s.is_item), key=lambda s: s.prob, default=None)


def whole_lists(sents: list[Sentence]) -> list[Sentence]:
    """The sentences with every list (two or more consecutive items, with the lead-in line before
    them) replaced by one unit: a list is shown whole (up to MAX_LIST_ITEMS) or not at all."""
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
            prob = list_prob(members)
            out.append(replace(members[0], end=members[-1].end, is_item=True,
                               cos=max(x.cos for x in members), prob=prob))
            i = j + 1
        else:
            out.append(s)
            i += 1
    return out


def _statement(text: str, min_words: int = 6) -> bool:
    """A whole sentence that says something (not a heading, caption or fragment)."""
    return len(words(text)) >= min_words and text.rstrip().endswith((".", "!", "?", ":", "“", "\""))


def quotable(ev: Evidence, lists: bool) -> list[Sentence]:
    """The units an answer may quote: statements, list items (whole lists when a list is asked
    for) and captions. A heading names a topic but states nothing, so it is never shown alone."""
    sents = whole_lists(list(ev.sentences)) if lists else list(ev.sentences)
    return [s for s in sents if s.is_item or _statement(s.text, min_words=4) or is_caption(s.text)]


def choose_lead(sents: list[Sentence]) -> Sentence:
    """The likeliest unit; a photo caption may support an answer but never leads it."""
    return max(sents, key=lambda s: (not is_caption(s.text), s.prob))


def _lead_run(lead: Sentence, sents: list[Sentence], extend: float) -> list[Sentence]:
    """The lead and the sentences right after it in its passage that are nearly as likely
    (`extend` × the lead's probability), while the run stays within LEAD_WORDS."""
    run = [lead]
    after = {s.index: s for s in sents if s.passage is lead.passage}
    while True:
        nxt = after.get(run[-1].index + 1)
        if nxt is None or nxt.is_item or nxt.prob < extend * lead.prob \
                or sum(s.words for s in run) + nxt.words > LEAD_WORDS:
            return run
        run.append(nxt)


def _clause_window(u: Understood, p: Passage, start: int, end: int, idf: dict[str, float]) -> tuple[int, int]:
    """The span of a long sentence to quote: the run of whole clauses, within LEAD_WORDS, that
    covers most of the question's terms (and holds what a typed question asks for)."""
    text = p.text[start:end]
    cuts = [0] + [m.end() for m in _CLAUSE_END.finditer(text)] + [len(text)]
    clauses = [(cuts[i], cuts[i + 1]) for i in range(len(cuts) - 1) if text[cuts[i]:cuts[i + 1]].strip()]
    typed = answer_type(u.focus)
    q = u.focus_query
    best, best_score = (0, len(text)), -1.0
    for i in range(len(clauses)):
        for j in range(i, len(clauses)):
            a, e = clauses[i][0], clauses[j][1]
            piece = text[a:e]
            n = len(words(piece))
            if n > LEAD_WORDS:
                break
            score = (weighted(terms_of(piece), q, idf) if q.terms else 0.0) \
                + (0.5 if typed is not None and answer_in(typed, piece, u.focus) else 0.0) + n / (100 * LEAD_WORDS)
            if score > best_score:
                best, best_score = (a, e), score
    a, e = best
    seg = text[a:e]
    a += len(seg) - len(seg.lstrip())
    e -= len(seg) - len(seg.rstrip(" ,;:–—-"))
    return start + a, start + e


def lead_excerpt(u: Understood, lead: Sentence, sents: list[Sentence], weights: Weights, idf: dict[str, float],
                 more: Callable[[Passage], Passage] | None, budget: int) -> Excerpt:
    """The lead as one excerpt: a list (its first items within `budget` words), a short run of
    sentences, or a long sentence's clauses."""
    if u.wants_list and lead.is_item:
        listed = _list_excerpt(lead.passage, lead.start, lead.end, more, MAX_LIST_ITEMS, budget)
        if listed is not None:
            return listed
    run = _lead_run(lead, sents, weights.compose.get("lead_extend", 2.0))
    start, end = run[0].start, run[-1].end
    if len(run) == 1 and lead.words > LEAD_WORDS and not lead.is_item:
        a, e = _clause_window(u, lead.passage, start, end, idf)
        return Excerpt(lead.passage, a, e, anchor=a, cut_before=a > start, cut_after=e < end)
    return Excerpt(lead.passage, start, end, anchor=lead.start)


def choose_evidence(lead: Sentence, shown: Excerpt, sents: list[Sentence], weights: Weights, budget: int,
                    docs: frozenset[str] = frozenset(), lists: bool = False) -> list[Sentence]:
    """Supporting units after the lead, likeliest first (the lead's own passage preferred): those
    at least `evidence_ratio` × the lead's probability, at most `max_evidence` of them, within the
    word budget. When the question names several documents, each of them speaks with its likeliest
    unit first. When a list is asked for (`lists`), the likeliest list (at least the floor) is taken first,
    and a whole list may run past the budget: cutting it would drop the items asked for, and leaving it
    out would answer with everything but the list."""
    c = weights.compose
    at = lambda s: s.passage.char_start + s.start  # noqa: E731
    covered = (shown.passage.doc_id, shown.passage.char_start + shown.start, shown.passage.char_start + shown.end)
    # a unit overlapping what the lead shows (a list around a lead that is one of its items) says it again
    inside = lambda s: s.passage.doc_id == covered[0] and at(s) < covered[2] \
        and s.passage.char_start + s.end > covered[1]  # noqa: E731
    pool = [s for s in sents if s is not lead and not inside(s)]
    chosen: list[Sentence] = []
    seen = {lead.text}
    used = shown.words

    def take(s: Sentence) -> None:
        nonlocal used
        chosen.append(s)
        seen.add(s.text)
        used += s.words

    for doc in sorted(docs) if len(docs) > 1 else ():
        if doc != shown.passage.doc_id:
            voice = max((s for s in pool if s.passage.doc_id == doc), key=lambda s: s.prob, default=None)
            if voice is not None and voice.text not in seen:
                take(voice)
    floor = c.get("evidence_ratio", 0.5) * lead.prob
    # a list asked for that did not come close enough to lead is among the Belege, not left out
    # behind likelier sentences ("Welche Angebote hat die SKEW?": the offers, under their lead-in)
    if lists and not lead.is_item:
        listed = likeliest_list(pool)
        if listed is not None and listed.prob >= floor and listed.text not in seen:
            take(listed)
    # evidence from the lead's own passage carries the lead on (a definition's second sentence, the
    # reason after a claim): it counts (1 + same_passage) times its probability
    boost = c.get("same_passage", 0.0)
    for s in sorted(pool, key=lambda s: -s.prob * (1 + boost * (s.passage is lead.passage))):
        if len(chosen) >= max(int(c.get("max_evidence", 2)), len(docs) - 1):
            break
        if s.prob < floor:
            break
        if s.text in seen or (used + s.words > budget and not (lists and s.is_item)):
            continue
        take(s)
    return chosen


def speaking(u: Understood, lead: Sentence, sents: list[Sentence], weights: Weights) -> frozenset[str]:
    """The documents that should each speak: those the question names, or, when it asks across
    documents without naming them ("laut den Papieren"), the likeliest documents among the units
    at least `evidence_ratio` × the lead's probability (at most MAX_DOCUMENTS)."""
    if len(u.named) > 1 or not u.wants_documents:
        return u.named
    floor = weights.compose.get("evidence_ratio", 0.5) * lead.prob
    likely = [s.passage.doc_id for s in sorted(sents, key=lambda s: -s.prob) if s.prob >= floor]
    return frozenset(list(dict.fromkeys([lead.passage.doc_id, *likely]))[:MAX_DOCUMENTS])


def _excerpts_of(chosen: list[Sentence]) -> list[Excerpt]:
    """Chosen units as excerpts, likeliest first: each its own line, so the first words of the
    Belege are the likeliest evidence (a run of neighbours would start with its earliest unit)."""
    return [_excerpt([s]) for s in sorted(chosen, key=lambda s: -s.prob)]


def _excerpt(group: list[Sentence]) -> Excerpt:
    return Excerpt(group[0].passage, min(s.start for s in group), max(s.end for s in group),
                   anchor=max(group, key=lambda s: s.prob).start)


def _list_excerpt(p: Passage, start: int, end: int, more: Callable[[Passage], Passage] | None,
                  max_items: int | None = None, max_words: int | None = None) -> Excerpt | None:
    """A list shown as lines (lead-in, then "- item"), from `start` to `end` of `p`; a list that
    runs on past the chunk's end is completed from the following chunks (`more` joins them). With
    `max_items` or `max_words`, a longer list shows its first items (two at least) and then how
    many more follow: a list of paragraph-long items would otherwise fill the answer many times."""
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
            return _list_excerpt(merged, start, last, None, max_items, max_words)
    items = [k for k, (_, _, item) in enumerate(spans) if item]
    keep = min(len(items), max_items or len(items))
    if max_words is not None:
        for n, k in enumerate(items[:keep]):
            if n >= 2 and len(words(p.text[spans[0][0]:spans[k][1]])) > max_words:
                keep = n
                break
    hidden = len(items) - keep
    if hidden:
        spans = spans[:items[keep - 1] + 1]
    lines: list[str] = []
    for n, (a, e, item) in enumerate(spans):
        text = re.sub(r"\s*\n+\s*", " ", p.text[a:e])
        if item:
            lines.append("- " + _unbulleted(text))
        elif n and not spans[n - 1][2]:
            lines[-1] += " " + text  # prose before the list stays one paragraph
        else:
            lines.append(text)
    if hidden:
        lines.append(f"- … und {hidden} weitere")
    return Excerpt(p, spans[0][0], spans[-1][1], tuple(lines))


def _unbulleted(text: str) -> str:
    """An item's text without the "• " cleaning put before it: the answer marks items with "- "."""
    return text[2:] if text.startswith("• ") else text


def _marked(e: Excerpt, n: int) -> str:
    """An excerpt with its citation mark: after the text, or after every line of a list."""
    if e.list_lines:
        return e.render().replace("\n", f" [{n}]\n") + f" [{n}]"
    return f"{e.render()} [{n}]"


_TOKEN_CHARS = re.compile(r"[\w.,%€/-]")
_MARK = re.compile(r"\[\d+\]")


def emphasis(u: Understood, text: str) -> tuple[tuple[int, int], ...]:
    """Where in `text` the span stands that a typed question asks for (a date, number, amount,
    contact …), widened to whole words: the faces show it in bold. It is kept apart from the text,
    as a search engine keeps its highlights, so the quote itself stays exactly the document's."""
    typed = answer_type(u.focus)
    if typed is not None and typed[0] == "funding":  # a topic (who pays), not a span to find at a glance
        return ()
    m = answer_in(typed, _MARK.sub(lambda x: " " * len(x.group(0)), text), u.focus) if typed is not None else None
    if m is None or not m.group(0).strip():
        return ()
    a, e = m.span()
    while a > 0 and _TOKEN_CHARS.match(text[a - 1]):
        a -= 1
    while e < len(text) and _TOKEN_CHARS.match(text[e]):
        e += 1
    while e > a and text[e - 1] in " .,;:":
        e -= 1
    while a < e and text[a] in " .,;:":
        a += 1
    return ((a, e),) if e > a else ()


def render(u: Understood | None, lead: Excerpt, evidence: list[Excerpt]) -> Composed:
    """The lead with [1], then "Belege:" with one line per excerpt; when several documents speak,
    each line names its document and the lines of one document stand together. A question across
    documents leads with one line per document (the lead, then each other document's likeliest
    excerpt): what each of them says comes first, the further Belege after."""
    excerpts = [lead] + evidence
    docs = list(dict.fromkeys(e.passage.doc_id for e in excerpts))
    across = u is not None and u.wants_documents and len(docs) > 1
    voices = [next(e for e in evidence if e.passage.doc_id == d) for d in docs[1:]] if across else []
    rest = [e for e in evidence if not any(e is v for v in voices)]
    ordered = [lead] + voices + sorted(rest, key=lambda e: docs.index(e.passage.doc_id))
    cits = [_cite(n, e) for n, e in enumerate(ordered, start=1)]
    head = _marked(lead, 1)
    bold = emphasis(u, head) if u is not None and not lead.list_lines else ()
    if across:  # each document speaks under its name
        prefix = f"{label(lead.passage)}: "
        head = prefix + head
        bold = tuple((a + len(prefix), e + len(prefix)) for a, e in bold)
        head = "\n".join([head] + [f"{label(e.passage)}: {_unbulleted(_marked(e, n))}"
                                   for n, e in enumerate(voices, start=2)])
    lines = []
    for n, e in enumerate(ordered[1 + len(voices):], start=2 + len(voices)):
        prefix = f"{label(e.passage)}: " if len(docs) > 1 else ""
        body = _marked(e, n) if e.list_lines else _unbulleted(_marked(e, n))
        if e.list_lines and not body.startswith("- "):  # a list among the Belege: nested under its lead-in
            first, *more_lines = body.split("\n")
            body = "\n".join([f"- {first}"] + [f"  {line}" if line.startswith("- ") else f"  - {line}"
                                                for line in more_lines])
        lines.append(f"- {prefix}{body}" if not e.list_lines else f"{prefix}{body}")
    text = head if not lines else f"{head}\n\n{EVIDENCE_HEADING}\n" + "\n".join(lines)
    return Composed(text, head, cits, bold)


def compose(u: Understood, ev: Evidence, weights: Weights, budget: int, idf: dict[str, float] | None = None,
            more: Callable[[Passage], Passage] | None = None) -> Composed:
    """The answer text with [n] markers and the citations behind them (never an unsourced sentence)."""
    sents = quotable(ev, lists=u.wants_list)
    if not sents:
        return Composed(REFUSAL, REFUSAL, [])
    lead = choose_lead(sents)
    if u.wants_list:  # a list question is answered by a list when one comes close enough
        listed = likeliest_list(sents)
        if listed is not None and listed.prob >= weights.compose.get("list_ratio", 2.0) * lead.prob:
            lead = listed
    shown = lead_excerpt(u, lead, sents, weights, idf or {}, more, budget)
    chosen = choose_evidence(lead, shown, sents, weights, budget, speaking(u, lead, sents, weights), u.wants_list)
    room = max(budget - shown.words, 0)  # a list among the Belege shows what fits after the lead
    evidence = [(_list_excerpt(e.passage, e.start, e.end, more, MAX_LIST_ITEMS, room) if u.wants_list else None) or e
                for e in _excerpts_of(chosen)]
    return render(u, shown, evidence)


def near_miss(ev: Evidence) -> Composed:
    """A refusal that still shows the closest passage, so the reader can judge for themselves."""
    sents = quotable(ev, lists=False)
    if not sents:
        return Composed(REFUSAL, REFUSAL, [])
    e = _excerpt([choose_lead(sents)])
    head = f"{NEAR_MISS} {_marked(e, 1)}"
    return Composed(head, head, [_cite(1, e)])
