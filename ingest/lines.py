"""Line-level repairs shared by cleaning and block building: characters normalised, running headers
found, lines joined across hyphenation, headings told from body lines; and the Block they produce."""
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
    "deren", "dessen", "bzw", "bzw.", "sowie", "zwischen", "durch", "gegen", "ohne", "um",
}


@dataclass(frozen=True)
class Block:
    """A heading, paragraph or list item; `page_breaks` maps offsets inside `text` to pages."""

    kind: str  # "heading" | "paragraph" | "item" | "caption" | "footnote"
    text: str
    page_breaks: tuple[tuple[int, int], ...] = ()
    section: str = ""
    footnotes: tuple[int, ...] = ()  # footnotes whose markers stood in this block (markers are removed)


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

    "Kom-" + "munen" → "Kommunen" (a word split by layout); "UN-" + "Klimakonferenzen" →
    "UN-Klimakonferenzen" (a hyphenated compound broken at its hyphen: the next part starts in upper
    case or with a digit); "Städte-" + "und Projekt…" keeps hyphen and space (an elided compound).
    """
    prev = prev.rstrip()
    nxt = nxt.strip()
    if not prev:
        return nxt
    m = re.search(r"([0-9A-Za-zÄÖÜäöüß]+)-$", prev)
    if m and nxt:
        first = re.match(r"[0-9A-Za-zÄÖÜäöüß]+", nxt)
        first_word = first.group(0) if first else ""
        if first_word and first_word.lower().rstrip(".") in _HYPHEN_KEEP_NEXT:
            return prev + " " + nxt
        if first_word and first_word[0].islower():
            return prev[:-1] + nxt
        if first_word:
            return prev + nxt
    return prev + " " + nxt


def _is_heading(line: str, prev_raw: str, next_raw: str, md: bool) -> bool:
    s = line.strip()
    if _MD_HEADING.match(line) or re.fullmatch(r"\*\*[^*]{2,120}\*\*:?", s):
        return True  # Markdown headings survive in text exports and PDF renderings of Markdown
    if md:
        return False
    if not (2 <= len(s) <= 80) or _BULLET.match(line) or _NUMBERED.match(line) or _CAPTION.search(s):
        return False
    if re.search(r"\(\d{4}\)$", s):
        return False  # "Division (2018)": the tail of a source reference
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


def _strip_markup(s: str, heading: bool = True) -> str:
    """A line without markdown markup; a heading also without its trailing colon ("Unsere Ziele:").
    A paragraph keeps its colon: "… die folgenden Schritte:" leads into the list below it."""
    heading = heading or bool(_MD_HEADING.match(s))
    s = _MD_HEADING.sub("", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"\1", s)
    s = re.sub(r"(?<!\w)\*([^*]+)\*(?!\w)", r"\1", s)
    s = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", s)  # [text](url) → text
    return s.strip().rstrip(":").strip() if heading and s.strip().endswith(":") and len(s) < 80 else s.strip()


_FOOTNOTE_PAIR = re.compile(r"(?<=[.,;:)“”\"’])(\d{1,2}) (\d{1,2})(?= [A-ZÄÖÜ])")


def _tidy(text: str) -> str:
    # two notes on one spot, "fördern.17 18 Diese": the second number follows the first
    text = _FOOTNOTE_PAIR.sub(lambda m: "" if int(m.group(2)) == int(m.group(1)) + 1 else m.group(0), text)
    text = _FOOTNOTE_MARK.sub("", text)
    text = re.sub(r"\*\*([^*]+?)\*\*", r"\1", text).replace("**", "")
    text = re.sub(r"(?<=[a-zäöüß]),(?=[A-ZÄÖÜ])", ", ", text)  # "Kooperation,Vernetzung"
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


_CAPTION = re.compile(r"\((?:Foto|Fotos|Bild|Bilder|Abb\.|Abbildung|Grafik|Quelle)\s*:", re.IGNORECASE)
