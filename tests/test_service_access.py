"""Access to the service doors: tokens (none → open on loopback only; missing or revoked → 401; no
upload right → 403), the per-token rate limit (429 with Retry-After), bad input (a bilingual 4xx,
never a 500, also for generated bodies), the configured-LLM fallback, and the token commands."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client as McpClient
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.client.streamable_http import streamable_http_client

from assistant.api import Assistant
from assistant.core.errors import KepolError, redact
from assistant.core.settings import Settings
from assistant.faces.cli import main
from assistant.faces.server import Running, launch
from assistant.faces.tokens import TokenStore
from tests.conftest import free_port, serving, small_library

NOTE = ("# Partnerschaft Musterstadt\n\nDie Städtepartnerschaft zwischen Musterstadt und Tamale besteht seit 2019. "
        "Sie wird vom Eine-Welt-Beirat der Stadt begleitet.\n")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """A small library of its own: tokens, uploads and limits here never touch the shared index."""
    return small_library(tmp_path_factory.mktemp("service"), {"partnerschaft.md": NOTE})


@pytest.fixture(scope="module")
def server(small: Assistant) -> Iterator[Running]:
    with serving(small) as running:
        yield running


@pytest.fixture()
def http(server: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture()
def tokens(small: Assistant) -> Iterator[TokenStore]:
    store = TokenStore(small.settings.store.data_dir / "tokens.json")
    try:
        yield store
    finally:  # the doors are open again for the other tests
        for t in store.tokens():
            store.revoke(t.name)


def _error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()["error"]
    assert body["message_de"] and body["message_en"] and "Traceback" not in r.text
    return body


def test_tokens_gate_every_door_but_health(server: Running, http: httpx.Client, tokens: TokenStore):
    reader, uploader = tokens.create("reader"), tokens.create("uploader", upload=True)
    data = json.loads(tokens.path.read_text(encoding="utf-8"))
    assert reader not in json.dumps(data) and len(data["tokens"][0]["digest"]) == 64  # only the hash is stored
    ask = {"question": "Seit wann besteht die Städtepartnerschaft?"}
    assert http.get("/api/v1/health").status_code == 200
    for method, path, body in (("POST", "/api/v1/ask", ask), ("POST", "/api/v1/retrieve", ask),
                               ("GET", "/api/v1/documents", None), ("GET", "/v1/models", None)):
        r = http.request(method, path, json=body)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
        assert _error(r)["code"] == "unauthorized"
        bad = http.request(method, path, json=body, headers={"Authorization": "Bearer kepol_wrong"})
        assert bad.status_code == 401
        ok = http.request(method, path, json=body, headers={"Authorization": f"Bearer {reader}"})
        assert ok.status_code == 200, (path, ok.text)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="kepol_wrong", max_retries=0).models.list()
    assert openai.OpenAI(base_url=f"{server.url}/v1", api_key=reader, max_retries=0).models.list().data
    assert http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status_code == 401

    async def mcp_tools(token: str) -> list[str]:
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with McpClient(streamable_http_client(f"{server.url}/mcp", http_client=client)) as c:
            return [t.name for t in (await c.list_tools()).tools]

    assert "ask" in asyncio.run(mcp_tools(reader))

    files = {"file": ("notiz.md", NOTE.replace("Tamale", "Kumasi").encode(), "text/markdown")}
    r = http.post("/api/v1/documents", files=files, headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and _error(r)["code"] == "forbidden"
    r = http.post("/api/v1/documents", files=files, headers={"Authorization": f"Bearer {uploader}"})
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "ingested", r.text
    r = http.post("/api/v1/documents", files={"file": ("tool.exe", b"MZ\x90", "application/octet-stream")},
                  headers={"Authorization": f"Bearer {uploader}"})
    assert r.status_code == 415 and ".exe" in _error(r)["message_en"]

    assert tokens.revoke("reader") and not tokens.revoke("reader")
    r = http.get("/api/v1/documents", headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 401  # a revoked token stops working at once, without a restart
    assert uploader not in redact(f"Authorization: Bearer {uploader}")
    assert "kepol_***" in redact("kepol_" + "x" * 40)  # also a token this process did not create


def test_rate_limit_per_token_answers_429_with_retry_after(small: Assistant, tmp_path: Path):
    limited = Assistant(small.settings.replace(rate_limit_per_minute=2))
    with serving(limited) as running, httpx.Client(base_url=running.url, timeout=60) as c:
        codes = [c.get("/api/v1/documents").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.get("/api/v1/documents")
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60 and _error(r)["code"] == "rate_limited"
        assert c.get("/api/v1/health").status_code == 200  # health is never limited


BAD_BODIES: list[tuple[str, str, bytes | None, int]] = [
    ("/api/v1/ask", "malformed_json", b'{"question": "Was', 400),
    ("/api/v1/ask", "invalid_field", b'{"question": 42}', 422),
    ("/api/v1/ask", "unknown_field", b'{"question": "x", "frage": "y"}', 422),
    ("/api/v1/ask", "missing_field", b'{}', 422),
    ("/api/v1/ask", "empty_question", b'{"question": "   "}', 422),
    ("/api/v1/ask", "too_long", json.dumps({"question": "Was " * 1000}).encode(), 422),
    ("/api/v1/ask", "invalid_field", b'{"question": "x", "history": "nur ein Text"}', 422),
    ("/api/v1/ask", "invalid_field", b'{"question": "x", "history": [{"role": "user"}]}', 422),
    ("/api/v1/retrieve", "invalid_field", b'{"question": "x", "k": 0}', 422),
    ("/api/v1/ask", "body_too_large", json.dumps({"question": "x" * 1_200_000}).encode(), 413),
    ("/v1/chat/completions", "model_not_found", b'{"model": "gpt-5", "messages": [{"role": "user", "content": "x"}]}',
     404),
    ("/v1/chat/completions", "bad_history", b'{"model": "kepol", "messages": [{"role": "assistant", "content": "x"}]}',
     422),
    ("/v1/chat/completions", "invalid_field", b'{"model": "kepol", "messages": "Hallo"}', 422),
    ("/v1/chat/completions", "unknown_field",
     b'{"model": "kepol", "messages": [{"role": "user", "content": "x"}], "frage": 1}', 422),
    ("/api/v1/nowhere", "not_found", b'{}', 404),
]


@pytest.mark.parametrize("path,code,body,status", BAD_BODIES, ids=[f"{p}:{c}" for p, c, _, _ in BAD_BODIES])
def test_bad_input_is_a_bilingual_4xx_naming_the_problem(http: httpx.Client, path: str, code: str, body: bytes,
                                                        status: int):
    r = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert _error(r)["code"] == code


ROUTES = ["/api/v1/ask", "/api/v1/retrieve", "/v1/chat/completions", "/api/v1/documents", "/mcp"]
json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                       max_size=4), max_leaves=12)
shaped = st.fixed_dictionaries({}, optional={"question": json_value, "history": json_value, "filters": json_value,
                                             "k": json_value, "model": st.sampled_from(["kepol", "x", ""]) | json_value,
                                             "messages": json_value, "stream": json_value, "jsonrpc": json_value,
                                             "method": json_value})
bodies = st.one_of(shaped.map(lambda d: json.dumps(d).encode()), json_value.map(lambda v: json.dumps(v).encode()),
                   st.binary(max_size=300))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(ROUTES), body=bodies, content_type=st.sampled_from(
    ["application/json", "text/plain", "multipart/form-data; boundary=x", ""]))
def test_fuzzed_bodies_never_get_a_500(http: httpx.Client, path: str, body: bytes, content_type: str):
    headers = {"Content-Type": content_type} if content_type else {}
    if path == "/mcp":
        headers["Accept"] = "application/json, text/event-stream"
    r = http.post(path, content=body, headers=headers)
    assert r.status_code < 500, (path, body[:200], r.status_code, r.text[:300])
    assert "Traceback" not in r.text


def test_failing_llm_falls_back_and_the_response_says_so(small: Assistant):
    s = Settings(data_dir=small.settings.store.data_dir, corpus_dir=small.settings.store.corpus_dir,
                 llm_backend="openai", llm_model="x", llm_base_url=f"http://127.0.0.1:{free_port()}/v1",
                 llm_timeout=2.0, rate_limit_per_minute=0)
    with serving(Assistant(s)) as running:
        q = "Seit wann besteht die Städtepartnerschaft?"
        with httpx.Client(base_url=running.url, timeout=60) as c:
            body = c.post("/api/v1/ask", json={"question": q}).json()
        assert body["mode"] == "extractive" and body["citations"] and "nicht verfügbar" in body["notice"]
        chat = openai.OpenAI(base_url=f"{running.url}/v1", api_key="x", max_retries=0).chat.completions.create(
            model="kepol", messages=[{"role": "user", "content": q}])
        assert "Hinweis:" in (chat.choices[0].message.content or "") and "2019" in (chat.choices[0].message.content or "")


def test_exposed_without_a_token_refuses_to_start(small: Assistant):
    exposed = Assistant(Settings(data_dir=small.settings.store.data_dir, admin_password="geheim"))
    with pytest.raises(KepolError) as err:
        launch(exposed, "0.0.0.0", free_port(), block=False)
    assert "kepol token create" in str(err.value)


def test_token_commands(small: Assistant, tokens: TokenStore):
    env = {"KEPOL_DATA_DIR": str(small.settings.store.data_dir)}
    made = CliRunner().invoke(main, ["token", "create", "--name", "open-webui", "--upload"], env=env)
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[0]
    assert secret.startswith("kepol_") and tokens.check(secret) is not None and tokens.check(secret).upload
    listed = CliRunner().invoke(main, ["token", "list"], env=env)
    assert "open-webui" in listed.output and secret not in listed.output
    again = CliRunner().invoke(main, ["token", "create", "--name", "open-webui"], env=env)
    assert again.exit_code != 0 and "exists already" in again.output
    assert CliRunner().invoke(main, ["token", "revoke", "open-webui"], env=env).exit_code == 0
    assert tokens.check(secret) is None
    gone = CliRunner().invoke(main, ["token", "revoke", "open-webui"], env=env)
    assert gone.exit_code != 0 and "no active token" in gone.output


def test_a_file_that_cannot_be_read_is_a_422_with_the_reason_in_both_languages(http: httpx.Client, tokens: TokenStore):
    uploader = tokens.create("uploader", upload=True)
    auth = {"Authorization": f"Bearer {uploader}"}
    for name, data, de in (("leer.md", b"", "leer"), ("kaputt.pdf", b"%PDF-1.7\n1 0 obj <<", "beschädigt")):
        r = http.post("/api/v1/documents", files={"file": (name, data, "application/octet-stream")}, headers=auth)
        assert r.status_code == 422, r.text
        error = _error(r)
        assert error["code"] == "file_skipped" and de in error["message_de"] and name in error["message_en"]
        result = r.json()["results"][0]
        assert result["status"] == "skipped" and de in result["reason_de"] and result["reason_en"] == result["reason"]
