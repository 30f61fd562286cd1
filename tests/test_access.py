"""Access is decided once for every route the server serves: with a token in existence, each route —
REST, /v1, /mcp, the chat page, Gradio's API and file routes, and whatever a later change adds — is
refused without a credential, except the health check, the login and three fixed files; a browser
logs in at /login (token or UI password) and a program sends its token. The rate limit holds on
every door that answers questions, and a token's questions count once across them."""
from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from gradio_client import Client
from mcp import Client as McpClient
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from assistant.api import Assistant
from assistant.core.settings import Settings
from assistant.faces.access import PUBLIC
from assistant.faces.server import Running, create_server, launch
from assistant.faces.tokens import TokenStore
from tests.conftest import free_port, serving, small_library

NOTE = ("# Klimapartnerschaft Musterstadt\n\nDie Klimapartnerschaft zwischen Musterstadt und Tamale besteht seit "
        "2019. Sie wird vom Eine-Welt-Beirat der Stadt begleitet, der viermal im Jahr tagt.\n")
QUESTION = "Seit wann besteht die Klimapartnerschaft?"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return small_library(tmp_path_factory.mktemp("access"), {"klima.md": NOTE})


@pytest.fixture(scope="module")
def guarded(small: Assistant) -> Iterator[tuple[Running, str]]:
    """The whole server with one token in existence."""
    store = TokenStore(small.settings.store.data_dir / "tokens.json")
    token = store.create("access-test")
    try:
        with serving(small) as running:
            yield running, token
    finally:
        store.revoke("access-test")


