"""Who may use the server, decided once for every route it serves: an ASGI layer under the whole app
(REST, /v1, /mcp, the Gradio page, Gradio's API and file routes, and any route added later).

The rule: a route is refused (401) unless it is on the public list or the request carries a
credential. Credentials are an API token (`Authorization: Bearer kepol_…`, for programs: REST,
OpenAI and MCP clients, gradio_client with `headers=`) or a browser session from the login page
(`/login`: an API token, or the UI user and password). Credentials are required
- on every route once an API token exists (the promise of the README),
- on the UI's routes when a UI password is set (the doors stay as open as before: loopback only),
- nowhere otherwise (a server on 127.0.0.1 with neither; `launch` refuses to expose that).
Why our own login and not Gradio's `auth=`: Gradio's guards cover the routes Gradio thinks of and
only the UI; this layer does not know any route, so a route nobody thought of is refused too. The
login form keeps Gradio's field names, so gradio_client's `auth=(user, password)` still works."""
from __future__ import annotations

import hmac
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs, unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.core.rights import PUBLIC_ONLY, Rights
from assistant.faces.ratelimit import RateLimiter
from assistant.faces.tokens import Token, TokenStore
from assistant.faces.users import UserStore

if TYPE_CHECKING:
    from assistant.core.settings import Settings

# nothing else is served without a credential: the health check, the login, and three fixed files of
# Gradio's that a browser fetches without cookies (a manifest is fetched without credentials) and that
# hold no data; a route added later is not on this list, so it is refused until someone puts it here
PUBLIC = frozenset({"/api/v1/health", "/login", "/logout", "/favicon.ico", "/manifest.json", "/robots.txt"})
DOORS = ("/api/", "/v1/", "/mcp")  # the program doors; everything else is the UI (Gradio)
COOKIE = "kepol-session"
SESSION_HOURS = 12.0  # a working day: a browser left open overnight logs in again
IDENTITY_HEADER = b"x-kepol-identity"  # set here (never taken from the client): who the UI handlers rate-limit
RIGHTS_HEADER = b"x-kepol-rights"  # set here (never taken from the client): what the UI handlers may read
OWN_HEADERS = (IDENTITY_HEADER, RIGHTS_HEADER)
FILE_ROUTES = ("/gradio_api/file=", "/file=")  # Gradio serves files under these: only a caller's own documents
LOGIN_ATTEMPTS_PER_MINUTE = 10  # per client address: a person mistypes, a guesser is slowed to a crawl


@dataclass(frozen=True)
class Identity:
    """Who a request is: `token:NAME` (an API token, also behind a browser session), `ui:USER` (the UI
    login) or `client:ADDRESS` (nobody, on a server that asks for no credential)."""

    key: str
    token: str = ""  # the token's name, when the identity is a token
    upload: bool = False
    rights: Rights = PUBLIC_ONLY  # what it may read; a request nobody identified reads öffentlich only


class Sessions:
    """Browser sessions after a login, in memory (a restart logs everyone out: nothing to leak on disk)."""

    def __init__(self, hours: float = SESSION_HOURS) -> None:
        self.seconds = hours * 3600
        self._by_id: dict[str, tuple[Identity, float]] = {}
        self._lock = threading.Lock()

    def open(self, who: Identity) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._by_id = {k: v for k, v in self._by_id.items() if v[1] > now}
            self._by_id[sid] = (who, now + self.seconds)
        return sid

    def get(self, sid: str) -> Identity | None:
        with self._lock:
            found = self._by_id.get(sid)
        return found[0] if found and found[1] > time.monotonic() else None

    def close(self, sid: str) -> None:
        with self._lock:
            self._by_id.pop(sid, None)


