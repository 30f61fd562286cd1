"""What every service door shares: the request bodies (strict: unknown fields and wrong types are
refused), errors as a 4xx with a German and an English message naming the problem (never a
traceback, never a 500), API tokens and the per-token rate limit. The doors themselves (rest.py,
openai_door.py, mcp_door.py) only parse, call `Assistant`, and render."""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.core.errors import redact
from assistant.core.rights import PUBLIC, CollectionNameError, Rights, collection_name
from assistant.core.types import KINDS, LibraryFilter
from assistant.faces.ratelimit import RateLimiter
from assistant.faces.access import Identity, identity_of
from assistant.faces.tokens import TokenStore

if TYPE_CHECKING:
    from assistant.api import Assistant

log = logging.getLogger("kepol.service")
MAX_BODY_BYTES = 1_000_000  # a question with its history is a few kB; uploads have their own limit
MAX_HISTORY = 20


class ServiceError(Exception):
    """A request the service refuses: HTTP status, a code, and the reason in German and English."""

    def __init__(self, status: int, code: str, de: str, en: str, headers: dict[str, str] | None = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(en)
        self.status, self.code, self.de, self.en, self.headers = status, code, de, en, headers or {}
        self.body = body or {}  # further fields beside "error" (e.g. an upload's per-file results)

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"code": self.code, "message": f"{self.de} / {self.en}", "message_de": self.de,
                                       "message_en": self.en}, **self.body},
                            status_code=self.status, headers=self.headers)


class Filters(BaseModel):
    """Part of the library to ask (any of them may be left out)."""

    model_config = ConfigDict(extra="forbid")
    kind: str | None = Field(default=None, max_length=100, description="document kind, e.g. \"position paper\"")
    publisher: str | None = Field(default=None, max_length=300)
    year: int | None = Field(default=None, ge=1900, le=2100)


def filter_of(filters: Filters | None, kind: str | None = None) -> LibraryFilter | None:
    """The library filter a request names; a kind may be given by its key ("position paper") or its
    German name ("Positionspapier"). An unknown kind is a 422 naming the known ones."""
    f = filters or Filters()
    wanted = kind or f.kind
    if wanted:
        by_name = {k.lower(): k for k in KINDS} | {v.lower(): k for k, v in KINDS.items()}
        if wanted.lower() not in by_name:
            known = ", ".join(KINDS.values())
            raise ServiceError(422, "unknown_kind", f"Unbekannte Dokumentart „{wanted}“ (bekannt: {known}).",
                               f"Unknown document kind '{wanted}' (known: {known}).")
        wanted = by_name[wanted.lower()]
    only = LibraryFilter(wanted or None, f.publisher or None, f.year)
    return only if (only.kind or only.publisher or only.year) else None


class AskBody(BaseModel):
    """`POST /api/v1/ask`: the question, the user's earlier turns (oldest first), filters."""

    model_config = ConfigDict(extra="forbid")
    question: str
    history: list[str] = Field(default_factory=list, max_length=MAX_HISTORY)
    filters: Filters | None = None
    include_superseded: bool = False
    stream: bool = Field(default=False, description="answer as server-sent events (delta …, final)")


class RetrieveBody(BaseModel):
    """`POST /api/v1/retrieve`: like `kepol retrieve`."""

    model_config = ConfigDict(extra="forbid")
    question: str
    k: int = Field(default=5, ge=1, le=50)
    history: list[str] = Field(default_factory=list, max_length=MAX_HISTORY)
    filters: Filters | None = None
    include_superseded: bool = False


def check_question(text: str, limit: int, history: list[str] | None = None) -> None:
    """An empty or overlong question (or history turn) is refused before any work is done."""
    for n, turn in enumerate(history or []):
        if len(turn) > limit:
            raise ServiceError(422, "bad_history", f"history[{n}] ist länger als {limit} Zeichen.",
                               f"history[{n}] is longer than {limit} characters.")
    if not text.strip():
        raise ServiceError(422, "empty_question", "Die Frage ist leer.", "The question is empty.")
    if len(text) > limit:
        raise ServiceError(422, "too_long", f"Die Frage ist länger als {limit} Zeichen.",
                           f"The question is longer than {limit} characters.")


