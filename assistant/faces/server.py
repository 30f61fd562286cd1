"""The one server process of `kepol serve`: a FastAPI app that carries the REST door (/api/v1), the
OpenAI-compatible door (/v1), the MCP door (/mcp, Streamable HTTP) and, mounted at /, the Gradio
chat UI. One process and one port: one index loaded once, one token store, one place to secure.

Every error leaves as a 4xx with a German and an English message (service.ServiceError); an
unexpected fault is logged and answered without a traceback."""
from __future__ import annotations

import contextlib
import json
import signal
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.core.errors import KepolError, redact
from assistant.core.rights import Rights
from assistant.faces import mcp_door, openai_door, rest
from assistant.faces.access import Access, AccessGate, identity_of, login_routes
from assistant.faces.service import (MAX_BODY_BYTES, Gatekeeper, ServiceError, exposure_problem, gatekeeper,
                                     validation_error)
from assistant.faces.page import GermanPage
from assistant.faces.ui import CSS, create_app, theme
from assistant.faces.upload import exposure_problem as admin_problem

if TYPE_CHECKING:
    from assistant.api import Assistant

log = logging.getLogger("kepol.server")
API_PREFIXES = ("/api/v1", "/v1/", "/mcp")  # the doors; everything else belongs to the Gradio app


class BodyLimit:
    """Refuses a request body over the limit (413) before the door reads it: by Content-Length when
    sent, else by counting the bytes as they arrive. Uploads are allowed the file limit plus room for
    the multipart framing."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app, self.limit, self.upload_limit = app, limit, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if path == "/api/v1/documents" else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(limit)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return ServiceError(413, "body_too_large", f"Die Anfrage ist größer als {limit:,} Bytes.".replace(",", "."),
                        f"The request body is larger than {limit:,} bytes.").response()


class Guarded:
    """The MCP transport under the same per-caller limit as the other doors: each tool call (a
    search or a question) counts; the protocol's own messages (initialize, tools/list) do not. Over the
    limit, the caller gets a JSON-RPC error saying so and when to retry (an MCP client shows its
    message; a bare 429 would reach the user as "Server returned an error response")."""

    def __init__(self, app: ASGIApp, gate: Gatekeeper) -> None:
        self.app, self.gate = app, gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:  # bounded: BodyLimit refuses a body over MAX_BODY_BYTES while it arrives
            message = await receive()
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
        calls = _tool_calls(body)
        if calls:
            try:
                self.gate.limit(identity_of(Request(scope)).key)
            except ServiceError as exc:
                await _jsonrpc_error(exc, calls[0])(scope, receive, send)
                return
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _tool_calls(body: bytes) -> list[Any]:
    """The ids of the tools/call requests in a JSON-RPC message or batch (what costs work)."""
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        return []
    items = parsed if isinstance(parsed, list) else [parsed]
    return [m.get("id") for m in items if isinstance(m, dict) and m.get("method") == "tools/call"]


def _jsonrpc_error(exc: ServiceError, request_id: Any) -> JSONResponse:
    retry = exc.headers.get("Retry-After")
    data: dict[str, Any] = {"code": exc.code, "message_de": exc.de, "message_en": exc.en}
    if retry:
        data["retry_after"] = int(retry)
    return JSONResponse({"jsonrpc": "2.0", "id": request_id,
                         "error": {"code": -32000, "message": f"{exc.de} / {exc.en}", "data": data}},
                        status_code=exc.status, headers=exc.headers)


def create_server(assistant: Assistant) -> FastAPI:
    """The whole app: doors, MCP, and the Gradio UI at /."""
    gate = gatekeeper(assistant)
    mcp = mcp_door.build(assistant, read_only=True)
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True,
                                      host=assistant.settings.ui.host)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            yield

    app = FastAPI(title="KEPol-Assistent", version="1", lifespan=lifespan, docs_url="/api/docs",
                  redoc_url=None, openapi_url="/api/openapi.json",
                  description="Zitierte Antworten aus den Dokumenten zur kommunalen Entwicklungspolitik. "
                              "/ Cited answers from the municipal development policy documents.")
    _errors(app)
    app.include_router(rest.router(assistant, gate))
    app.include_router(openai_door.router(assistant, gate))
    _unknown_routes(app)
    handler: Any = next(r for r in mcp_app.routes if getattr(r, "path", "") == "/mcp")
    app.router.routes.append(Route("/mcp", endpoint=Guarded(handler.app, gate), methods=["GET", "POST", "DELETE"]))
    upload_limit = int(assistant.settings.ingest.max_file_mb * 1024 * 1024) + 64 * 1024
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, upload_limit=upload_limit)

    access = Access(gate.tokens, assistant.settings, file_guard(assistant))  # one session store for login and gate
    for path, endpoint, methods in login_routes(access):
        app.router.routes.append(Route(path, endpoint=endpoint, methods=methods))  # type: ignore[arg-type]

    blocks = create_app(assistant, gate.limiter)
    # requests beyond the concurrency wait in an unbounded queue: overload slows answers, never drops them
    blocks.queue(default_concurrency_limit=assistant.settings.ui.ui_concurrency, max_size=None)
    # originals may be opened from a citation: only the folders of ingested documents are served
    app = gr.mount_gradio_app(app, blocks, path="/", allowed_paths=assistant.folders(), show_error=True,
                              css=CSS, theme=theme(), ssr_mode=False, footer_links=[])
    app.add_middleware(GermanPage)
    # outermost, added last: access is decided before any route (door, UI, Gradio API, a later one) runs
    app.add_middleware(AccessGate, access=access)
    return app


def file_guard(assistant: Assistant) -> Callable[[str, Rights], bool]:
    """Whether a caller may fetch a file by path from Gradio's file routes: one of its own documents, or a
    file in no folder that holds a document of a collection it may not read (so neither a forbidden
    original nor its folder's metadata.json is served)."""
    def allowed(path: str, rights: Rights) -> bool:
        if not rights.restricted:
            return True
        try:
            target = Path(path).resolve()
        except (OSError, ValueError):
            return False
        whole = assistant.version()
        if any(Path(d.path).resolve() == target for d in assistant.version(rights).manifest.documents.values()):
            return True
        hidden = {Path(d.path).resolve().parent for d in whole.manifest.documents.values() if not rights.sees(d.collection)}
        return not any(target.is_relative_to(folder) for folder in hidden)

    return allowed


def _unknown_routes(app: FastAPI) -> None:
    """A wrong address under a door is that door's 404, not the UI's page."""
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    @app.api_route("/api/v1/{rest:path}", methods=methods, include_in_schema=False)
    @app.api_route("/v1/{rest:path}", methods=methods, include_in_schema=False)
    def unknown(rest: str) -> None:
        raise ServiceError(404, "not_found", "Diese Adresse gibt es nicht (siehe /api/docs).",
                           "No such address (see /api/docs).")


def _errors(app: FastAPI) -> None:
    """Every failure of a door as a bilingual 4xx JSON body; no traceback ever leaves the server."""
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc).response()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        de = {404: "Diese Adresse gibt es nicht.", 405: "Diese Methode ist hier nicht erlaubt."}.get(
            exc.status_code, "Die Anfrage wurde abgelehnt.")
        return ServiceError(exc.status_code, "http_error", de, str(exc.detail),
                            dict(exc.headers or {})).response()

    @app.exception_handler(KepolError)
    async def kepol_error(request: Request, exc: KepolError) -> JSONResponse:
        # the index is being built or damaged, a store is unreachable: the service, not the request
        return ServiceError(503, "unavailable", f"Der Dienst kann gerade nicht antworten: {exc.message}",
                            f"The service cannot answer right now: {exc.message}", {"Retry-After": "30"}).response()

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s on %s: %s", type(exc).__name__, request.url.path, redact(str(exc)))
        return ServiceError(500, "internal", "Interner Fehler; er wurde protokolliert.",
                            "Internal error; it has been logged.").response()


