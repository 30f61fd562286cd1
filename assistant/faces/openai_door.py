"""The OpenAI-compatible door: /v1/models and /v1/chat/completions (plain and `stream: true`), so any
chat front end that speaks OpenAI (Open WebUI, an intranet portal) can use the library. The model id
`kepol` asks the whole library, `kepol:<Dokumentart>` one kind of document. The answer text carries
its numbered citations and a short source list, so a client that knows nothing of citations still
shows them; the `citations` field (on the message, and on the final stream chunk) carries the full
citation objects. Earlier user turns are the history; a system message never lifts the binding to
the documents (it is not read at all)."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant.core.rights import Rights
from assistant.core.types import Answer, Delta, Final, kind_label
from assistant.faces.service import MAX_HISTORY, Filters, Gatekeeper, ServiceError, check_question, filter_of

if TYPE_CHECKING:
    from assistant.api import Assistant

MODEL = "kepol"
CORRECTED = "Geprüfte Antwort (ersetzt den Entwurf oben):"


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str = Field(max_length=20_000)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # clients add name, tool_call_id …; we read role and content
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = Field(default=None)

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(p.text for p in self.content)
        return self.content or ""


class ChatBody(BaseModel):
    """The chat-completions request. The sampling fields OpenAI clients send are accepted and
    ignored (the answer is extractive); any other unknown field is refused."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    filters: Filters | None = None
    include_superseded: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = Field(default=None, ge=1, le=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str | None = None
    seed: int | None = None
    stream_options: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    # sent by some clients (Open WebUI, SDKs) and meaningless for an extractive answer: accepted, ignored
    tools: list[Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    logit_bias: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    reasoning_effort: str | None = None
    store: bool | None = None
    service_tier: str | None = None


def models(assistant: Assistant, rights: Rights) -> dict[str, str]:
    """Model ids and the document kind each stands for ("" for the whole library): the kinds of the
    documents the caller may read."""
    kinds = sorted({r["kind"] for r in assistant.library(rights) if r["kind"]})
    return {MODEL: ""} | {f"{MODEL}:{kind_label(k)}": k for k in kinds}


def with_sources(answer: Answer) -> str:
    """The answer text, a short source list ("[1] Titel, S. 5") and the notice, when there is one
    (e.g. the configured model failed and the extractive answer stands in)."""
    text = answer.answer
    if answer.citations:
        lines = [f"[{c.n}] {c.title}" + (f", S. {c.page}" if c.page else "") for c in answer.citations]
        text += "\n\nQuellen:\n" + "\n".join(lines)
    if answer.notice:
        text += f"\n\nHinweis: {answer.notice}"
    return text


def _question(body: ChatBody) -> tuple[str, list[str]]:
    users = [m.text() for m in body.messages if m.role == "user"]
    if not users or body.messages[-1].role != "user":
        raise ServiceError(422, "bad_history", "Die letzte Nachricht muss eine Frage des Nutzers (role „user“) sein.",
                           "The last message must be the user's question (role 'user').")
    return users[-1], users[:-1][-MAX_HISTORY:]


def router(assistant: Assistant, gate: Gatekeeper) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])

    @r.get("/models", summary="The model ids: `kepol` and one per document kind")
    def list_models(request: Request) -> dict[str, Any]:
        rights = gate.admit(request).rights
        now = int(time.time())
        return {"object": "list", "data": [{"id": m, "object": "model", "created": now, "owned_by": "kepol"}
                                           for m in models(assistant, rights)]}

    @r.post("/chat/completions", summary="A cited answer as a chat completion")
    async def chat(body: ChatBody, request: Request) -> Any:
        rights = gate.admit(request).rights
        known = models(assistant, rights)
        if body.model not in known:
            raise ServiceError(404, "model_not_found", f"Unbekanntes Modell „{body.model}“.",
                               f"Unknown model '{body.model}' (available: {', '.join(known)}).")
        question, history = _question(body)
        check_question(question, assistant.settings.retrieval.max_question_chars, history)
        only = filter_of(body.filters, known[body.model] or None)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not body.stream:
            answer = await run_in_threadpool(assistant.ask, question, history, only, body.include_superseded, rights)
            cites = _citations(answer)
            message = {"role": "assistant", "content": with_sources(answer), "citations": cites,
                       "refused": answer.refused}
            return {"id": cid, "object": "chat.completion", "created": created, "model": body.model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "citations": cites, "refused": answer.refused, "notice": answer.notice,
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        def events() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            shown = ""
            for e in assistant.ask_stream(question, history, only, body.include_superseded, rights):
                if isinstance(e, Delta):
                    shown += e.text
                    yield chunk({"content": e.text})
                elif isinstance(e, Final):
                    a = e.answer
                    text = with_sources(a)
                    # what was streamed is the verified answer's start (extractive lines), or the model's
                    # draft that verification replaced: then the verified answer follows, marked as such
                    rest = text[len(shown):] if text.startswith(shown) else f"\n\n{CORRECTED}\n\n{text}"
                    if rest:
                        yield chunk({"content": rest})
                    yield chunk({}, "stop", citations=_citations(a), refused=a.refused, notice=a.notice)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return r


def _citations(answer: Answer) -> list[dict[str, Any]]:
    return answer.to_contract()["citations"]

