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

from assistant.core.text import CAPTION_CREDIT

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


def _strip_markup(s: str) -> str:
    s = _MD_HEADING.sub("", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"\1", s)
    s = re.sub(r"(?<!\w)\*([^*]+)\*(?!\w)", r"\1", s)
    s = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", s)  # [text](url) → text
    return s.strip().rstrip(":").strip() if s.strip().endswith(":") and len(s) < 80 else s.strip()


_FOOTNOTE_PAIR = re.compile(r"(?<=[.,;:)“”\"’])(\d{1,2}) (\d{1,2})(?= [A-ZÄÖÜ])")


def _tidy(text: str) -> str:
    # two notes on one spot, "fördern.17 18 Diese": the second number follows the first
    text = _FOOTNOTE_PAIR.sub(lambda m: "" if int(m.group(2)) == int(m.group(1)) + 1 else m.group(0), text)
    text = _FOOTNOTE_MARK.sub("", text)
    text = re.sub(r"\*\*([^*]+?)\*\*", r"\1", text).replace("**", "")
    text = re.sub(r"(?<=[a-zäöüß]),(?=[A-ZÄÖÜ])", ", ", text)  # "Kooperation,Vernetzung"
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def clean_pages(pages: list[tuple[int | None, str]], markup: str = "plain", title: str = "") -> list[Block]:
    """Turn extracted page texts into clean, structured blocks with page numbers.

    `title` (from the catalogue) lets the title block be recognised as a heading even when
    it wraps over two lines, instead of being glued to the first paragraph."""
    md = markup == "markdown"
    split_pages = [normalize_chars(text).split("\n") for _, text in pages]
    noise = repeated_lines(split_pages)
    glued = glued_repeats("\n".join("\n".join(p) for p in split_pages))
    lines: list[tuple[int | None, str]] = []
    notes = _Footnotes()
    for (page, _), page_lines in zip(pages, split_pages):
        notes.new_page()
        for raw in page_lines:
            s = raw.strip()
            if not s:
                lines.append((page, ""))
                notes.blank()
                continue
            if s in noise or _PAGE_NUMBER.match(s):
                continue
            if notes.take(raw, page):
                continue  # a footnote's text: kept as a block of its own, not in the body
            if _URL_LINE.match(s):
                continue
            prev = lines[-1][1] if lines else ""
            if re.search(r"(?:www\.|https?://)\S*/$", prev) and re.match(r"\s*[a-z0-9_\-]+/", raw):
                # a URL wrapped after a slash: "www.rgre.de/" + "partnerschaft/datenbank/)."
                head, _, raw = raw.strip().partition(" ")
                lines[-1] = (lines[-1][0], prev + head)
            raw = strip_web_chrome(raw, glued)
            if raw.strip():
                lines.append((page, raw.rstrip()))
    blocks = _blocks(_merge_title(lines, title), md)
    return blocks + notes.blocks()


class _Footnotes:
    """Footnotes found while reading the pages: a line "11  Förmliche Städtepartnerschaften …" whose
    number counts up through the document opens one; it goes on until a blank line, or until a
    line that starts like body text follows a complete source reference ("… (2021): S. 32"), and
    over a page break when it stopped mid-sentence ("… vom 7." / "Juni 2010 …"). Each becomes a
    block "Fußnote N: …" on its page, after the body: its text is content (definitions, lists of
    cities, the decision behind a definition) and must neither be lost nor break into the body."""

    _REFERENCE_END = re.compile(r"(?:\(\d{4}\)|\d{4}\)?:?\s*S\.\s*\d+(?:\s*f{1,2}\.)?|(?:www\.|https?://)\S+)$")
    _FINISHED = re.compile(r"(?<!\d)[.!?)]$")  # "vom 7." is a date cut by the page end, not a sentence end

    def __init__(self) -> None:
        self.number = 0
        self.notes: list[tuple[int, int | None, list[str]]] = []  # (number, page, lines)
        self.open = False
        self.gap = False  # a blank line followed the open footnote: the next line is body again
        self.carried = False  # an unfinished footnote goes on at the top of the next page

    def new_page(self) -> None:
        self.carried = self.open and not self._FINISHED.search(self.notes[-1][2][-1].rstrip())
        self.open, self.gap = self.carried, False

    def blank(self) -> None:
        self.gap = self.open and not self.carried

    def take(self, raw: str, page: int | None) -> bool:
        """True when `raw` belongs to a footnote (it is then kept here, not in the body)."""
        m = _FOOTNOTE_LINE.match(raw)
        if m and self.number < int(m.group(1)) <= self.number + 3 and not _NUMBERED.match(raw):
            self.number = int(m.group(1))
            self.notes.append((self.number, page, [raw[m.end():].strip()]))
            self.open, self.gap, self.carried = True, False, False
            return True
        if self.open and not self.gap:
            last = self.notes[-1][2][-1].rstrip()
            body_follows = not self.carried and bool(self._REFERENCE_END.search(last)) and (
                raw.strip()[:1].isupper() or bool(_NUMBERED.match(raw)) or bool(_BULLET.match(raw)))
            self.carried = False
            if not body_follows:
                self.notes[-1][2].append(raw.strip())
                return True
        self.open = self.gap = self.carried = False
        return False

    def blocks(self) -> list[Block]:
        out = []
        for number, page, lines in self.notes:
            text = ""
            for ln in lines:
                text = join_lines(text, ln)
            text = _tidy(text)
            if text:
                out.append(Block("footnote", f"Fußnote {number}: {text}", ((0, page),) if page else (), "Fußnoten"))
        return out