class Running:
    """A server started in a background thread (tests, benchmarks): its URL, and close()."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self.server, self.thread, self.url = server, thread, url

    def close(self) -> None:
        """Stop at once: a test or benchmark is done with it, so open keep-alive and Gradio heartbeat
        connections are not waited for (a graceful stop waits up to 5 s for each server)."""
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout=10)


def launch(assistant: Assistant, host: str, port: int, block: bool = True) -> Running | None:
    """Start the server; binds to 127.0.0.1 unless told otherwise. Beyond this machine it refuses to
    start without an administrator password for the UI and without an API token for the doors."""
    if host != assistant.settings.ui.host:  # upload rights are judged by where the UI really listens
        assistant.settings = assistant.settings.replace(host=host)
    problem = admin_problem(assistant.settings)
    if problem:
        raise KepolError(problem, "set KEPOL_ADMIN_PASSWORD (and KEPOL_UI_PASSWORD for a staff-only chat), or "
                                  "KEPOL_ALLOW_EXPOSED_WITHOUT_ADMIN=1 to run without administration")
    gate = gatekeeper(assistant)
    problem = exposure_problem(host, gate.tokens)
    if problem:
        raise KepolError(problem, "create a token first: kepol token create --name NAME")
    app = create_server(assistant)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="kepol-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise KepolError(f"the server could not start on {host}:{port}",
                             "is the port in use? choose another with --port")
        time.sleep(0.05)
    running = Running(server, thread, f"http://{host}:{port}")
    log.info(listening(running.url, gate))
    if not block:
        return running
    def stop(signum: int, frame: Any) -> None:  # Ctrl+C, or SIGTERM from a service manager: a graceful stop
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):  # the server runs in a thread: the main thread takes the signals
        signal.signal(sig, stop)
    while thread.is_alive():
        thread.join(0.5)
    return None


def listening(url: str, gate: Gatekeeper) -> str:
    """The line IT reads when the server is up: where, which doors, and whether they need a token."""
    active = sum(t.active for t in gate.tokens.tokens())
    access = (f"API-Token nötig ({active} aktiv); Browser melden sich unter {url}/login an" if active else
              "ohne API-Token offen (nur auf diesem Rechner; `kepol token create --name NAME` schließt ab)")
    return (f"KEPol-Assistent läuft: {url}\n"
            f"  Chat {url}/ · REST {url}/api/v1 (Doku {url}/api/docs) · OpenAI-kompatibel {url}/v1 · MCP {url}/mcp\n"
            f"  Zugang: {access}")
