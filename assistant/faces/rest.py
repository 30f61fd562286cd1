"""The REST door under /api/v1: ask (plain, or as server-sent events carrying the UI's Delta/Final
events), retrieve, the library, uploads for tokens allowed to, health. The JSON is exactly the
contract of `kepol ask --json` and `kepol retrieve`."""
from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant.core.types import Delta, Final, passage_contract
from assistant.core.rights import PUBLIC
from assistant.faces.access import Identity, identity_of
from assistant.faces.service import (AskBody, Gatekeeper, RetrieveBody, ServiceError, check_question, filter_of,
                                     upload_collection)
from assistant.faces.upload import store
from assistant.manage import DocumentNotFound, EditError
from ingest.loaders import SUPPORTED_SUFFIXES

if TYPE_CHECKING:
    from assistant.api import Assistant


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def router(assistant: Assistant, gate: Gatekeeper) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["KEPol-Assistent"])
    limit = assistant.settings.retrieval.max_question_chars

    @r.get("/health", summary="Is the service up, and what is indexed?")
    def health(request: Request) -> dict[str, Any]:
        version = assistant.version(identity_of(request).rights)  # public: counts only what the caller may read
        return {"status": "ok", "documents": len(version.manifest.documents), "chunks": version.count(),
                "index": assistant.settings.index_fingerprint()}

    @r.post("/ask", summary="A cited answer (the contract of `kepol ask --json`); `stream: true` for SSE")
    async def ask(body: AskBody, request: Request) -> Any:
        rights = gate.admit(request).rights
        check_question(body.question, limit, body.history)
        only = filter_of(body.filters)
        if not body.stream:
            answer = await run_in_threadpool(assistant.ask, body.question, body.history, only, body.include_superseded,
                                             rights)
            return answer.to_contract()

        def events() -> Iterator[str]:
            for e in assistant.ask_stream(body.question, body.history, only, body.include_superseded, rights):
                if isinstance(e, Delta):
                    yield sse("delta", {"text": e.text})
                elif isinstance(e, Final):
                    yield sse("final", e.answer.to_contract())

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @r.post("/retrieve", summary="The top-k passages (the contract of `kepol retrieve`)")
    async def retrieve(body: RetrieveBody, request: Request) -> dict[str, Any]:
        rights = gate.admit(request).rights
        check_question(body.question, limit, body.history)
        only = filter_of(body.filters)
        passages = await run_in_threadpool(assistant.retrieve, body.question, body.k, body.history, only,
                                           body.include_superseded, rights)
        return {"id": None, "passages": [passage_contract(p, n) for n, p in enumerate(passages, start=1)]}

    @r.get("/documents", summary="What is indexed, one entry per document")
    def documents(request: Request) -> dict[str, Any]:
        return {"documents": assistant.library(gate.admit(request).rights)}

    async def received(file: UploadFile) -> tuple[str, bytes]:
        """The uploaded file's bare name and bytes: a type we read (else 415), within the size limit (413)."""
        name = Path(file.filename or "").name
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            raise ServiceError(415, "unsupported_type", f"Dateityp von „{name}“ wird nicht gelesen.",
                               f"The type of '{name}' is not supported (allowed: "
                               f"{', '.join(sorted(SUPPORTED_SUFFIXES))}).")
        limit = int(assistant.settings.ingest.max_file_mb * 1024 * 1024)
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise ServiceError(413, "too_large", f"„{name}“ ist größer als {assistant.settings.ingest.max_file_mb} MB.",
                               f"'{name}' is larger than {assistant.settings.ingest.max_file_mb} MB.")
        return name, data

    def stored_in(folder: Path, name: str, data: bytes) -> Path:
        """The file checked (faces/upload.py) and stored in `folder`, or a 422 naming why it was refused."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            stored = store([str(path)], [name], folder, assistant.settings.ingest.max_file_mb)
        refused = [u for u in stored if not u.ok]
        if refused:
            raise ServiceError(422, "refused_file", f"„{name}“ abgelehnt: {refused[0].reason}",
                               f"'{name}' refused: {refused[0].reason}")
        return folder / stored[0].name

    @r.post("/documents", summary="Upload and ingest a file into a collection (tokens with the upload right)")
    async def upload(request: Request, file: UploadFile = File(...),
                     collection: str = Form(PUBLIC, description="the collection it belongs to")) -> dict[str, Any]:
        who = gate.admit(request, upload=True)
        target = upload_collection(collection, who.rights)
        name, data = await received(file)
        path = stored_in(assistant.settings.store.data_dir / "uploads" / target, name, data)
        report = await run_in_threadpool(lambda: assistant.ingest([path], collection=target, who=_actor(who)))
        results = [{"file": Path(x.path).name, "status": x.status, "reason": x.reason, "reason_de": x.reason_de,
                    "reason_en": x.reason} for x in report.results]
        skipped = [x for x in report.results if x.status == "skipped"]
        if skipped:  # nothing of the file can be asked: a client error, with the reason in both languages
            raise ServiceError(422, "file_skipped", f"„{name}“ wurde nicht eingelesen: {skipped[0].reason_de}",
                               f"'{name}' was not ingested: {skipped[0].reason}", body={"results": results})
        return {"results": results}

    @r.delete("/documents/{doc_id}", summary="Delete a document (admins: tokens with the upload right)")
    async def delete(doc_id: str, request: Request) -> dict[str, Any]:
        who = gate.admit(request, upload=True)
        record = await run_in_threadpool(_managed, assistant.delete_document, doc_id, who.rights, _actor(who))
        return {"deleted": doc_id, "title": record.title, "collection": record.collection}

    @r.patch("/documents/{doc_id}", summary="Edit title, kind, publisher, year or collection (admins)")
    async def edit(doc_id: str, body: EditBody, request: Request) -> dict[str, Any]:
        who = gate.admit(request, upload=True)
        changes = body.model_dump(exclude_unset=True)
        if not changes:
            raise ServiceError(422, "nothing_to_edit", "Keine Änderung angegeben.", "No change given.")
        done = await run_in_threadpool(_managed, assistant.edit_document, doc_id, changes, who.rights, _actor(who))
        row = next(x for x in assistant.library(who.rights) if x["doc_id"] == doc_id)
        return {"document": row, "reembedded": done.reembedded}

    @r.put("/documents/{doc_id}", summary="Replace a document with a new file (admins)")
    async def replace(doc_id: str, request: Request, file: UploadFile = File(...),
                      remove_old: bool = Form(False, description="delete the old version instead of keeping it "
                                                                   "as superseded")) -> dict[str, Any]:
        who = gate.admit(request, upload=True)
        name, data = await received(file)
        with tempfile.TemporaryDirectory() as tmp:
            path = stored_in(Path(tmp), name, data)
            report = await run_in_threadpool(_managed, assistant.replace_document, doc_id, path, who.rights,
                                             _actor(who), remove_old)
        return {"results": [{"file": Path(x.path).name, "status": x.status, "doc_id": x.doc_id, "reason": x.reason,
                             "reason_de": x.reason_de} for x in report.results]}

    @r.get("/audit", summary="Who uploaded, deleted, replaced or edited what, and when (admins)")
    def audit(request: Request) -> dict[str, Any]:
        return {"entries": assistant.audit.entries(gate.admit(request, upload=True).rights)}

    return r


class EditBody(BaseModel):
    """`PATCH /api/v1/documents/{id}`: the fields to change (others stay)."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    kind: str | None = Field(default=None, max_length=100)
    publisher: str | None = Field(default=None, max_length=300)
    year: int | None = Field(default=None, ge=1900, le=2100)
    collection: str | None = Field(default=None, max_length=40)


def _actor(who: Identity) -> str:
    """Who the audit log names: the token or user (a browser session's random suffix left out)."""
    return who.rights.who or who.key


def _managed(fn: Any, *args: Any) -> Any:
    """A management call, its refusals as the doors' bilingual 4xx: 404 for a document the caller
    cannot see (the same whether it is missing or forbidden), 422 for an edit that cannot apply."""
    try:
        return fn(*args)
    except DocumentNotFound as exc:
        raise ServiceError(404, "not_found", exc.de, exc.message) from exc
    except EditError as exc:
        raise ServiceError(422, "bad_edit", exc.de, exc.message) from exc