class Access:
    """The decision for one request: its identity, or None when it must be refused."""

    def __init__(self, tokens: TokenStore, settings: Settings,
                 file_allowed: Callable[[str, Rights], bool] | None = None) -> None:
        self.tokens, self.settings = tokens, settings
        self.users = UserStore(settings.store.data_dir / "users.json")
        self.sessions = Sessions()
        self.attempts = RateLimiter(LOGIN_ATTEMPTS_PER_MINUTE)
        # whether a caller may fetch a file by path (Gradio's file routes): not a document of another collection
        self.file_allowed = file_allowed or (lambda _path, _rights: True)

    def tokens_required(self) -> bool:
        return self.tokens.any_active()

    def identify(self, request: Request, stored: list[Token]) -> Identity | None:
        """The credential the request carries (bearer token first, then the session cookie), checked
        against the tokens as just read; a token revoked since a browser logged in with it ends that
        session at once."""
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            t = self.tokens.check(header[7:].strip(), stored)
            return Identity(f"token:{t.name}", t.name, t.upload, t.rights) if t else None
        who = self.sessions.get(request.cookies.get(COOKIE, ""))
        if who is not None and who.token and not any(t.name == who.token and t.active for t in stored):
            return None
        return who

    def needed(self, path: str, stored: list[Token]) -> bool:
        """Whether this path needs a credential now (see the module's rule)."""
        if path in PUBLIC:
            return False
        if any(t.active for t in stored):
            return True
        return self.passwords() and not path.startswith(DOORS)

    def passwords(self) -> bool:
        """Whether people log in with a name and password (the single UI password, or named users)."""
        return self.settings.ui.ui_password is not None or self.users.any()

    def login(self, fields: dict[str, str]) -> Identity | None:
        """A token, or the UI user and password, as typed into the login form."""
        token = fields.get("token", "").strip() or fields.get("password", "").strip()
        if token.startswith("kepol_"):
            t = self.tokens.check(token)
            return Identity(f"token:{t.name}", t.name, t.upload, t.rights) if t else None
        user = self.users.check(fields.get("username", ""), fields.get("password", "")) if self.users.any() else None
        if user is not None:  # a named user: its own collections (kepol user add)
            return Identity(f"user:{user.name}:{secrets.token_hex(4)}", rights=user.rights)
        secret = self.settings.ui.ui_password
        if secret is None:
            return None
        user_ok = hmac.compare_digest(fields.get("username", "").encode(), self.settings.ui.ui_user.encode())
        pass_ok = hmac.compare_digest(fields.get("password", "").encode(), secret.get_secret_value().encode())
        # each login its own key: staff share one UI user, not one rate limit
        # the single UI password is the shortcut for one user who sees everything (as before collections)
        return Identity(f"ui:{self.settings.ui.ui_user}:{secrets.token_hex(4)}",
                        rights=Rights(None, who=f"ui:{self.settings.ui.ui_user}")) if user_ok and pass_ok else None


class AccessGate:
    """The ASGI layer: refuses what needs a credential and carries none; tells the app who asked
    (scope state `identity` and the `x-kepol-identity` header, which a client cannot set itself)."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app, self.access = app, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope.get("headers") or [] if k not in OWN_HEADERS]
        scope = dict(scope, headers=headers)
        request = Request(scope)
        path = scope.get("path", "")
        stored = self.access.tokens.tokens()  # read once per request: a revocation counts from the next one
        who = self.access.identify(request, stored)
        if who is None and self.access.needed(path, stored):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await refusal(request, path, self.access)(scope, receive, send)
            return
        if who is None:
            # a server that asks nobody for a credential (loopback, no token, no password) has one user, who
            # reads everything; anywhere else an anonymous caller reads öffentlich only
            alone = not any(t.active for t in stored) and not self.access.passwords()
            who = Identity(f"client:{request.client.host if request.client else '?'}",
                           rights=Rights(None, admin=True) if alone else PUBLIC_ONLY)
        file = next((unquote(path[len(r):]) for r in FILE_ROUTES if path.startswith(r)), None)
        if file is not None and not self.access.file_allowed(file, who.rights):
            await JSONResponse({"error": {"code": "not_found", "message_de": "Datei nicht gefunden.",
                                          "message_en": "File not found."}}, status_code=404)(scope, receive, send)
            return
        scope.setdefault("state", {})["identity"] = who
        scope["headers"] = headers + [(IDENTITY_HEADER, who.key.encode()), (RIGHTS_HEADER, rights_header(who.rights))]
        await self.app(scope, receive, send)


def rights_header(rights: Rights) -> bytes:
    return json.dumps({"collections": None if rights.collections is None else sorted(rights.collections),
                       "admin": rights.admin, "who": rights.who}, ensure_ascii=True).encode()


def rights_of_headers(headers: Mapping[str, str] | None) -> Rights:
    """The rights the gate wrote into a request's headers (a Gradio handler sees only the headers);
    without the gate's header, öffentlich only."""
    raw = (headers or {}).get(RIGHTS_HEADER.decode(), "")
    try:
        d = json.loads(raw)
        cols = d["collections"]
        return Rights(None if cols is None else frozenset(str(c) for c in cols), bool(d["admin"]), str(d["who"]))
    except (ValueError, KeyError, TypeError):
        return PUBLIC_ONLY


