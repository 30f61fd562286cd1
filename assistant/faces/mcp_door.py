"""The MCP door (Model Context Protocol, the official `mcp` SDK): tools a calling model uses to search
and ask the library, over stdio (`kepol mcp`) or Streamable HTTP (`/mcp` under `kepol serve`).

Why the official SDK and not Gradio's MCP support: Gradio derives tools from UI event handlers (their
docstrings become descriptions, their outputs chat-shaped), while these tools are a contract of their
own (typed arguments, structured results with citation objects, read-only annotations), and the SDK
also gives the stdio transport and the client the tests drive it with."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from assistant.core.errors import KepolError
from assistant.core.rights import Rights
from assistant.faces.access import identity_of
from assistant.core.types import passage_contract
from assistant.faces.service import MAX_HISTORY, Filters, ServiceError, check_question, filter_of

if TYPE_CHECKING:
    from assistant.api import Assistant

INSTRUCTIONS = (
    "KEPol-Assistent beantwortet Fragen zur kommunalen Entwicklungspolitik ausschließlich aus den "
    "hinterlegten Dokumenten. Zitiere Antworten mit ihren Belegnummern [n] genau so, wie sie kommen, und "
    "erfinde keine Quellen; ist `refused` wahr, sagen die Dokumente dazu nichts. / KEPol-Assistent answers "
    "questions on German municipal development policy from its documents only. Quote answers with their "
    "citation numbers [n] exactly as given and invent no sources; when `refused` is true the documents do "
    "not say.")
_READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def _fail(exc: ServiceError | KepolError) -> ToolError:
    if isinstance(exc, ServiceError):
        return ToolError(f"{exc.de} / {exc.en}")
    return ToolError(str(exc))


def _checked(text: str, limit: int, history: list[str] | None = None) -> str:
    """The question, refused as the other doors refuse it (service.check_question) but as a tool error."""
    try:
        check_question(text, limit, history)
    except ServiceError as exc:
        raise _fail(exc) from exc
    return text


def build(assistant: Assistant, read_only: bool = True, local: Rights | None = None) -> MCPServer:
    """The MCP server over one Assistant. `read_only=False` adds `add_documents` (ingest local
    files); the HTTP transport is always read-only (uploads go through the REST door and its token).
    Over HTTP a call reads what the access gate let its request read; over stdio (`kepol mcp`, started
    by the machine's user) it reads `local` (None: everything, as at the command line)."""

    def _rights(ctx: Context) -> Rights | None:
        try:
            request = ctx.request_context.request
        except ValueError:
            request = None
        return local if request is None else identity_of(request).rights

    limit = assistant.settings.retrieval.max_question_chars
    # WARNING: the SDK configures the root logger at its log level (INFO would log every request's
    # "Terminating session: None")
    server: MCPServer = MCPServer("kepol-assistent", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(annotations=_READ, description=(
        "Durchsucht die Dokumente zur kommunalen Entwicklungspolitik und gibt die besten Textstellen mit "
        "Titel, Seite und Quelle zurück. Zitiere Stellen wörtlich mit Titel und Seite. / Searches the "
        "municipal development policy documents; returns the best passages with title, page and source. "
        "Quote passages verbatim with their title and page. filters: {kind, publisher, year}."))
    async def search_documents(ctx: Context, query: str, k: int = 5, filters: Filters | None = None) -> dict[str, Any]:
        q = _checked(query, limit)
        if not 1 <= k <= 50:
            raise ToolError("k muss zwischen 1 und 50 liegen. / k must be between 1 and 50.")
        try:
            only = filter_of(filters)
            rights = _rights(ctx)
            passages = await anyio.to_thread.run_sync(lambda: assistant.retrieve(q, k, None, only, rights=rights))
        except (ServiceError, KepolError) as exc:
            raise _fail(exc) from exc
        return {"passages": [passage_contract(p, n) for n, p in enumerate(passages, start=1)]}

    @server.tool(annotations=_READ, description=(
        "Beantwortet eine Frage aus den Dokumenten: `answer` mit Belegnummern [n], `citations` mit "
        "Dokument, Seite und wörtlichem Zitat, `refused` wenn die Dokumente nichts dazu sagen. Gib die "
        "Antwort mit ihren Belegen so wieder, wie sie kommt. history: frühere Fragen des Nutzers, älteste "
        "zuerst. / Answers a question from the documents: `answer` with citation numbers [n], `citations` "
        "with document, page and verbatim quote, `refused` when the documents do not say. Relay the answer "
        "with its citations as given. history: the user's earlier questions, oldest first."))
    async def ask(ctx: Context, question: str, history: list[str] | None = None) -> dict[str, Any]:
        turns = list(history or [])
        if len(turns) > MAX_HISTORY:
            raise ToolError(f"history: höchstens {MAX_HISTORY} Fragen. / history: at most {MAX_HISTORY} questions.")
        q = _checked(question, limit, turns)
        try:
            rights = _rights(ctx)
            answer = await anyio.to_thread.run_sync(lambda: assistant.ask(q, turns, rights=rights))
        except KepolError as exc:
            raise _fail(exc) from exc
        return answer.to_contract()

    @server.tool(annotations=_READ, description=(
        "Listet die Dokumente der Bibliothek (Titel, Art, Herausgeber, Jahr, Seiten). / Lists the "
        "library's documents (title, kind, publisher, year, pages)."))
    async def list_documents(ctx: Context) -> dict[str, Any]:
        rights = _rights(ctx)
        return {"documents": await anyio.to_thread.run_sync(lambda: assistant.library(rights))}

    if not read_only:
        @server.tool(description=(
            "Nimmt lokale Dateien oder Ordner (PDF, DOCX, HTML, Markdown, Text) in die Bibliothek auf. / "
            "Adds local files or folders (PDF, DOCX, HTML, Markdown, text) to the library."))
        async def add_documents(paths: list[str]) -> dict[str, Any]:
            if not paths:
                raise ToolError("paths ist leer. / paths is empty.")
            try:
                report = await anyio.to_thread.run_sync(lambda: assistant.ingest(paths, who="mcp:stdio"))
            except KepolError as exc:
                raise _fail(exc) from exc
            return {"results": [{"file": r.path, "status": r.status, "reason": r.reason, "reason_de": r.reason_de}
                                for r in report.results]}

    return server
