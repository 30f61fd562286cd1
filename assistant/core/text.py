"""German text primitives shared by chunking, keyword search and answer composition."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection
from functools import lru_cache

# Abbreviations after which a period does not end a sentence (German policy prose).
_ABBREVIATIONS = {
    "z", "b", "bzw", "ca", "vgl", "nr", "s", "u", "a", "d", "h", "o", "g", "ggf", "usw", "inkl",
    "ff", "f", "abs", "dr", "prof", "etc", "evtl", "bspw", "sog", "zb", "v", "m", "i", "e", "dt",
    "mio", "mrd", "tel", "str", "jh", "max", "min", "u.a", "z.b", "o.g", "d.h", "vs", "st", "gem",
}
_SENTENCE_END = re.compile(r"[.!?…]+[\"“”»«)]*(?=\s+[\"„“»(]?[A-ZÄÖÜ0-9•])|[.!?…]+[\"“”»«)]*$")
_WORD = re.compile(r"[0-9A-Za-zÄÖÜäöüßÀ-ÿ]+(?:[-'][0-9A-Za-zÄÖÜäöüßÀ-ÿ]+)*")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text` (German rules: no split after z. B., Nr., 1.)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        before = text[start:m.start()]
        last = re.search(r"([0-9A-Za-zÄÖÜäöüß.]+)$", before)
        token = last.group(1).lower().rstrip(".") if last else ""
        if m.group(0).startswith(".") and (token in _ABBREVIATIONS or token.isdigit() or len(token) == 1):
            # "z. B.", "Nr. 22", "1. globale ..." — a period that is not a sentence end
            if end < len(text):
                continue
        if text[start:end].strip():
            spans.append(_strip_span(text, start, end))
        start = end
    if text[start:].strip():
        spans.append(_strip_span(text, start, len(text)))
    return spans


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def words(text: str) -> list[str]:
    """Word tokens (keeps hyphenated compounds such as Eine-Welt-Vereine together)."""
    return _WORD.findall(unicodedata.normalize("NFC", text))


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: Snowball German

    return Stemmer.Stemmer("german")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_GERMAN

    extra = {"gibt", "welche", "welcher", "welches", "wer", "wie", "was", "wo", "wann", "warum",
             "wozu", "bitte", "sagen", "sagt", "dokument", "dokumente", "dokumenten", "steht", "genau",
             # question framing, not topic: "Was versteht man unter …", "Was bedeutet …", "Erkläre …"
             "versteht", "verstehen", "versteh", "man", "bedeutet", "bedeuten", "heißt", "erkläre", "erklären",
             "erklärt", "definiere", "definition", "beschreibe", "nenne", "nennen", "genannt", "eigentlich",
             "gemeint", "unter", "mir", "uns", "ich", "kurz",
             # "Wie viele …", "Wie oft …" frame an amount or a frequency, the topic is elsewhere
             "viel", "viele", "vielen", "wieviel", "wieviele", "gibts", "oft", "häufig",
             # words for the source itself ("laut ihrem eigenen Flyer"), not for its content
             "flyer", "faltblatt", "eigenen", "eigene",
             # "Wann/wie oft findet … statt?" frames an event; the event is the topic
             "findet", "finden", "statt", "stattfinden"}
    return frozenset(w.lower() for w in STOPWORDS_GERMAN) | frozenset(extra)


# a photo or picture credit ends a caption: "… (Foto: Stadt Mannheim)", "(Bild: iStock/…)"
CAPTION_CREDIT = re.compile(r"\((?:Foto|Fotos|Bild|Bilder|Abb\.|Abbildung|Grafik|Quelle)\s*:[^()]*\)[.;]?", re.IGNORECASE)


def is_caption(text: str) -> bool:
    """A unit that ends in a picture credit: it describes a photo, not the matter itself."""
    m = None
    for m in CAPTION_CREDIT.finditer(text):
        pass
    return m is not None and not text[m.end():].strip()


# how cleaning marks list items ("• …", "3. …", "a.) …"): one definition for chunking, answers and retrieval
LIST_ITEM = re.compile(r"^(?:• |\d{1,2}\. |[a-z]\.\) )")


def units(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_list_item) of the smallest things an answer quotes: whole list items, and
    sentences within paragraphs. Ingest embeds exactly these spans, so both sides must split alike."""
    out: list[tuple[int, int, bool]] = []
    pos = 0
    for block in text.split("\n\n"):
        b0 = text.index(block, pos) if block else pos
        pos = b0 + len(block)
        if not block.strip():
            continue
        if LIST_ITEM.match(block):
            out.append((b0, b0 + len(block), True))
            continue
        out += [(b0 + a, b0 + e, False) for a, e in sentence_spans(block)]
    return out


def unit_texts(text: str) -> list[str]:
    return [text[a:e] for a, e, _ in units(text)]


def ends_in_list_item(text: str) -> bool:
    """True when the last block of `text` is a list item: the list may go on in the next chunk."""
    return bool(LIST_ITEM.match(text.rstrip().rsplit("\n\n", 1)[-1]))


_EN_MARKERS = {"the", "what", "which", "how", "does", "do", "is", "are", "of", "for", "who", "and", "to", "in"}


def is_english(question: str) -> bool:
    """Questions are German unless they read as English (a few English function words, no umlauts)."""
    toks = [w.lower() for w in words(question)]
    return sum(t in _EN_MARKERS for t in toks) >= 2 and not any(ch in question for ch in "äöüßÄÖÜ")


@lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(keyword_terms(" ".join(STOPWORDS_EN)))


def keyword_terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, Snowball-stemmed terms; hyphenated compounds also give their parts."""
    stop = stopwords()
    out: list[str] = []
    for w in words(text):
        low = w.lower()
        parts = [low] + ([p for p in low.split("-") if p] if "-" in low else [])
        for p in parts:
            if p in stop or (len(p) < 2 and not p.isdigit()):
                continue
            out.append(p)
    return _stemmer().stemWords(out) if out else []


def split_compound(term: str, vocab: Collection[str]) -> list[str]:
    """Known parts of a compound stem, found in the corpus vocabulary itself (no dictionary, so no
    licence to carry): the longest known tail of at least 5 letters, preceded by the head when that
    is known too (also after dropping a linking "s"): stadtepartnerschaft → [partnerschaft],
    burgerbeteilig → [burg?, beteilig]."""
    if len(term) < 9 or not term.isalpha():
        return []
    for i in range(3, len(term) - 4):
        tail = term[i:]
        if tail in vocab:
            head = term[:i]
            for h in (head, head[:-1] if head.endswith("s") else ""):
                if len(h) >= 4 and h in vocab:
                    return [h, tail]
            return [tail]
    return []


@lru_cache(maxsize=1)
def _tiktoken_encode() -> Callable[[str], list[int]]:
    # llama-index ships the cl100k_base file and points tiktoken at it: works offline.
    from llama_index.core.utils import get_tokenizer

    return get_tokenizer()


def count_tokens(text: str) -> int:
    """Length in tiktoken cl100k_base tokens — the unit of all chunk bounds."""
    return len(_tiktoken_encode()(text))