def identity_of(request: Request) -> Identity:
    """Who the gate let through (a request that did not pass the gate is nobody in particular)."""
    who = request.scope.get("state", {}).get("identity")
    return who if isinstance(who, Identity) else Identity("client:?")


def refusal(request: Request, path: str, access: Access) -> Response:
    """401: the login page for a person's browser, a JSON-RPC error on /mcp (what an MCP client shows),
    the bilingual error body on every other route."""
    de = "Anmeldung nötig: ein gültiges API-Token (Authorization: Bearer …) oder eine Sitzung über /login."
    en = "Login required: a valid API token (Authorization: Bearer …) or a session from /login."
    headers = {"WWW-Authenticate": "Bearer"}
    if path.startswith("/mcp"):
        return JSONResponse({"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": f"{de} / {en}",
                                                                      "data": {"code": "unauthorized"}}},
                            status_code=401, headers=headers)
    if request.method == "GET" and "text/html" in request.headers.get("accept", "") and not path.startswith(DOORS):
        return HTMLResponse(login_page(access), status_code=401, headers=headers)
    return JSONResponse({"error": {"code": "unauthorized", "message": f"{de} / {en}", "message_de": de,
                                   "message_en": en}}, status_code=401, headers=headers)


def login_page(access: Access, problem: str = "") -> str:
    """A self-contained form (no script, no asset to load before the login): a token, or the UI
    user and password when one is configured."""
    password = access.passwords()
    fields = ('<label>Benutzer<input name="username" autocomplete="username"></label>'
              '<label>Passwort<input name="password" type="password" autocomplete="current-password"></label>'
              '<p class="or">oder</p>') if password else ""
    fields += '<label>API-Token<input name="token" type="password" autocomplete="off"></label>' \
        if access.tokens_required() else ""
    note = f'<p class="problem" role="alert">{html.escape(problem)}</p>' if problem else ""
    return f"""<!doctype html><html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>KEPol-Assistent – Anmeldung</title>
<style>body{{font-family:system-ui,Segoe UI,Arial,sans-serif;max-width:26em;margin:4em auto;padding:0 1em}}
label{{display:block;margin:.8em 0}}input{{display:block;width:100%;padding:.5em;margin-top:.2em;box-sizing:border-box}}
button{{padding:.6em 1.2em;background:#1f5aa6;color:#fff;border:0;border-radius:4px}}
.problem{{color:#a40000;font-weight:bold}}.or{{color:#555}}</style></head>
<body><h1>KEPol-Assistent</h1><p>Bitte melden Sie sich an.</p>{note}
<form method="post" action="/login">{fields}<button type="submit">Anmelden</button></form></body></html>"""


def login_routes(access: Access) -> list[tuple[str, object, list[str]]]:
    """`/login` (form, or gradio_client's `auth=`) and `/logout`, as (path, endpoint, methods)."""

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(login_page(access))
        wants_page = "text/html" in request.headers.get("accept", "")
        where = request.client.host if request.client else "?"
        wait = access.attempts.wait_seconds(f"login:{where}")
        if wait:
            problem = f"Zu viele Versuche; bitte in {wait:.0f} s erneut versuchen."
            return (HTMLResponse(login_page(access, problem), status_code=429) if wants_page else
                    JSONResponse({"error": {"code": "rate_limited", "message_de": problem,
                                            "message_en": f"Too many attempts; retry in {wait:.0f} s."}},
                                 status_code=429, headers={"Retry-After": str(max(1, round(wait)))}))
        body = (await request.body())[:10_000].decode("utf-8", "replace")
        fields = {k: v[0] for k, v in parse_qs(body).items() if v}
        who = access.login(fields)
        if who is None:
            problem = "Anmeldung fehlgeschlagen: Token, Benutzer oder Passwort stimmen nicht."
            return (HTMLResponse(login_page(access, problem), status_code=401) if wants_page else
                    JSONResponse({"error": {"code": "unauthorized", "message_de": problem,
                                            "message_en": "Login failed: token, user or password do not match."}},
                                 status_code=401))
        response: Response = RedirectResponse("/", status_code=303) if wants_page else \
            Response(json.dumps({"success": True}), media_type="application/json")
        response.set_cookie(COOKIE, access.sessions.open(who), max_age=int(access.sessions.seconds), httponly=True,
                            samesite="lax", path="/")
        return response

    async def logout(request: Request) -> Response:
        access.sessions.close(request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return [("/login", login, ["GET", "POST"]), ("/logout", logout, ["GET", "POST"])]
