"""Repair extraction artefacts and recover structure: blocks of headings, paragraphs and list items.

The cleaned block texts are what is indexed and quoted, so every rule here keeps
wording intact and only removes layout noise (hyphenation at line ends, bullet
glyphs, footnotes, running headers, URL lines, page numbers, ligatures).
"""
from __future__ import annotations

import re


from ingest.lines import (Block, _BULLET, _FOOTNOTE_LINE, _NUMBERED, _PAGE_NUMBER, _URL_LINE, _tidy, join_lines,
                         normalize_chars, repeated_lines)
from ingest.blocks import _TITLE_MARK, _blocks


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
