"""No outbound network at run time: ingest, ask and serve run in processes whose sockets may only
reach loopback; every other attempt (DNS lookups included) is refused and written to a log."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

from assistant.core.settings import BUNDLED_CORPUS
from assistant.api import Assistant
from tests.conftest import free_port, seed_embeddings

GUARD = textwrap.dedent('''
    import os, socket
    _LOG = os.environ["KEPOL_NET_LOG"]
    _LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"}

    def _blocked(what):
        with open(_LOG, "a", encoding="utf-8") as f:
            f.write(repr(what) + "\\n")
        raise OSError(101, "outbound network blocked by the test: " + repr(what))

    def _host(address):
        return address[0] if isinstance(address, tuple) else address

    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and _host(address) not in _LOOPBACK:
            _blocked(address)
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and _host(address) not in _LOOPBACK:
            _blocked(address)
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in _LOOPBACK and host is not None:
            _blocked(("dns", host))
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
''')


def _env(tmp_path: Path) -> dict[str, str]:
    guard = tmp_path / "guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEPOL_", "GRADIO_", "ANONYMIZED_"))}
    # no telemetry switches from the test's environment: the product must be quiet on its own
    env.update({"PYTHONPATH": f"{guard}{os.pathsep}{root}", "KEPOL_NET_LOG": str(tmp_path / "net.log"),
                "KEPOL_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "0",
                # the graph every test shares (built from the bundled weights; building it makes no connection)
                "KEPOL_GRAPH_DIR": os.environ["KEPOL_GRAPH_DIR"]})
    return env


def _kepol(*args: str) -> list[str]:
    return [sys.executable, "-m", "assistant.faces.cli", *args]


def test_ingest_ask_and_serve_make_no_outbound_connection(corpus_assistant: Assistant, tmp_path: Path):
    env = _env(tmp_path)
    seed_embeddings(corpus_assistant, tmp_path / "data")  # ingest runs every stage; the vectors come cached
    log = tmp_path / "net.log"
    check = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('93.184.216.34', 80), 2)"],
                           env=env, capture_output=True, text=True)
    assert check.returncode != 0 and "blocked by the test" in check.stderr  # the guard is active
    log.unlink()

    ingest = subprocess.run(_kepol("ingest", "--quiet", str(BUNDLED_CORPUS)), env=env, capture_output=True,
                            text=True, timeout=600)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    ask = subprocess.run(_kepol("ask", "--json", "Was ist das Leitmotto des AKEZ?"), env=env, capture_output=True,
                         text=True, timeout=300)
    assert ask.returncode == 0, ask.stderr[-2000:]
    assert json.loads(ask.stdout)["citations"]

    port = free_port()
    serve = subprocess.Popen(_kepol("serve", "--no-ingest", "--port", str(port)), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                page = urllib.request.urlopen(base + "/", timeout=5).read().decode()
                break
            except OSError:
                assert serve.poll() is None, serve.stderr.read().decode(errors="replace")[-2000:]
                assert time.monotonic() < deadline, "kepol serve did not come up"
                time.sleep(0.2)
        req = urllib.request.Request(base + "/gradio_api/call/ask", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"data": ["Was ist das Leitmotto des AKEZ?", []]}).encode())
        event = json.loads(urllib.request.urlopen(req, timeout=30).read())["event_id"]
        body = urllib.request.urlopen(f"{base}/gradio_api/call/ask/{event}", timeout=60).read().decode()
        assert "event: complete" in body and "rgre-akez-leitbild" in body
        assert "fonts.googleapis.com" not in page  # browsers must not be sent elsewhere either
        mcp = urllib.request.Request(base + "/mcp", data=json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode(), headers={
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
        assert "search_documents" in urllib.request.urlopen(mcp, timeout=30).read().decode()
        boundary = "kepolboundary"
        upload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notiz.md\"\r\n"
                  "Content-Type: text/markdown\r\n\r\n# Notiz\n\nNordheim pflegt eine Partnerschaft mit Tamale.\n"
                  f"\r\n--{boundary}--\r\n").encode()
        req = urllib.request.Request(base + "/api/v1/documents", data=upload,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert json.loads(urllib.request.urlopen(req, timeout=120).read())["results"][0]["status"] == "ingested"
    finally:
        serve.terminate()
        serve.wait(timeout=20)
    said = serve.stderr.read().decode(errors="replace") if serve.stderr else ""
    # IT sees where it listens and on what terms; libraries' chatter stays below WARNING
    assert f"KEPol-Assistent läuft: http://127.0.0.1:{port}" in said and "/mcp" in said and "ohne API-Token" in said
    for chatter in ("Terminating session", "Building index from", "INFO", "DEBUG"):
        assert chatter not in said, (chatter, said[-2000:])
    attempts = log.read_text(encoding="utf-8") if log.exists() else ""
    assert attempts == "", f"outbound attempts: {attempts}"
