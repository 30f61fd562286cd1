"""The canary through every door: a token without rat-intern asks, lists and fetches through REST, the
OpenAI-compatible chat (plain and streamed), MCP over HTTP, Gradio's API (gradio_client) and the file
route, and no response body or header holds the canary's title, phrase, file name or doc id; a token
with rat-intern gets the canary's answer through the same doors. The CLI and MCP over stdio run as the
machine's owner (every collection) unless --collections says otherwise."""
from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import openai
import pytest
from click.testing import CliRunner
from gradio_client import Client as GradioClient
from mcp import Client as McpClient
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from assistant.answer import NEAR_MISS, REFUSAL
from assistant.api import Assistant
from assistant.core.errors import KepolError
from assistant.core.rights import PUBLIC
from assistant.core.settings import Settings
from assistant.faces.cli import main
from assistant.faces.server import Running
from assistant.faces.tokens import TokenStore
from assistant.faces.users import UserStore
from tests.conftest import serving
from tests.test_collections import CANARY, CANARY_PHRASE, CANARY_QUESTIONS, INTERN, PUBLIC_DOCS, _write

SECRET_ANSWER = CANARY_QUESTIONS[1]  # "Mit wie viel Euro …": only the canary answers it
LEAKS = (CANARY_PHRASE, "Quelimane", "48.500", "vorlage", "Ratsvorlage", INTERN)
REFUSED = re.compile(f"{re.escape(NEAR_MISS)}|{re.escape(REFUSAL)}")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Assistant, dict[str, str]]]:
    root = tmp_path_factory.mktemp("doors")
    a = Assistant(Settings(data_dir=root / "data", corpus_dir=_write(root / "public", PUBLIC_DOCS),
                           rate_limit_per_minute=0))
    assert a.ingest().usable
    assert a.ingest([_write(root / "intern", CANARY)], collection=INTERN).usable
    store = TokenStore(a.settings.store.data_dir / "tokens.json")
    tokens = {"public": store.create("buerger"), "rat": store.create("rat", collections=[PUBLIC, INTERN])}
    yield a, tokens


@pytest.fixture(scope="module")
def server(library: tuple[Assistant, dict[str, str]]) -> Iterator[Running]:
    with serving(library[0]) as running:
        yield running


def _clean(where: str, r: httpx.Response) -> None:
    text = r.text + json.dumps(dict(r.headers))
    assert not [s for s in LEAKS if s in text], (where, [s for s in LEAKS if s in text], text[:500])


def _canary_id(a: Assistant) -> str:
    return next(r["doc_id"] for r in a.library() if r["collection"] == INTERN)


def test_rest_and_openai_doors_show_a_public_token_nothing_of_the_canary(server: Running, library,
                                                                       caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    a, tokens = library
    auth = {"Authorization": f"Bearer {tokens['public']}"}
    with httpx.Client(base_url=server.url, timeout=60, headers=auth) as c:
        for q in CANARY_QUESTIONS:
            r = c.post("/api/v1/ask", json={"question": q})
            assert r.status_code == 200 and r.json()["refused"], r.text
            _clean("ask " + q, r)
            _clean("ask stream", c.post("/api/v1/ask", json={"question": q, "stream": True}))
            _clean("retrieve", c.post("/api/v1/retrieve", json={"question": q, "k": 50}))
        # a follow-up whose history names the canary: the history is the caller's own text, retrieval still
        # reads only its collections
        r = c.post("/api/v1/ask", json={"question": "Und wie viel Geld gibt es dafür?", "history": CANARY_QUESTIONS})
        assert r.status_code == 200
        _clean("follow-up with the canary in its history", r)
        r = c.post("/api/v1/ask", json={"question": "Wie beginnt eine Städtepartnerschaft?"})
        assert "Ratsbeschluss" in r.json()["answer"]
        _clean("the public answer to what the canary answers better", r)
        docs = c.get("/api/v1/documents")
        assert {d["collection"] for d in docs.json()["documents"]} == {PUBLIC}
        _clean("documents", docs)
        _clean("models", c.get("/v1/models"))
        _clean("health", c.get("/api/v1/health"))
        path = a.source_file(_canary_id(a))
        assert path is not None
        for route in (f"/gradio_api/file={quote(str(path))}", f"/gradio_api/file={quote(str(path.parent))}/metadata.json"):
            r = c.get(route)
            assert r.status_code == 404, route
            _clean(route, r)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=tokens["public"])
    reply = client.chat.completions.create(model="kepol", messages=[{"role": "user", "content": SECRET_ANSWER}])
    assert not [s for s in LEAKS if s in reply.model_dump_json()]
    streamed = "".join(ch.model_dump_json() for ch in client.chat.completions.create(
        model="kepol", messages=[{"role": "user", "content": SECRET_ANSWER}], stream=True))
    assert streamed and not [s for s in LEAKS if s in streamed]
    for rec in caplog.records:
        if rec.name.split(".")[0] in ("httpx", "httpcore", "openai"):  # the client's side, in this process too
            continue
        line = rec.getMessage()
        for q in CANARY_QUESTIONS + [SECRET_ANSWER]:  # the caller's own words are not the canary's
            line = line.replace(q, "")
        assert not [s for s in LEAKS if s in line], (rec.name, line[:300])