def served_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route the app serves: its own, those of included routers and of
    mounted apps (Gradio's), at any depth; found by walking the app, not from a list."""
    out: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for r in routes:
            if hasattr(r, "original_router"):  # FastAPI's included router
                walk(r.original_router.routes, prefix + (r.include_context.prefix or ""))
            elif getattr(r, "routes", None) is not None and not hasattr(r, "endpoint"):  # a mount
                walk(r.routes, prefix + (r.path or ""))
            elif getattr(r, "methods", None):
                out.extend((m, prefix + r.path) for m in sorted(r.methods) if m != "HEAD")
    walk(app.routes, "")
    return sorted(set(out))


def concrete(path: str) -> str:
    """A path template with its parameters filled (`/gradio_api/file={path_or_url:path}` → `…=x`)."""
    return re.sub(r"\{[^}]+\}", "x", path) or "/"


def test_every_route_is_refused_without_a_credential(small: Assistant, guarded: tuple[Running, str]):
    running, token = guarded
    routes = served_routes(create_server(small))
    paths = {p for _, p in routes}
    # the walk really sees every door and Gradio's API (a walk that missed them would prove nothing)
    assert {"/api/v1/ask", "/v1/chat/completions", "/mcp", "/", "/gradio_api/queue/join",
            "/gradio_api/call/{api_name}", "/gradio_api/file={path_or_url:path}", "/gradio_api/upload"} <= paths
    assert len(routes) > 60
    with httpx.Client(base_url=running.url, timeout=30) as c:
        api = c.get("/gradio_api/info", headers={"Authorization": f"Bearer {token}"}).json()
        endpoints = sorted(api["named_endpoints"])  # Gradio's named API: /ask, /chat, /upload, /library …
        assert {"/ask", "/chat", "/upload", "/library", "/export"} <= set(endpoints)
        calls = [(m, concrete(p)) for m, p in routes]
        calls += [("POST", f"/gradio_api/call{e}") for e in endpoints] + [("POST", f"/gradio_api/run{e}") for e in endpoints]
        calls += [("GET", "/gradio_api/info"), ("GET", "/config"), ("GET", "/gradio_api/file=/etc/hostname"),
                  ("GET", "/anything/added/later")]
        opened = []
        for method, path in calls:
            for headers in ({}, {"Authorization": "Bearer kepol_wrong"}, {"Cookie": "kepol-session=forged"},
                            {"X-Kepol-Identity": "token:access-test"}):
                r = c.request(method, path, headers=headers, json={"data": ["Frage", []]})
                if r.status_code not in (401, 403):
                    opened.append((method, path, headers, r.status_code))
        assert [o for o in opened if o[1] not in PUBLIC] == []
        assert {o[1] for o in opened} <= PUBLIC
        assert c.get("/api/v1/health").status_code == 200
        assert c.get("/", headers={"Accept": "text/html"}).status_code == 401  # a browser gets the login form
        assert 'action="/login"' in c.get("/", headers={"Accept": "text/html"}).text


def test_an_exposed_server_refuses_gradios_ask_without_a_token(small: Assistant):
    store = TokenStore(small.settings.store.data_dir / "tokens.json")
    token = store.create("exposed-access")
    exposed = Assistant(small.settings.replace(admin_password="geheim"))
    running = launch(exposed, "0.0.0.0", free_port(), block=False)
    assert running is not None
    base = running.url.replace("0.0.0.0", "127.0.0.1")
    try:
        r = httpx.post(f"{base}/gradio_api/call/ask", json={"data": [QUESTION, []]}, timeout=30)
        assert r.status_code == 401 and "Anmeldung" in r.json()["error"]["message_de"]
        with pytest.raises(Exception):
            Client(base + "/", verbose=False).predict(QUESTION, [], api_name="/ask")
        client = Client(base + "/", verbose=False, headers={"Authorization": f"Bearer {token}"})
        answer = client.predict(QUESTION, [], api_name="/ask")
        assert not answer["refused"] and "2019" in answer["citations"][0]["quote"]
    finally:
        running.close()
        store.revoke("exposed-access")


def test_a_browser_logs_in_with_its_token_and_a_revoked_token_ends_the_session(small: Assistant,
                                                                             guarded: tuple[Running, str]):
    running, token = guarded
    store = TokenStore(small.settings.store.data_dir / "tokens.json")
    short = store.create("browser-session")
    with httpx.Client(base_url=running.url, timeout=30, headers={"Accept": "text/html"}) as browser:
        wrong = browser.post("/login", data={"token": "kepol_wrong"})
        assert wrong.status_code == 401 and "fehlgeschlagen" in wrong.text
        ok = browser.post("/login", data={"token": short})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        assert "httponly" in ok.headers["set-cookie"].lower()
        page = browser.get("/")
        assert page.status_code == 200 and "gradio_config" in page.text
        assert browser.get("/gradio_api/info").status_code == 200
        store.revoke("browser-session")
        assert browser.get("/").status_code == 401  # the session dies with its token
    with httpx.Client(base_url=running.url, timeout=30) as program:
        logged = program.post("/login", data={"token": token})  # gradio_client's kind of login: JSON, a cookie
        assert logged.status_code == 200 and logged.json()["success"] is True
        assert program.get("/config").status_code == 200


def test_the_ui_password_logs_in_browsers_and_gradio_client(tmp_path):
    a = Assistant(Settings(data_dir=tmp_path / "data", ui_password="stadt-geheim"))
    with serving(a) as running:
        with pytest.raises(Exception):  # no session, no access to the API
            Client(running.url + "/", verbose=False).predict("Frage", [], api_name="/ask")
        client = Client(running.url + "/", auth=("kepol", "stadt-geheim"), verbose=False)
        assert client.predict("", [], api_name="/ask")["refused"] is True
        with httpx.Client(base_url=running.url, timeout=30) as c:
            assert c.post("/login", data={"username": "kepol", "password": "falsch"}).status_code == 401
            assert c.get("/api/v1/health").status_code == 200


def test_the_rate_limit_holds_on_every_door_that_answers(small: Assistant):
    """Two questions a minute per token; the third is refused on each door, saying when to retry; and a
    token's questions count once, whichever door they came through."""
    limited = Assistant(small.settings.replace(rate_limit_per_minute=2))
    store = TokenStore(small.settings.store.data_dir / "tokens.json")
    names = ["rest", "openai", "mcp", "gradio-ask", "gradio-chat", "mixed"]
    tokens = {n: store.create(f"limit-{n}") for n in names}
    try:
        with serving(limited) as running:
            def rest(token: str) -> str:
                r = httpx.post(f"{running.url}/api/v1/ask", json={"question": QUESTION}, timeout=60,
                               headers={"Authorization": f"Bearer {token}"})
                return "limited" if r.status_code == 429 and int(r.headers["retry-after"]) >= 1 else str(r.status_code)

            def oai(token: str) -> str:
                client = openai.OpenAI(base_url=f"{running.url}/v1", api_key=token, max_retries=0)
                try:
                    client.chat.completions.create(model="kepol", messages=[{"role": "user", "content": QUESTION}])
                except openai.RateLimitError:
                    return "limited"
                return "200"

            def mcp(token: str) -> str:
                async def call() -> str:
                    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
                    async with McpClient(streamable_http_client(f"{running.url}/mcp", http_client=http)) as c:
                        try:
                            await c.call_tool("ask", {"question": QUESTION})
                        except MCPError as exc:  # the client is told why and when to retry
                            text = str(exc)
                            return "limited" if "Too many requests" in text and "retry in" in text else text
                    return "200"
                return asyncio.run(call())

            def gradio_ask(token: str) -> str:
                client = Client(running.url + "/", verbose=False, headers={"Authorization": f"Bearer {token}"})
                out = client.predict(QUESTION, [], api_name="/ask")
                return "limited" if out.get("error") == "rate_limited" else "200"

            def gradio_chat(token: str) -> str:
                client = Client(running.url + "/", verbose=False, headers={"Authorization": f"Bearer {token}"})
                out = client.predict(QUESTION, [], "alle", "alle", False, api_name="/chat")
                return "limited" if "Bitte warten Sie" in str(out) else "200"

            doors = {"rest": rest, "openai": oai, "mcp": mcp, "gradio-ask": gradio_ask, "gradio-chat": gradio_chat}
            for name, door in doors.items():
                assert [door(tokens[name]) for _ in range(3)] == ["200", "200", "limited"], name
            mixed = tokens["mixed"]
            assert [rest(mixed), mcp(mixed), oai(mixed), gradio_ask(mixed)] == ["200", "200", "limited", "limited"]
    finally:
        for n in names:
            store.revoke(f"limit-{n}")
