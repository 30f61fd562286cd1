"""Typed objects that travel from chunking to the screen: Passage, Citation, Answer."""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from typing import Any


# The kinds of document the catalogue knows (metadata.json `kind`), with the German name users see.
KINDS: dict[str, str] = {
    "declaration": "Erklärung",
    "position paper": "Positionspapier",
    "service brochure": "Servicebroschüre",
    "web article": "Webartikel",
    "unknown": "Dokument",
}


def kind_label(kind: str) -> str:
    """The German name of a document kind (an unknown value is shown as it is)."""
    return KINDS.get(kind, kind)


@dataclass(frozen=True)
class LibraryFilter:
    """Part of the library a question is asked of (None: any); the storage layer turns it into its
    own query language."""

    kind: str | None = None
    publisher: str | None = None
    year: int | None = None

    def __bool__(self) -> bool:
        return any(v not in (None, "") for v in (self.kind, self.publisher, self.year))


@dataclass(frozen=True)
class DocumentInfo:
    """Catalogue data of one source document (from corpus/metadata.json or derived)."""

    doc_id: str
    title: str
    source: str  # file name inside the corpus folder
    kind: str = "unknown"
    publisher: str = ""
    year: int | None = None
    audience: tuple[str, ...] = ()
    replaces: str = ""  # doc id of the older version this document replaces
    valid_from: int | None = None  # year from which this version applies
    collection: str = "öffentlich"  # assistant/core/rights.py: who may read it


@dataclass(frozen=True)
class Passage:
    """One chunk of a cleaned document, with where it came from; `score` is set by retrieval."""

    chunk_id: str
    doc_id: str
    title: str
    source: str
    kind: str
    text: str
    ordinal: int  # position of the chunk inside its document
    char_start: int  # offsets into the cleaned document text
    char_end: int
    page_start: int | None = None
    page_end: int | None = None
    # (offset inside `text`, page number) at each page start, so any quote maps to its page
    page_breaks: tuple[tuple[int, int], ...] = ()
    section: str = ""
    publisher: str = ""
    year: int | None = None
    ocr: bool = False  # some of its text was read by OCR (recognition errors are possible)
    footnotes: tuple[int, ...] = ()  # footnotes its text refers to (each is a passage "Fußnote N: …")
    superseded_by: str = ""  # title of the newer version, when this passage is from an older one
    score: float = 0.0  # cosine of question and chunk (set by retrieval)
    relevance: float = 0.0  # fitted probability that it holds the answer (set by re-ranking)

    def page_at(self, offset: int) -> int | None:
        """Page number of the character at `offset` inside this passage's text."""
        if not self.page_breaks:
            return self.page_start
        starts = [o for o, _ in self.page_breaks]
        i = bisect_right(starts, offset) - 1
        return self.page_breaks[max(i, 0)][1]


@dataclass(frozen=True)
class Citation:
    """A numbered source reference; `quote` is a verbatim substring of `passage`."""

    n: int
    doc_id: str
    title: str
    source: str
    page: int | None
    quote: str
    passage: str
    kind: str = ""
    section: str = ""
    year: int | None = None
    ocr: bool = False  # the quote was read by OCR and may contain recognition errors
    superseded_by: str = ""  # title of the newer version, when quoted from an older one

    @property
    def version_note(self) -> str:
        return f"ältere Fassung (ersetzt durch „{self.superseded_by}“)" if self.superseded_by else ""


OCR_LABEL = "Texterkennung (OCR)"


@dataclass(frozen=True)
class Answer:
    """What every face (CLI, UI, evals) shows: text with [n] markers and the citations behind them."""

    question: str
    answer: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    latency_ms: float = 0.0
    standalone_question: str = ""
    passages: tuple[Passage, ...] = field(default=(), repr=False)
    mode: str = "extractive"  # or "generative"
    notice: str = ""  # shown to the user, e.g. when the generative backend failed and we fell back
    lead: str = ""  # the answer's first part, what was asked (the rest of `answer` is the supporting Belege)
    emphasis: tuple[tuple[int, int], ...] = ()  # character spans of `answer` to show in bold (the asked-for span)

    def to_contract(self, qid: Any = None) -> dict[str, Any]:
        """The stable JSON shape of `kepol ask --json` (see README)."""
        return {
            "id": qid,
            "answer": self.answer,
            "lead": self.lead or self.answer,
            "emphasis": [list(span) for span in self.emphasis],
            "refused": self.refused,
            "citations": [
                {k: v for k, v in asdict(c).items() if k in _CITATION_KEYS} for c in self.citations
            ],
            "latency_ms": round(self.latency_ms, 1),
            "mode": self.mode,
            "notice": self.notice,
        }


_CITATION_KEYS = ("n", "doc_id", "title", "source", "page", "quote", "passage", "ocr", "superseded_by")


@dataclass(frozen=True)
class Delta:
    """Text of the answer as it is produced (the final Answer's text may differ: generated text is
    verified before it is shown as the answer)."""

    text: str


@dataclass(frozen=True)
class Final:
    """The finished, verified answer: always the last event of a stream."""

    answer: Answer


StreamEvent = Delta | Final  # what `Assistant.ask_stream` yields


def passage_contract(p: Passage, rank: int) -> dict[str, Any]:
    """The stable JSON shape of one passage in `kepol retrieve --batch`."""
    return {"rank": rank, "doc_id": p.doc_id, "title": p.title, "source": p.source,
            "page": p.page_start, "text": p.text, "score": round(p.score, 6), "relevance": round(p.relevance, 6)}
