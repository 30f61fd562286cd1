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

from assistant.core.types import Delta, Final, passage_contract
from assistant.core.rights import PUBLIC
from assistant.faces.access import identity_of
from assistant.faces.service import (AskBody, Gatekeeper, RetrieveBody, ServiceError, check_question, filter_of,
                                     upload_collection)
from assistant.faces.upload import store
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

    @r.post("/documents", summary="Upload and ingest a file into a collection (tokens with the upload right)")
    async def upload(request: Request, file: UploadFile = File(...),
                     collection: str = Form(PUBLIC, description="the collection it belongs to")) -> dict[str, Any]:
        rights = gate.admit(request, upload=True).rights
        target = upload_collection(collection, rights)
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
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            folder = assistant.settings.store.data_dir / "uploads" / target
            stored = store([str(path)], [name], folder, assistant.settings.ingest.max_file_mb)
            refused = [u for u in stored if not u.ok]
            if refused:
                raise ServiceError(422, "refused_file", f"„{name}“ abgelehnt: {refused[0].reason}",
                                   f"'{name}' refused: {refused[0].reason}")
        report = await run_in_threadpool(lambda: assistant.ingest([folder / u.name for u in stored if u.ok],
                                                                  collection=target))
        results = [{"file": Path(x.path).name, "status": x.status, "reason": x.reason, "reason_de": x.reason_de,
                    "reason_en": x.reason} for x in report.results]
        skipped = [x for x in report.results if x.status == "skipped"]
        if skipped:  # nothing of the file can be asked: a client error, with the reason in both languages
            raise ServiceError(422, "file_skipped", f"„{name}“ wurde nicht eingelesen: {skipped[0].reason_de}",
                               f"'{name}' was not ingested: {skipped[0].reason}", body={"results": results})
        return {"results": results}

    return r
