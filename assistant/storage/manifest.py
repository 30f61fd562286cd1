"""The manifest: which documents the committed index holds, and which keyword index belongs to them.
Replacing manifest.json (one atomic rename) is the commit point of every ingest run."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from assistant.core.errors import IndexCorruptError
from assistant.core.rights import PUBLIC
from assistant.core.types import DocumentInfo


def manifest_path(index_dir: Path) -> Path:
    """Where an index directory keeps its manifest."""
    return index_dir / "manifest.json"


@dataclass(frozen=True)
class DocumentRecord:
    """One ingested document as the manifest keeps it: where it came from, its catalogue data, its
    chunks in order, and what loading found out (OCR'd and empty pages, protection)."""

    doc_id: str
    title: str
    path: str = ""
    source: str = ""
    sha256: str = ""
    catalogue: str = ""  # fingerprint of its catalogue entry: a changed entry re-ingests the file
    kind: str = "unknown"
    publisher: str = ""
    year: int | None = None
    audience: tuple[str, ...] = ()
    pages: int | None = None
    chunk_ids: tuple[str, ...] = ()
    text_file: str = ""  # its cleaned text (what chunk offsets point into), under texts/
    tokens: int = 0
    ocr_pages: tuple[int, ...] = ()
    empty_pages: tuple[int, ...] = ()
    protected: bool = False
    replaces: str = ""
    valid_from: int | None = None
    ingested_at: str = ""
    collection: str = PUBLIC  # a manifest written before collections existed holds public documents only

    @property
    def chunks(self) -> int:
        return len(self.chunk_ids)

    def info(self) -> DocumentInfo:
        return DocumentInfo(doc_id=self.doc_id, title=self.title, source=self.source, kind=self.kind,
                            publisher=self.publisher, year=self.year, audience=self.audience,
                            replaces=self.replaces, valid_from=self.valid_from, collection=self.collection)

    @classmethod
    def from_json(cls, doc_id: str, d: Mapping[str, Any]) -> DocumentRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known and k != "doc_id"}
        for k in ("audience", "chunk_ids", "ocr_pages", "empty_pages"):
            values[k] = tuple(values.get(k) or ())
        values["replaces"] = values.get("replaces") or ""
        values["collection"] = values.get("collection") or PUBLIC
        return cls(doc_id=doc_id, **values)

    def to_json(self) -> dict[str, Any]:
        """The on-disk entry (unchanged since manifests were plain dicts, so old indexes still open)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "doc_id":
                continue
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
            if f.name == "pages":
                out["chunks"] = self.chunks
        return out


@dataclass(frozen=True)
class Manifest:
    """A committed (or, inside an ingest run, a proposed) state of the library. Immutable: a run
    builds a new one and commits it; the commit names its keyword index."""

    documents: Mapping[str, DocumentRecord] = field(default_factory=dict)
    keyword_index: str = ""  # directory name of the bm25 index over exactly these chunks

    @cached_property
    def active(self) -> frozenset[str]:
        """Chunk ids of these documents: everything else in the vector store is invisible."""
        return frozenset(i for d in self.documents.values() for i in d.chunk_ids)

    @property
    def chunk_ids(self) -> list[str]:
        return [i for d in self.documents.values() for i in d.chunk_ids]

    def record(self, doc_id: str) -> DocumentRecord | None:
        return self.documents.get(doc_id)

    def dumps(self) -> str:
        return json.dumps({"documents": {k: d.to_json() for k, d in self.documents.items()},
                           "keyword_index": self.keyword_index}, ensure_ascii=False, indent=1)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read manifest.json; a missing file is the empty library, a damaged one an error that says how to repair."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            docs = {k: DocumentRecord.from_json(k, v) for k, v in data["documents"].items()}
        except FileNotFoundError:
            return cls()
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise IndexCorruptError(
                f"the index manifest {path} is damaged ({type(exc).__name__}: {exc})",
                "run `kepol ingest --rebuild` to rebuild the index from the documents") from exc
        return cls(docs, data.get("keyword_index") or "")


def atomic_write(path: Path, text: str, private: bool = False) -> None:
    """Write through a temporary file and one rename: readers see the old or the new file, never half.
    `private`: readable by the owner only from its first byte (tokens, users, the audit log)."""
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    if private:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
            f.write(text)
    else:
        tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
