"""Every example of the README's "Anbinden" section, run as written against a live server: the token
commands, curl, the Python `openai` client, the requests Open WebUI makes with its connection
settings, and the MCP client configurations for stdio and HTTP. Only the placeholders (token, paths,
port) are filled in."""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp import Client as McpClient
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from assistant.api import Assistant
from assistant.core.settings import BUNDLED_CORPUS, Settings
from assistant.faces.server import Running
from assistant.faces.tokens import TokenStore
from tests.conftest import serving

ROOT = Path(__file__).resolve().parents[1]
KEPOL = Path(sys.executable).parent / "kepol"  # the console script of this installation


def examples() -> dict[str, str]:
    """The code blocks of the README, by the name in the `<!-- example: NAME -->` line before them."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"<!-- example: ([\w-]+) -->\n```\w*\n(.*?)```", text, re.S)}


@pytest.fixture(scope="module")
def live(corpus_assistant: Assistant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    """A server over a copy of the corpus index (the upload example adds a document to it)."""
    data = tmp_path_factory.mktemp("readme") / "data"
    shutil.copytree(corpus_assistant.settings.store.data_dir, data)
    a = Assistant(Settings(data_dir=data, corpus_dir=BUNDLED_CORPUS, rate_limit_per_minute=0))
    with serving(a) as running:
        yield running, data


def _fill(text: str, running: Running, token: str) -> str:
    return text.replace("http://127.0.0.1:7860", running.url).replace("kepol_…", token)


def test_the_section_has_every_example():
    assert {"token", "curl", "openai", "open-webui", "mcp-stdio", "mcp-http"} <= set(examples())


def test_token_commands_as_written(live: tuple[Running, Path]):
    _, data = live
    env = {"KEPOL_DATA_DIR": str(data), "PATH": str(KEPOL.parent)}
    outputs = []
    for line in examples()["token"].strip().splitlines():
        command = line.split("#")[0].strip().replace(".venv/bin/kepol", str(KEPOL))
        done = subprocess.run(command, shell=True, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, (command, done.stderr)
        outputs.append(done.stdout)
    assert outputs[0].startswith("kepol_") and "open-webui" in outputs[1] and outputs[0].strip() not in outputs[1]
    assert not TokenStore(data / "tokens.json").any_active()  # the last command revoked it


@pytest.fixture()
def token(live: tuple[Running, Path]) -> Iterator[str]:
    store = TokenStore(live[1] / "tokens.json")
    secret = store.create("readme", upload=True)
    try:
        yield secret
    finally:
        store.revoke("readme")


def test_curl_examples(live: tuple[Running, Path], token: str, tmp_path: Path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    running, _ = live
    (tmp_path / "Ratsbeschluss.md").write_text(
        "# Ratsbeschluss\n\nDer Rat beschließt eine Klimapartnerschaft mit der Stadt Tamale in Ghana.\n", encoding="utf-8")
    script = _fill(examples()["curl"], running, token)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    first = json.loads(out[:out.index("}{") + 1] if "}{" in out else out.splitlines()[0])
    assert first["citations"] and not first["refused"] and "[1]" in first["answer"]
    assert '"passages"' in out and "event: delta" in out and "event: final" in out
    assert '"status":"ingested"' in out.replace(" ", "")


def test_openai_python_example(live: tuple[Running, Path], token: str, monkeypatch: pytest.MonkeyPatch):
    running, _ = live
    monkeypatch.setenv("KEPOL_TOKEN", token)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_fill(examples()["openai"], running, token), "README:openai", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert "[1]" in lines[0] and "Quellen:" in printed.getvalue()
    assert re.match(r"1 .+ \d+ .+", [ln for ln in lines if ln.startswith("1 ")][0])


def test_open_webui_connection_settings(live: tuple[Running, Path], token: str):
    """What Open WebUI does with OPENAI_API_BASE_URL / OPENAI_API_KEY: list the models, then stream."""
    running, _ = live
    conf = dict(line.split("=", 1) for line in _fill(examples()["open-webui"], running, token).split())
    base, key = conf["OPENAI_API_BASE_URL"], conf["OPENAI_API_KEY"]
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
        models = [m["id"] for m in c.get(f"{base}/models").json()["data"]]
        assert "kepol" in models and "kepol:Positionspapier" in models
        body = {"model": "kepol:Positionspapier", "stream": True, "stream_options": {"include_usage": True},
                "messages": [{"role": "system", "content": "Du bist ein hilfreicher Assistent."},
                             {"role": "user", "content": "Was fordert der Deutsche Städtetag zur Städtediplomatie?"}]}
        with c.stream("POST", f"{base}/chat/completions", json=body) as r:
            assert r.status_code == 200
            chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    text = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in chunks)
    assert "[1]" in text and "Quellen:" in text and chunks[-1]["citations"]


async def _tools_and_answer(transport: object) -> tuple[set[str], dict]:
    async with McpClient(transport) as c:  # type: ignore[arg-type]
        names = {t.name for t in (await c.list_tools()).tools}
        result = await c.call_tool("ask", {"question": "Was ist das Leitmotto des AKEZ?"})
        return names, result.structured_content or {}


def test_mcp_stdio_configuration(live: tuple[Running, Path]):
    _, data = live
    text = examples()["mcp-stdio"].replace("/path/to/kepol-assistent/.venv/bin/kepol", str(KEPOL))
    server = json.loads(text.replace("/path/to/data", str(data)))["mcpServers"]["kepol"]
    params = StdioServerParameters(command=server["command"], args=server["args"], env=server["env"])
    names, answer = asyncio.run(_tools_and_answer(params))
    assert names == {"search_documents", "ask", "list_documents"}  # --read-only
    assert answer["citations"][0]["doc_id"] == "rgre-akez-leitbild"


def test_mcp_http_configuration(live: tuple[Running, Path], token: str):
    running, _ = live
    server = json.loads(_fill(examples()["mcp-http"], running, token))["mcpServers"]["kepol"]
    assert server["type"] == "http"
    client = create_mcp_http_client(headers=server["headers"])
    names, answer = asyncio.run(_tools_and_answer(streamable_http_client(server["url"], http_client=client)))
    assert "ask" in names and answer["citations"][0]["doc_id"] == "rgre-akez-leitbild"
