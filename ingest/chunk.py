"""Structure-aware, token-bounded chunking: whole sentences and list items, headings kept with their body."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from assistant.core.settings import Settings
from assistant.core.text import count_tokens, sentence_spans
from assistant.core.types import DocumentInfo, Passage
from ingest.clean import Block
from ingest.loaders import RawDocument

BLOCK_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class _Unit:
    """The smallest piece a chunk boundary may fall between: a heading, a list item or a sentence."""

    start: int  # offsets into the document text
    end: int
    tokens: int
    kind: str
    section: str
    block: int


def document_text(blocks: list[Block]) -> tuple[str, list[int]]:
    """The cleaned document as one string, and each block's start offset in it."""
    starts, pos = [], 0
    for b in blocks:
        starts.append(pos)
        pos += len(b.text) + len(BLOCK_SEPARATOR)
    return BLOCK_SEPARATOR.join(b.text for b in blocks), starts


def _units(blocks: list[Block], starts: list[int], max_tokens: int) -> list[_Unit]:
    units: list[_Unit] = []
    for i, (b, s) in enumerate(zip(blocks, starts)):
        if b.kind != "paragraph":  # paragraphs are costed sentence by sentence below, not twice
            n = count_tokens(b.text)
            if n <= max_tokens:
                units.append(_Unit(s, s + len(b.text), n, b.kind, b.section, i))
                continue
        for a, e in sentence_spans(b.text):
            piece = b.text[a:e]
            t = count_tokens(piece)
            if t <= max_tokens:
                units.append(_Unit(s + a, s + e, t, b.kind, b.section, i))
                continue
            # a "sentence" longer than a chunk (tables, run-on lists): cut at word boundaries
            words, w0 = piece.split(" "), 0
            cur: list[str] = []
            for w in words:
                if cur and count_tokens(" ".join(cur + [w])) > max_tokens:
                    text = " ".join(cur)
                    units.append(_Unit(s + a + w0, s + a + w0 + len(text), count_tokens(text), b.kind, b.section, i))
                    w0 += len(text) + 1
                    cur = []
                cur.append(w)
            if cur:
                text = " ".join(cur)
                units.append(_Unit(s + a + w0, s + a + w0 + len(text), count_tokens(text), b.kind, b.section, i))
    return units


