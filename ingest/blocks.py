"""Lines into blocks: headings, paragraphs, list items and captions, with their pages and sections
(a wrapped title or list item is one block, a caption is split from the paragraph it ended)."""
from __future__ import annotations

import re

from assistant.core.text import CAPTION_CREDIT

from ingest.lines import (_CAPTION, Block, _BULLET, _FOOTNOTE_MARK, _FUNCTION_WORDS, _MD_HEADING, _NUMBERED, _is_heading,
                         _strip_markup, _tidy, join_lines)


_TITLE_MARK = "\x00title\x00"


def _is_heading_group(group: list[str], md: bool) -> bool:
    """A block of one or two short lines with no closing punctuation, standing alone between
    blank lines, is a heading ("Die Agenda 2030 als kommunaler / Handlungsrahmen …")."""
    if md or not 1 <= len(group) <= 2:
        return False
    text = _tidy(" ".join(g.strip() for g in group))
    if not (3 <= len(text) <= 110) or _BULLET.match(group[0]) or _NUMBERED.match(group[0]):
        return False
    if _CAPTION.search(text) or text[-1] in ".,;!?-–" or not (text[0].isupper() or text[0].isdigit()):
        return False
    tokens = text.split()
    if text.endswith(":") and len(tokens) >= 5:
        return False  # "Was wir den Akteuren in den Kommunen bieten:" leads into a list
    if tokens[-1].strip(":").lower() in _FUNCTION_WORDS or re.search(r"\(\d{4}\)$", text):
        return False
    return sum(len(t) >= 4 and t[0].isalpha() for t in tokens) >= 1


def _wrapped(line: str, next_line: str, width: int) -> bool:
    """True when the next line's first word would not have fitted: the break is a line wrap."""
    first = next_line.strip().split(" ", 1)[0] if next_line.strip() else ""
    return bool(first) and len(line.strip()) + 1 + len(first) > width


def _blocks(lines: list[tuple[int | None, str]], md: bool) -> list[Block]:
    blocks: list[Block] = []
    cur_text = ""
    cur_kind = "paragraph"
    cur_breaks: list[tuple[int, int]] = []
    section = ""

    def flush() -> None:
        nonlocal cur_text, cur_breaks, cur_kind
        text = cur_text
        if text.strip():
            # bullets of any glyph become "• ": list items stay recognisable in passages and answers
            tidy = _tidy(_BULLET.sub("• ", text) if cur_kind == "item" else text)
            if tidy:
                scale = len(tidy) / max(len(text), 1)
                breaks = tuple(sorted({(min(int(o * scale), len(tidy) - 1) if o else 0, p)
                                       for o, p in cur_breaks}))
                refs = tuple(dict.fromkeys(int(x) for x in _FOOTNOTE_MARK.findall(text)))
                blocks.extend(_split_captions(Block(cur_kind, tidy, breaks, section, refs)))
        cur_text, cur_breaks, cur_kind = "", [], "paragraph"

    def heading(text: str, page: int | None) -> None:
        nonlocal section
        flush()
        h = _tidy(_strip_markup(text))
        if h:
            section = h
            blocks.append(Block("heading", h, ((0, page),) if page else (), h))

    groups = _groups(lines)
    lengths = sorted(len(raw.strip()) for _, raw in lines if raw.strip())
    doc_width = lengths[int(len(lengths) * 0.9)] if lengths else 80
    for group in groups:
        flush()
        texts = [raw for _, raw in group]
        titled = any(t.startswith(_TITLE_MARK) for t in texts)
        if not titled and _is_heading_group(texts, md) and len(groups) > 1:
            heading(" ".join(t.strip() for t in texts), group[0][0])
            continue
        width = max(len(t.strip()) for t in texts) if len(texts) >= 3 else doc_width
        skip = 0
        for i, (page, raw) in enumerate(group):
            if skip:
                skip -= 1
                continue
            prev_raw = texts[i - 1] if i else ""
            next_raw = texts[i + 1] if i + 1 < len(texts) else ""
            if raw.startswith(_TITLE_MARK):
                heading(raw[len(_TITLE_MARK):], page)
                continue
            if _is_heading(raw, prev_raw, next_raw, md) and not (
                    next_raw and not md and not _MD_HEADING.match(raw) and _wrapped(raw, next_raw, width)):
                heading(raw, page)
                continue
            starts_item = bool(_BULLET.match(raw) or _NUMBERED.match(raw))
            if starts_item:
                flush()
                cur_kind = "item"
            elif (cur_kind == "item" and not md and re.search(r"[.!?]$", prev_raw.rstrip())
                  and raw.strip()[:1].isupper() and not _wrapped(prev_raw, raw, width)):
                # a line that could have followed on the item's last line but did not: a new block,
                # e.g. a box title after a list ("… -bindung." / "Internationaler Fachaustausch zu")
                flush()
                split_lines = texts[i:]
                rest = split_lines[:next((k for k, t in enumerate(split_lines)
                                          if _BULLET.match(t) or _NUMBERED.match(t)), len(split_lines))]
                if len(rest) <= 3 and _is_heading_group([" ".join(t.strip() for t in rest)], md):
                    heading(" ".join(t.strip() for t in rest), page)
                    skip = len(rest) - 1
                    continue
            if page is not None and (not cur_breaks or cur_breaks[-1][1] != page):
                cur_breaks.append((len(cur_text) + (1 if cur_text else 0), page))
            cur_text = join_lines(cur_text, _strip_markup(raw, heading=False) if md or _MD_HEADING.match(raw) else raw)
    flush()
    return _rejoin_items(blocks)


