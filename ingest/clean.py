"""Repair extraction artefacts and recover structure: blocks of headings, paragraphs and list items.

The cleaned block texts are what is indexed and quoted, so every rule here keeps
wording intact and only removes layout noise (hyphenation at line ends, bullet
glyphs, footnotes, running headers, URL lines, page numbers, ligatures).
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
_BULLET = re.compile(r"^\s*(?:ÆÆ|Æ|●|•|▪|■|►|▶|◦|∙|·|\*|-|–)\s+")
_NUMBERED = re.compile(r"^\s*(?:\d{1,2}\.|[a-z]\.\)|[a-z]\))\s+\S")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+")
_URL_LINE = re.compile(r"^\s*(?:https?://|www\.)\S+\s*$")
_PAGE_NUMBER = re.compile(r"^\s*(?:Seite\s+)?\d{1,3}(?:\s*/\s*\d{1,3})?\s*$")
_FOOTNOTE_LINE = re.compile(r"^\s*(\d{1,2})\s+(?=\S)(?!\d)")
# footnote markers glued to the end of a word or punctuation: "erhöhen.2 80", "(RGRE)5 –", "Kommunen“4."
_FOOTNOTE_MARK = re.compile(r"(?<=[.,;:)“”\"’])\d{1,2}(?=\s|$|[.,;:])|(?<=[a-zäöüß]{4})\d{1,2}(?=[\s.,;:]|$)")
_HYPHEN_KEEP_NEXT = {"und", "oder", "bzw", "sowie", "als", "wie", "bis"}
_FUNCTION_WORDS = {
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einer", "und", "oder", "für",
    "von", "zu", "zur", "zum", "mit", "in", "im", "an", "am", "auf", "bei", "aus", "nach", "über",
    "sich", "sie", "es", "wir", "ist", "sind", "auch", "als", "wie", "dass", "nicht", "so",
}


@dataclass(frozen=True)
class Block:
    """A heading, paragraph or list item; `page_breaks` maps offsets inside `text` to pages."""

    kind: str  # "heading" | "paragraph" | "item"
    text: str
    page_breaks: tuple[tuple[int, int], ...] = ()
    section: str = ""


def normalize_chars(text: str) -> str:
    """Unicode NFC, no soft hyphens or zero-width characters, ligatures spelled out, plain spaces."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\u00ad", "").replace("\u200b", "").replace("\ufeff", "")
    for lig, rep in _LIGATURES.items():
        text = text.replace(lig, rep)
    text = re.sub(r"[\u00a0\u2007\u202f\t]", " ", text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def repeated_lines(pages: list[list[str]]) -> set[str]:
    """Lines that recur on at least half of 3+ pages: running headers and footers."""
    if len(pages) < 3:
        return set()
    seen: Counter[str] = Counter()
    for page in pages:
        for ln in {ln.strip() for ln in page if ln.strip()}:
            seen[ln] += 1
    return {ln for ln, n in seen.items() if n >= max(3, len(pages) // 2) and len(ln) < 120}


def join_lines(prev: str, nxt: str) -> str:
    """Join two lines of one paragraph, undoing hyphenation at the line break.

    "Kom-" + "munen" → "Kommunen"; "Städte-" + "und Projekt…" keeps the real hyphen.
    """
    prev = prev.rstrip()
    nxt = nxt.strip()
    if not prev:
        return nxt
    m = re.search(r"([A-Za-zÄÖÜäöüß]+)-$", prev)
    if m and nxt:
        first = re.match(r"[A-Za-zÄÖÜäöüß]+", nxt)
        first_word = first.group(0) if first else ""
        if first_word and first_word[0].islower() and first_word.lower() not in _HYPHEN_KEEP_NEXT:
            return prev[:-1] + nxt
    return prev + " " + nxt


def _is_heading(line: str, prev_raw: str, next_raw: str, md: bool) -> bool:
    s = line.strip()
    if _MD_HEADING.match(line) or re.fullmatch(r"\*\*[^*]{2,120}\*\*:?", s):
        return True  # Markdown headings survive in text exports and PDF renderings of Markdown
    if md:
        return False
    if not (2 <= len(s) <= 80) or _BULLET.match(line) or _NUMBERED.match(line):
        return False
    if s[-1] in ".,;!-–" or not (s[0].isupper() or s[0].isdigit()):
        return False
    tokens = s.split()
    last = tokens[-1].strip(":?")
    if len(tokens) > 8 or last.lower() in _FUNCTION_WORDS:
        return False
    if len(tokens) > 5 and not (last[:1].isupper() or last[:1].isdigit() or s[-1] in "?:"):
        return False  # a long line ending in a lower-case word is a wrapped sentence, not a heading
    prev_s = prev_raw.rstrip()
    prev_closed = not prev_s or prev_s[-1] in ".!?:)“\""
    nxt = next_raw.strip()
    next_opens = not nxt or nxt[0].isupper() or nxt[0].isdigit() or bool(_BULLET.match(next_raw)) or nxt[0] in "„\""
    return prev_closed and next_opens


def _strip_markup(s: str) -> str:
    s = _MD_HEADING.sub("", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"\1", s)
    s = re.sub(r"(?<!\w)\*([^*]+)\*(?!\w)", r"\1", s)
    s = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", s)  # [text](url) → text
    return s.strip().rstrip(":").strip() if s.strip().endswith(":") and len(s) < 80 else s.strip()


def _tidy(text: str) -> str:
    text = _FOOTNOTE_MARK.sub("", text)
    text = re.sub(r"\*\*([^*]+?)\*\*", r"\1", text).replace("**", "")
    text = re.sub(r"(?<=[a-zäöüß]),(?=[A-ZÄÖÜ])", ", ", text)  # "Kooperation,Vernetzung"
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def clean_pages(pages: list[tuple[int | None, str]], markup: str = "plain") -> list[Block]:
    """Turn extracted page texts into clean, structured blocks with page numbers."""
    md = markup == "markdown"
    split_pages = [normalize_chars(text).split("\n") for _, text in pages]
    noise = repeated_lines(split_pages)
    lines: list[tuple[int | None, str]] = []
    footnote_no = 0
    in_footnote = False
    for (page, _), page_lines in zip(pages, split_pages):
        for raw in page_lines:
            s = raw.strip()
            if not s:
                lines.append((page, ""))
                in_footnote = False
                continue
            if s in noise or _URL_LINE.match(s) or _PAGE_NUMBER.match(s):
                continue
            fm = _FOOTNOTE_LINE.match(raw)
            if fm and footnote_no < int(fm.group(1)) <= footnote_no + 3 and not _NUMBERED.match(raw):
                # footnote lines count up through the document: "2 United Nations …"
                footnote_no = int(fm.group(1))
                in_footnote = True
                continue
            # a footnote goes on over lines that start in lower case, e.g. "(s. z. B.: RGRE [2013] …)"
            in_footnote = in_footnote and bool(re.match(r"^\(?[a-zäöüß]", s))
            if in_footnote:
                continue
            lines.append((page, raw.rstrip()))
    return _blocks(lines, md)


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
                blocks.append(Block(cur_kind, tidy, breaks, section))
        cur_text, cur_breaks, cur_kind = "", [], "paragraph"

    for i, (page, raw) in enumerate(lines):
        prev_raw = lines[i - 1][1] if i else ""
        next_raw = lines[i + 1][1] if i + 1 < len(lines) else ""
        if not raw.strip():
            flush()
            continue
        if _is_heading(raw, prev_raw, next_raw, md):
            flush()
            heading = _tidy(_strip_markup(raw))
            if heading:
                section = heading
                blocks.append(Block("heading", heading, ((0, page),) if page else (), heading))
            continue
        starts_item = bool(_BULLET.match(raw) or _NUMBERED.match(raw))
        if starts_item:
            flush()
            cur_kind = "item"
        if page is not None and (not cur_breaks or cur_breaks[-1][1] != page):
            cur_breaks.append((len(cur_text) + (1 if cur_text else 0), page))
        cur_text = join_lines(cur_text, _strip_markup(raw) if md or _MD_HEADING.match(raw) else raw)
    flush()
    return blocks
