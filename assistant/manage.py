"""Managing documents through the assistant: delete, edit catalogue data, replace with a new file, each
for administrators, each written to the audit log. Every change ends in one commit of the index (a
process killed before it changes nothing), and a caller can only manage what its rights let it read."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.core.errors import KepolError
from assistant.core.rights import Rights, collection_name
from assistant.core.text import unit_texts
from assistant.core.types import KINDS
from assistant.storage import DocumentRecord, Manifest, search_text
from assistant.storage import removals
from ingest import overrides
from ingest.embed_cache import text_key
from ingest.pipeline import IngestReport

if TYPE_CHECKING:
    from assistant.api import Assistant


class DocumentNotFound(KepolError):
    """No document with this id that the caller may read (the same answer either way: a forbidden
    document is not told apart from a missing one)."""

    def __init__(self, doc_id: str) -> None:
        super().__init__(f"no document {doc_id!r} in the library", "see `kepol docs` for the ids")
        self.doc_id = doc_id
        self.de = f"Kein Dokument „{doc_id}“ in der Bibliothek."


class EditError(KepolError):
    """A metadata edit that cannot be applied; `de` in German."""

    def __init__(self, message: str, de: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.de = de


@dataclass(frozen=True)
class Edited:
    record: DocumentRecord
    reembedded: bool  # title or publisher changed: they are part of every chunk's embedded text


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _visible(a: Assistant, doc_id: str, rights: Rights | None) -> DocumentRecord:
    record = a.version(rights).manifest.record(doc_id)
    if record is None:
        raise DocumentNotFound(doc_id)
    return record


def _uploaded(a: Assistant, record: DocumentRecord) -> bool:
    """Whether the original is a stored upload (the assistant's own copy, deleted with the document)."""
    return bool(record.path) and Path(record.path).resolve().is_relative_to(
        (a.settings.store.data_dir / "uploads").resolve())


def delete(a: Assistant, doc_id: str, rights: Rights | None = None, who: str = "local") -> DocumentRecord:
    """Remove a document: its chunks, keyword entries, sidecars and text (one commit), its stored upload
    and its cached embeddings (storage/removals.py); an original in a corpus folder stays on disk but
    is marked deleted, so ingesting the folder again does not bring it back."""
    with a.index.writing():
        record = _visible(a, doc_id, rights)
        version = a.index.current()
        passages = version.document_passages(doc_id)
        keys = {text_key(search_text(p)) for p in passages} | {text_key(u) for p in passages for u in unit_texts(p.text)}
        files = [record.path] if _uploaded(a, record) else []
        if record.path and not files:
            overrides.update(a.settings.store.data_dir, record.path,
                             {"deleted": True, "deleted_by": who, "deleted_at": _now()})
        removals.write_journal(a.index.dir, doc_id, files, sorted(keys))
        docs = {k: d for k, d in version.manifest.documents.items() if k != doc_id}
        a.index.writer.commit(Manifest(docs))  # the commit point; its clean-up carries out the journal
    a.audit.add(who, "delete", doc_id, record.title, record.collection, source=record.source)
    return record


def _checked_changes(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(overrides.EDITABLE))
    if unknown:
        raise EditError(f"these fields cannot be edited: {', '.join(unknown)} (editable: {', '.join(overrides.EDITABLE)})",
                        f"Diese Felder lassen sich nicht bearbeiten: {', '.join(unknown)}.")
    out = dict(changes)
    if "title" in out and not str(out["title"] or "").strip():
        raise EditError("the title must not be empty", "Der Titel darf nicht leer sein.")
    if "kind" in out and out["kind"] not in KINDS:
        raise EditError(f"unknown kind {out['kind']!r} (known: {', '.join(KINDS)})",
                        f"Unbekannte Dokumentart „{out['kind']}“.")
    if "year" in out and out["year"] not in (None, ""):
        if not str(out["year"]).isdigit() or not 1900 <= int(out["year"]) <= 2100:
            raise EditError(f"year must be a year between 1900 and 2100, not {out['year']!r}",
                            f"Das Jahr muss zwischen 1900 und 2100 liegen, nicht {out['year']!r}.")
        out["year"] = int(out["year"])
    if "collection" in out:
        try:
            out["collection"] = collection_name(out["collection"])
        except KepolError as exc:
            raise EditError(exc.message, getattr(exc, "de", exc.message), exc.hint) from exc
    return out


def edit(a: Assistant, doc_id: str, changes: dict[str, Any], rights: Rights | None = None,
         who: str = "local") -> Edited:
    """Change title, kind, publisher, year or collection. The edit is kept with the assistant
    (ingest/overrides.py) and the document ingested again in one commit: kind, year and collection take
    their vectors from the embedding cache (nothing is embedded again); a new title or publisher is part
    of every chunk's embedded text, so those chunks are embedded again."""
    changes = _checked_changes(changes)
    with a.index.writing():
        record = _visible(a, doc_id, rights)
        if "collection" in changes and rights is not None and not rights.sees(changes["collection"]):
            raise EditError(f"no rights for the collection {changes['collection']!r}",
                            f"Keine Rechte für die Sammlung „{changes['collection']}“.")
        if not record.path or not Path(record.path).is_file():
            raise EditError(f"the original of {doc_id!r} is no longer at {record.path}",
                            f"Das Original von „{doc_id}“ liegt nicht mehr unter {record.path}.",
                            "ingest it again from where it is now")
        overrides.update(a.settings.store.data_dir, record.path, changes)
        report = a.ingest([record.path])
        if report.by_status("skipped"):
            raise EditError(f"the edited document could not be ingested: {report.by_status('skipped')[0].reason}",
                            f"Das bearbeitete Dokument ließ sich nicht einlesen: "
                            f"{report.by_status('skipped')[0].reason_de}")
        new = a.index.current().manifest.record(doc_id)
        assert new is not None
    before = {k: getattr(record, k) for k in changes}
    a.audit.add(who, "edit", doc_id, new.title, new.collection, before=before, after=changes)
    return Edited(new, reembedded=report.embedded > 0)


def replace(a: Assistant, doc_id: str, new_file: Path, rights: Rights | None = None, who: str = "local",
            remove_old: bool = False) -> IngestReport:
    """A new file becomes the current version of a document: it is stored as an upload in the old one's
    collection and ingested as replacing it (the version mechanism marks the old one as superseded),
    or the old one is deleted when `remove_old`."""
    with a.index.writing():
        record = _visible(a, doc_id, rights)
        folder = a.settings.store.data_dir / "uploads" / record.collection
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / new_file.name
        same = bool(record.path) and target.resolve() == Path(record.path).resolve()  # new content, same place
        if target.resolve() != new_file.resolve():
            shutil.copyfile(new_file, target)
        edits: dict[str, Any] = {"title": record.title, "kind": record.kind, "publisher": record.publisher or None,
                                 "year": record.year, "collection": record.collection,
                                 "replaces": None if remove_old or same else doc_id}
        overrides.update(a.settings.store.data_dir, target, edits)
        report = a.ingest([target])
        if remove_old and not same and report.by_status("ingested"):
            delete(a, doc_id, rights, who)
    new_id = next((r.doc_id for r in report.results if r.status == "ingested"), "")
    a.audit.add(who, "replace", doc_id, record.title, record.collection, new_doc_id=new_id, file=target.name,
                old_removed=remove_old)
    return report