def _split_captions(b: Block) -> list[Block]:
    """A photo caption is a block of its own ("caption"): its credit "(Foto: …)" ends it, and text
    that follows it in the same paragraph ("… (Foto: Stadt Mannheim) Städte sind Orte …") starts
    a new paragraph instead of running on from the caption."""
    if b.kind != "paragraph":
        return [b]
    out: list[Block] = []
    text, breaks = b.text, b.page_breaks
    while True:
        m = CAPTION_CREDIT.search(text)
        if m is None:
            break
        cut = m.end()
        rest = text[cut:].lstrip()
        if rest and not rest[:1].isupper():
            break  # "(Quelle: …) zeigt, dass …": the credit stands inside a sentence
        out.append(Block("caption", text[:cut].strip(), tuple((o, p) for o, p in breaks if o < cut) or breaks[:1],
                         b.section, b.footnotes))
        if not rest:
            return out
        shift = len(text) - len(rest)
        later = [(o - shift, p) for o, p in breaks if o >= shift]
        current = [p for o, p in breaks if o < shift][-1:] if breaks else []
        breaks = tuple(([(0, current[0])] if current and (not later or later[0][0] > 0) else []) + later)
        text = rest
    return out + [Block(b.kind, text, breaks, b.section, b.footnotes)]


def _groups(lines: list[tuple[int | None, str]]) -> list[list[tuple[int | None, str]]]:
    """Runs of non-blank lines. A blank line after a word split by a hyphen ("wei-" / "teren")
    is layout, not a paragraph break."""
    groups: list[list[tuple[int | None, str]]] = []
    cur: list[tuple[int | None, str]] = []
    for i, (page, raw) in enumerate(lines):
        if raw.strip():
            cur.append((page, raw))
            continue
        nxt = next((ln for _, ln in lines[i + 1:] if ln.strip()), "")
        if cur and re.search(r"[a-zäöüß]-$", cur[-1][1].rstrip()) and re.match(r"\s*[a-zäöüß]", nxt):
            continue
        if cur:
            groups.append(cur)
        cur = []
    if cur:
        groups.append(cur)
    return groups


def _rejoin_items(blocks: list[Block]) -> list[Block]:
    """A paragraph (or what looked like a heading) sandwiched between two items of a list, after
    an item that breaks off on a lower-case word, is that item's continuation split off by layout
    ("• … zur interkulturellen" / "Öffnung der kommunalen Entwicklungspolitik …")."""
    out: list[Block] = []
    renamed: dict[str, str] = {}  # a false heading merged away: its blocks belong to the previous section
    for i, b in enumerate(blocks):
        if b.section in renamed:
            b = Block(b.kind, b.text, b.page_breaks, renamed[b.section], b.footnotes)
        prev = out[-1] if out else None
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if (b.kind in ("paragraph", "heading") and prev is not None and prev.kind == "item" and nxt is not None
                and nxt.kind == "item" and prev.text.startswith("•") and nxt.text.startswith("•")
                and re.search(r"(?:\s[a-zäöüß]+|-)$", prev.text) and not b.text.endswith(":")):
            offset = len(prev.text) + 1
            breaks = prev.page_breaks + tuple((o + offset, p) for o, p in b.page_breaks
                                               if not prev.page_breaks or p != prev.page_breaks[-1][1])
            out[-1] = Block("item", join_lines(prev.text, b.text), breaks, prev.section, prev.footnotes + b.footnotes)
            if b.kind == "heading":
                renamed[b.text] = prev.section
            continue
        out.append(b)
    return out