# ---------- web and layout debris ----------

_UI_PHRASES = (
    "link zur seite versenden", "druckansicht öffnen", "seite drucken", "seite teilen", "seite versenden",
    "nach oben", "zum seitenanfang", "zur startseite", "zum inhalt springen", "inhalt anspringen",
    "hauptmenü", "cookie-einstellungen", "cookies akzeptieren", "alle akzeptieren", "zurück zur übersicht",
    "weiterlesen", "mehr erfahren", "teilen auf facebook", "teilen auf twitter", "per e-mail teilen",
)
_URL_FRAGMENT = re.compile(
    r"^(?:[a-z0-9][\w\-.]*/[\w\-./]*|\S*_\S*|\S+\.(?:html?|php|aspx?)/?|[a-z0-9]+(?:-[a-z0-9]+){3,}/?"
    r"|\S*[\w-]/[\w\-.]*/\S*)$")
_SPACED_LETTERS = re.compile(r"^(?:\S{1,2}\s+){3,}\S{1,2}$")


def glued_repeats(text: str) -> set[str]:
    """Words that occur glued to themselves ("BannerbildBannerbild"): image alt texts of web pages."""
    return {m.group(1) for m in re.finditer(r"([A-ZÄÖÜ][a-zäöüß]{3,})\1", text)}


def strip_web_chrome(line: str, glued: set[str]) -> str:
    """Drop alt-text repeats, share/print links, broken URL path fragments and letter-spaced logo text."""
    for w in glued:
        line = re.sub(rf"(?:{w})+(?=[A-ZÄÖÜ]|\s|$)|(?<=[a-zäöüß]){w}", " ", line)
    s = line.strip()
    if not s:
        return ""
    rest = s.lower()
    for phrase in _UI_PHRASES:
        rest = rest.replace(phrase, " ")
    if not rest.strip(" |·•-–"):
        return ""
    if _SPACED_LETTERS.match(s):
        return ""  # "I T I E SC": a logo set in spaced capitals
    s = re.sub(r"(?<=\.[a-z]{2}/) (?=[a-z0-9_\-]+/)", "", s)  # "www.rgre.de/ partnerschaft/" → one URL
    return " ".join(t for t in s.split(" ") if not (
        _URL_FRAGMENT.match(t) and not t.startswith(("www.", "http"))
        and not re.fullmatch(r"\d{1,4}/\d{1,4}|[a-zäöüß]+/[a-zäöüß]+", t)))


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.replace("–", "-")).strip().lower()


def _merge_title(lines: list[tuple[int | None, str]], title: str) -> list[tuple[int | None, str]]:
    """Lines that spell out the title (or one of its " – " parts) become one marked heading line."""
    if not title:
        return lines
    parts = [_norm(title)] + [_norm(p) for p in re.split(r"\s[–-]\s|:\s", title) if len(p.split()) >= 3]
    out: list[tuple[int | None, str]] = []
    i = 0
    while i < len(lines):
        page, raw = lines[i]
        joined, j, hit = _norm(raw), i, None
        while joined and any(p.startswith(joined) for p in parts) and j < len(lines):
            if joined in parts or any(joined.startswith(p) and len(joined) <= len(p) + 20 for p in parts):
                hit = j
            if j + 1 >= len(lines) or not lines[j + 1][1].strip():
                break
            j += 1
            joined = _norm(joined + " " + lines[j][1])
        if hit is None and any(_norm(raw).startswith(p) and len(raw) <= len(p) + 20 for p in parts):
            hit = i  # "Erklärung der 10. Bundeskonferenz …, Hamburg 2006"
        if hit is not None and len(_norm(raw)) >= 12:
            text = " ".join(ln.strip() for _, ln in lines[i:hit + 1])
            out.append((page, _TITLE_MARK + text))
            i = hit + 1
            continue
        out.append((page, raw))
        i += 1
    return out


_TITLE_MARK = "\x00title\x00"
_CAPTION = re.compile(r"\((?:Foto|Fotos|Bild|Bilder|Abb\.|Abbildung|Grafik|Quelle)\s*:", re.IGNORECASE)


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
            cur_text = join_lines(cur_text, _strip_markup(raw) if md or _MD_HEADING.match(raw) else raw)
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