def test_the_rat_token_reads_the_canary_through_the_same_doors(server: Running, library):
    a, tokens = library
    with httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {tokens['rat']}"}) as c:
        r = c.post("/api/v1/ask", json={"question": SECRET_ANSWER})
        assert not r.json()["refused"] and "48.500 Euro" in r.json()["answer"]
        assert INTERN in {d["collection"] for d in c.get("/api/v1/documents").json()["documents"]}
        path = a.source_file(_canary_id(a))
        assert c.get(f"/gradio_api/file={quote(str(path))}").status_code == 200
    reply = openai.OpenAI(base_url=server.url + "/v1", api_key=tokens["rat"]).chat.completions.create(
        model="kepol", messages=[{"role": "user", "content": SECRET_ANSWER}])
    assert "48.500 Euro" in (reply.choices[0].message.content or "")


def test_mcp_over_http_and_gradios_api_follow_the_token(server: Running, library):
    _, tokens = library

    async def mcp(token: str) -> str:
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with McpClient(streamable_http_client(f"{server.url}/mcp", http_client=client)) as c:
            out = [await c.call_tool("ask", {"question": SECRET_ANSWER}),
                   await c.call_tool("search_documents", {"query": CANARY_QUESTIONS[0], "k": 50}),
                   await c.call_tool("list_documents", {})]
            return json.dumps([o.model_dump(mode="json") for o in out], ensure_ascii=False)

    seen = asyncio.run(mcp(tokens["public"]))
    assert "Städtepartnerschaft" in seen and not [s for s in LEAKS if s in seen]
    assert "48.500 Euro" in asyncio.run(mcp(tokens["rat"]))

    public = GradioClient(server.url + "/", verbose=False, headers={"Authorization": f"Bearer {tokens['public']}"})
    out = json.dumps([public.predict(SECRET_ANSWER, [], api_name="/ask"), public.predict(api_name="/library")],
                     ensure_ascii=False)
    assert not [s for s in LEAKS if s in out], out[:500]
    rat = GradioClient(server.url + "/", verbose=False, headers={"Authorization": f"Bearer {tokens['rat']}"})
    assert "48.500 Euro" in rat.predict(SECRET_ANSWER, [], api_name="/ask")["answer"]


def test_the_cli_reads_every_collection_unless_told_otherwise(library, tmp_path: Path):
    a, _ = library
    env = {"KEPOL_DATA_DIR": str(a.settings.store.data_dir)}
    a.close()  # the CLI opens the same store
    everything = CliRunner().invoke(main, ["ask", "--json", SECRET_ANSWER], env=env)
    assert everything.exit_code == 0 and "48.500 Euro" in everything.output
    public = CliRunner().invoke(main, ["ask", "--json", "--collections", PUBLIC, SECRET_ANSWER], env=env)
    assert public.exit_code == 0 and not [s for s in LEAKS if s in public.output]
    listing = CliRunner().invoke(main, ["docs"], env=env)
    assert INTERN in listing.output and PUBLIC in listing.output
    bad = CliRunner().invoke(main, ["ask", "--collections", "rat intern", "Frage"], env=env)
    assert bad.exit_code != 0 and "collection name 'rat intern' is not allowed" in bad.output
    made = CliRunner().invoke(main, ["token", "create", "--name", "ag", "--collections", f"{PUBLIC},{INTERN}"], env=env)
    assert made.exit_code == 0 and f"liest: {INTERN}, {PUBLIC}" in made.output
    assert f"ag\tread\t{INTERN},{PUBLIC}" in CliRunner().invoke(main, ["token", "list"], env=env).output


