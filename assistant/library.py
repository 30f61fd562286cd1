"""The library as readers and questions see it, read off one committed index version: the
catalogue questions need (document names, newest year, versions), one row per document for the
library tab and `kepol docs`, the folders and files of the originals, a citation's surroundings."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.types import OCR_LABEL, Answer, Citation
from assistant.storage import DocumentRecord, IndexVersion
from assistant.understand import DocumentNames, document_names
from assistant.versions import Versions, versions


@dataclass(frozen=True)
class Catalogue:
    """The library as questions see it: how documents are named, the newest year, the versions."""

    names: DocumentNames
    newest_year: int | None
    versions: Versions


def catalogue_of(version: IndexVersion) -> Catalogue:
    """Computed once per committed version by its owner (per question it cost 50 ms at 1,500 documents)."""
    docs = version.documents()
    return Catalogue(document_names((d.doc_id, d.title, d.publisher) for d in docs),
                     max((d.year for d in docs if d.year), default=None), versions(docs))


def notes(d: DocumentRecord, chain: str = "") -> str:
    """What a reader of the library should know about a document (German, for the UI and CLI)."""
    out = [chain] if chain else []
    if d.valid_from:
        out.append(f"gültig ab {d.valid_from}")
    if d.ocr_pages:
        out.append(f"{OCR_LABEL}: {len(d.ocr_pages)} von {d.pages or '?'} Seiten")
    if d.empty_pages:
        n = len(d.empty_pages)
        out.append(f"{n} {'Seite' if n == 1 else 'Seiten'} ohne Text: " + ", ".join(map(str, d.empty_pages)))
    if d.protected:
        out.append("geschützte PDF-Datei")
    return "; ".join(out)


def library_rows(version: IndexVersion, v: Versions) -> list[dict[str, Any]]:
    """What is indexed, one row per document: title, kind, year, pages, chunks, last ingested."""
    return [{"title": d.title, "kind": d.kind, "year": d.year or "", "publisher": d.publisher,
             "pages": d.pages or "", "chunks": d.chunks, "ingested_at": d.ingested_at, "source": d.source,
             "doc_id": d.doc_id, "collection": d.collection, "notes": notes(d, v.chain_note(d.doc_id))}
            for d in sorted(version.manifest.documents.values(), key=lambda d: d.title)]


def folders(version: IndexVersion) -> list[str]:
    """The folders the library's documents were ingested from."""
    return sorted({str(Path(d.path).parent) for d in version.manifest.documents.values()})


def source_file(version: IndexVersion, doc_id: str) -> Path | None:
    """The ingested original of a document (for download or viewing at the cited page)."""
    record = version.manifest.record(doc_id)
    path = record.path if record else ""
    return Path(path) if path and Path(path).is_file() else None


def citation_context(version: IndexVersion, answer: Answer, citation: Citation, chars: int = 400) -> tuple[str, str]:
    """The cleaned document text just before and after a cited passage (to read it in context)."""
    p = next((x for x in answer.passages if x.text == citation.passage), None)
    if p is None:
        return "", ""
    before, _, after = version.context(p, chars)
    return before, after