def validation_error(exc: ValidationError | Any) -> ServiceError:
    """A body that does not fit: the first problem, named by its field."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    if not errors:
        return ServiceError(400, "bad_request", "Die Anfrage ist ungültig.", "The request is invalid.")
    e = errors[0]
    where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
    kind = e.get("type", "")
    if kind == "json_invalid":
        return ServiceError(400, "malformed_json", "Der Inhalt ist kein gültiges JSON.", "The body is not valid JSON.")
    if kind == "extra_forbidden":
        return ServiceError(422, "unknown_field", f"Unbekanntes Feld „{where}“.", f"Unknown field '{where}'.")
    if kind == "missing":
        return ServiceError(422, "missing_field", f"Das Feld „{where}“ fehlt.", f"The field '{where}' is missing.")
    if kind.startswith("string_too_long") or kind == "too_long":
        return ServiceError(422, "too_long", f"„{where}“ ist zu lang.", f"'{where}' is too long.")
    if kind in ("string_too_short", "too_short"):
        return ServiceError(422, "too_short", f"„{where}“ ist leer oder zu kurz.", f"'{where}' is empty or too short.")
    want = next((v for k, v in _EXPECTED.items() if kind.startswith(k)), None)
    if want:
        return ServiceError(422, "invalid_field", f"„{where}“ muss {want[0]} sein.", f"'{where}' must be {want[1]}.")
    return ServiceError(422, "invalid_field", f"„{where}“ hat einen unzulässigen Wert.",
                        f"'{where}' has an invalid value ({redact(e.get('msg', ''))}).")


_EXPECTED = {  # pydantic's error types → what the field must be, in German and English
    "string": ("Text", "a string"), "list": ("eine Liste", "a list"), "int": ("eine ganze Zahl", "an integer"),
    "float": ("eine Zahl", "a number"), "bool": ("true oder false", "true or false"),
    "dict": ("ein Objekt", "an object"), "model": ("ein Objekt", "an object"),
    "literal": ("einer der erlaubten Werte", "one of the allowed values"),
    "greater_than": ("größer", "larger"), "less_than": ("kleiner", "smaller"),
}


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_problem(host: str, tokens: TokenStore) -> str:
    """Why the service must not start: listening beyond this machine with no token to ask for."""
    if is_loopback(host) or tokens.any_active():
        return ""
    return (f"the service would listen on {host} without any API token: anyone on the network could use it "
            "(create one with `kepol token create --name NAME`, or bind to 127.0.0.1)")


@dataclass
class Gatekeeper:
    """What the doors ask after access.AccessGate let a request in: may it upload, and may it ask
    again now (one limit per token, shared by every door that answers questions)."""

    tokens: TokenStore
    limiter: RateLimiter

    def admit(self, request: Request, upload: bool = False) -> Identity:
        """The caller (as the gate identified it), or a 403/429 ServiceError."""
        who = identity_of(request)
        if upload and not who.upload and self.tokens.any_active():
            raise ServiceError(403, "forbidden", "Dieses Token darf keine Dokumente hochladen.",
                               "This token may not upload documents.")
        self.limit(who.key)
        return who

    def limit(self, key: str) -> None:
        """A 429 with Retry-After when this caller has asked its share for the minute."""
        wait = self.limiter.wait_seconds(key)
        if wait:
            raise ServiceError(429, "rate_limited", f"Zu viele Anfragen; bitte in {wait:.0f} s erneut versuchen.",
                               f"Too many requests; retry in {wait:.0f} s.", {"Retry-After": str(max(1, round(wait)))})


def upload_collection(name: str | None, rights: Rights) -> str:
    """The collection an upload goes to (öffentlich by default): a valid name the uploader may read
    (an upload into a collection one cannot read would be writing blind); else a 422 or a 403."""
    try:
        target = collection_name(name or PUBLIC)
    except CollectionNameError as exc:
        raise ServiceError(422, "bad_collection", exc.de, exc.message) from exc
    if not rights.sees(target):
        raise ServiceError(403, "forbidden", f"Keine Rechte für die Sammlung „{target}“.",
                           f"No rights for the collection '{target}'.")
    return target


def gatekeeper(assistant: Assistant) -> Gatekeeper:
    s = assistant.settings
    return Gatekeeper(TokenStore(s.store.data_dir / "tokens.json"), RateLimiter(s.ui.rate_limit_per_minute))