def test_named_users_log_in_with_their_own_collections(server: Running, library):
    a, _ = library
    users = UserStore(a.settings.store.data_dir / "users.json")
    users.add("amt", "amt-passwort-123")
    users.add("ratsmitglied", "rat-passwort-456", [PUBLIC, INTERN], admin=True)
    stored = (a.settings.store.data_dir / "users.json").read_text(encoding="utf-8")
    assert "amt-passwort-123" not in stored and '"digest"' in stored  # only scrypt hashes are kept
    for private in ("users.json", "tokens.json"):  # readable by the owner only
        assert (a.settings.store.data_dir / private).stat().st_mode & 0o777 == 0o600
    with pytest.raises(Exception):  # a wrong password gets no session
        GradioClient(server.url + "/", verbose=False, auth=("amt", "falsch-falsch"))
    amt = GradioClient(server.url + "/", verbose=False, auth=("amt", "amt-passwort-123"))
    out = json.dumps([amt.predict(SECRET_ANSWER, [], api_name="/ask"), amt.predict(api_name="/library")],
                     ensure_ascii=False)
    assert not [s for s in LEAKS if s in out], out[:500]
    rat = GradioClient(server.url + "/", verbose=False, auth=("ratsmitglied", "rat-passwort-456"))
    assert "48.500 Euro" in rat.predict(SECRET_ANSWER, [], api_name="/ask")["answer"]
    with pytest.raises(KepolError, match="shorter than 10"):
        users.add("kurz", "kurz")
    assert users.remove("amt") and not users.remove("amt")


def test_a_public_user_in_the_browser_sees_nothing_of_the_canary(server: Running, library):
    from tests.test_browser import CHROMIUM

    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium")
    from playwright.sync_api import sync_playwright

    a, _ = library
    UserStore(a.settings.store.data_dir / "users.json").add("buergerbuero", "buergerbuero-passwort")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        seen: list[str] = []
        page.on("response", lambda r: seen.append(r.url))
        page.goto(server.url + "/", wait_until="domcontentloaded")
        page.get_by_label("Benutzer").fill("buergerbuero")
        page.get_by_label("Passwort").fill("buergerbuero-passwort")
        page.get_by_role("button", name="Anmelden").click()
        box = page.get_by_label("Ihre Frage")
        box.wait_for(timeout=30_000)
        box.fill(SECRET_ANSWER)
        box.press("Enter")
        # refused: plainly, or with the closest public passage ("Dazu steht in den Dokumenten nichts; …")
        page.get_by_text(REFUSED).first.wait_for(timeout=30_000)
        box.fill("Bis wann sind Anträge auf Fördermittel möglich?")  # then a public answer with its sources
        box.press("Enter")
        page.locator(".kepol-src").first.wait_for(timeout=30_000)  # the answer's Belegstellen: public ones
        page.get_by_role("tab", name="Dokumente").click()
        page.locator(".kepol-library").wait_for(timeout=30_000)
        page.get_by_role("tab", name="Verwaltung").click()
        text = page.content().replace(SECRET_ANSWER, "")  # the question is the user's own text
        browser.close()
    assert "Leitfaden Städtepartnerschaften" in text and REFUSED.search(text) and "30. September" in text
    assert not [s for s in LEAKS if s in text], [s for s in LEAKS if s in text]
    assert not [u for u in seen if "vorlage" in u]


def test_mcp_without_http_reads_what_kepol_mcp_was_started_with(library):
    """The stdio door's rule, through the SDK's in-process client (no HTTP request: `kepol mcp`):
    everything by default, only the named collections with --collections."""
    from assistant.core.rights import Rights
    from assistant.faces.mcp_door import build

    a, _ = library

    async def ask(server) -> str:
        async with McpClient(server) as c:
            out = [await c.call_tool("ask", {"question": SECRET_ANSWER}), await c.call_tool("list_documents", {})]
            return json.dumps([o.model_dump(mode="json") for o in out], ensure_ascii=False)

    public = asyncio.run(ask(build(a, local=Rights(frozenset({PUBLIC})))))
    assert "Leitfaden" in public and not [s for s in LEAKS if s in public.replace(SECRET_ANSWER, "")]
    assert "48.500 Euro" in asyncio.run(ask(build(a)))
    assert "--collections" in CliRunner().invoke(main, ["mcp", "--help"]).output