def chunk_document(blocks: list[Block], doc: DocumentInfo, max_tokens: int, overlap_tokens: int) -> list[Passage]:
    """Pack units into chunks of at most `max_tokens`; a new section starts a new chunk when the
    current one is already substantial, and the last sentences of a chunk open the next (overlap)."""
    text, starts = document_text(blocks)
    units = _units(blocks, starts, max_tokens)
    breaks = _page_breaks(blocks, starts)
    groups: list[list[_Unit]] = []
    cur: list[_Unit] = []
    cur_tokens = 0
    # each unit is costed one token more than alone: the separator before it ("\n\n" or a space)
    # may be a token of its own, and the bound must hold for the joined chunk text
    runs = _list_runs(units, blocks)
    for i, u in enumerate(units):
        heading_starts = u.kind == "heading" and cur and cur_tokens > max_tokens * 0.4
        # a list (with its lead-in line) that fits in one chunk starts one rather than being cut
        list_starts = i in runs and cur and cur_tokens + runs[i] > max_tokens and runs[i] <= max_tokens
        if list_starts and cur[-1].kind == "heading":
            list_starts = False  # keep a heading with its list; the bound check below still applies
        heading_starts = heading_starts or bool(list_starts)
        # the footnotes (kept after the body) start a chunk of their own: their pages run anew
        heading_starts = heading_starts or (u.kind == "footnote" and bool(cur) and cur[-1].kind != "footnote")
        if cur and (cur_tokens + u.tokens + 1 > max_tokens or heading_starts):
            groups.append(cur)
            carry: list[_Unit] = []
            if not heading_starts:
                for prev in reversed(cur):
                    if prev.kind == "heading" or sum(x.tokens + 1 for x in carry) + prev.tokens > overlap_tokens:
                        break
                    carry.insert(0, prev)
                if sum(x.tokens + 1 for x in carry) + u.tokens + 1 > max_tokens:
                    carry = []
            cur = carry
            cur_tokens = sum(x.tokens + 1 for x in cur)
        cur.append(u)
        cur_tokens += u.tokens + 1
    if cur:
        groups.append(cur)
    # a group made only of headings (the document's last lines, e.g. "Beschluss vom 28. September
    # 2021 in Heidelberg") joins the group before it when it fits, rather than standing alone
    merged: list[list[_Unit]] = []
    for g in groups:
        if merged and all(u.kind == "heading" for u in g) and \
                sum(u.tokens + 1 for u in merged[-1] + g) <= max_tokens:
            merged[-1] = merged[-1] + [u for u in g if u.start >= merged[-1][-1].end]
        else:
            merged.append(g)
    groups = merged

    passages: list[Passage] = []
    for ordinal, g in enumerate(groups):
        a, e = g[0].start, g[-1].end
        chunk = text[a:e]
        pb = _breaks_in(breaks, a, e)
        section = next((u.section for u in g if u.section), "")
        notes = tuple(dict.fromkeys(n for b in sorted({u.block for u in g}) for n in blocks[b].footnotes))
        # the id hashes everything stored with the chunk: same id ⇔ same stored record
        record = json.dumps([chunk, doc.title, doc.publisher, doc.kind, doc.year, list(doc.audience),
                             doc.source, section, pb, a], ensure_ascii=False)
        digest = hashlib.sha1(record.encode()).hexdigest()[:12]
        passages.append(Passage(
            chunk_id=f"{doc.doc_id}:{ordinal:04d}:{digest}", doc_id=doc.doc_id, title=doc.title,
            source=doc.source, kind=doc.kind, text=chunk, ordinal=ordinal, char_start=a, char_end=e,
            page_start=pb[0][1] if pb else None, page_end=pb[-1][1] if pb else None, page_breaks=pb,
            section=section, publisher=doc.publisher, year=doc.year, footnotes=notes))
    return passages


def _list_runs(units: list[_Unit], blocks: list[Block]) -> dict[int, int]:
    """Unit index → token cost of the list that starts there: a lead-in ending in ":" (or the first
    item) and all items that follow it."""
    runs: dict[int, int] = {}
    for i, u in enumerate(units):
        lead_in = u.kind == "paragraph" and blocks[u.block].text.rstrip().endswith(":") and \
            i + 1 < len(units) and units[i + 1].kind == "item"
        first_item = u.kind == "item" and (i == 0 or units[i - 1].kind != "item") and \
            not (i > 0 and (i - 1) in runs)
        if not (lead_in or first_item):
            continue
        j, cost = i, u.tokens + 1
        while j + 1 < len(units) and units[j + 1].kind == "item":
            j += 1
            cost += units[j].tokens + 1
        runs[i] = cost
    return runs


def _page_breaks(blocks: list[Block], starts: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for b, s in zip(blocks, starts):
        for off, page in b.page_breaks:
            if not out or out[-1][1] != page:
                out.append((s + off, page))
    return out


def _breaks_in(breaks: list[tuple[int, int]], a: int, e: int) -> tuple[tuple[int, int], ...]:
    """Page starts inside [a, e), relative to a; the page in force at a comes first."""
    if not breaks:
        return ()
    current = breaks[0][1]
    inside: list[tuple[int, int]] = []
    for off, page in breaks:
        if off <= a:
            current = page
        elif off < e:
            inside.append((off - a, page))
    return ((0, current), *inside)


def chunks_of(blocks: list[Block], info: DocumentInfo, settings: Settings, raw: RawDocument) -> list[Passage]:
    """The document's chunks, each marked when some of its pages were read by OCR."""
    passages = chunk_document(blocks, info, settings.ingest.chunk_tokens, settings.ingest.chunk_overlap_tokens)
    if not raw.ocr_pages:
        return passages
    ocr = set(raw.ocr_pages)
    return [replace(p, ocr=any(page in ocr for page in range(p.page_start or 0, (p.page_end or p.page_start or 0) + 1)))
            for p in passages]
