"""The same code against a real Chroma server (`chroma run` from the chromadb package) on 127.0.0.1:
ingest as a batch job, answer from a second worker, token auth through a real HTTP proxy."""
from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from assistant.api import Assistant
from assistant.core.errors import StoreUnavailableError
from assistant.core.settings import Settings
from tests.conftest import free_port
from tests.fake_llm import QuietHTTPServer

CHROMA = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))


def _start_server(path: Path, port: int) -> subprocess.Popen:
    """A real `chroma run` on 127.0.0.1 storing in `path`, once it answers its heartbeat."""
    path.mkdir(parents=True, exist_ok=True)
    log = path.with_name(path.name + ".log")
    with log.open("wb") as out:
        proc = subprocess.Popen([CHROMA, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/api/v2/heartbeat")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("chroma run did not start: " + log.read_text(errors="replace")[-2000:])
        time.sleep(0.2)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real Chroma server process with its own data directory; yields its port."""
    port = free_port()
    proc = _start_server(tmp_path_factory.mktemp("chroma-server") / "db", port)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def _server_settings(data: Path, port: int, **kw: object) -> Settings:
    return Settings(data_dir=data, chroma_host="127.0.0.1", chroma_port=port, chunk_tokens=120,
                    chunk_overlap_tokens=20, **kw)


def test_ingest_job_and_second_worker_share_one_server(chroma_server: int, tmp_path: Path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "beirat.txt").write_text("Der Klimabeirat der Stadt Nordheim tagt viermal im Jahr und berät den Rat "
                                       "zur Energiewende.", encoding="utf-8")
    (folder / "laden.txt").write_text("Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden mit Mietzuschüssen.",
                                      encoding="utf-8")
    shared = tmp_path / "shared"  # manifest, keyword index, texts: the volume every worker mounts
    job = Assistant(_server_settings(shared, chroma_server))
    report = job.ingest([folder])
    assert len(report.by_status("ingested")) == 2, report.summary()
    assert not (shared / "chroma").exists()  # the vectors live on the server, not in the data dir

    import chromadb
    from chromadb.config import Settings as ChromaSettings

    direct = chromadb.HttpClient(host="127.0.0.1", port=chroma_server,
                                 settings=ChromaSettings(anonymized_telemetry=False))
    name = f"kepol-{job.settings.index_fingerprint()}"
    assert direct.get_collection(name).count() == job.index.current().count() == 2

    own = tmp_path / "worker-1" / "feedback.sqlite3"  # SQLite stays off the shared volume
    worker = Assistant(_server_settings(shared, chroma_server, feedback_path=own))
    answer = worker.ask("Wie oft tagt der Klimabeirat in Nordheim?")
    assert not answer.refused and "viermal im Jahr" in answer.answer
    assert answer.citations and answer.citations[0].doc_id == "beirat"
    worker.record_feedback(answer, 1, "passt")
    assert own.exists() and not (shared / "feedback.sqlite3").exists()

    # the job ingests a change; the running worker answers from it without a restart
    (folder / "beirat.txt").write_text("Der Klimabeirat der Stadt Nordheim tagt jetzt monatlich und berät den Rat "
                                       "zur Wärmeplanung.", encoding="utf-8")
    time.sleep(0.01)  # a distinct manifest mtime on coarse clocks
    assert len(job.ingest([folder]).by_status("ingested")) == 1
    answer = worker.ask("Wie oft tagt der Klimabeirat in Nordheim?")
    assert "monatlich" in answer.answer and "viermal" not in answer.answer
    assert direct.get_collection(name).count() == 2  # the old version's chunk was collected on the server
    job.close()
    worker.close()


def test_unreachable_server_is_a_clear_error(tmp_path: Path):
    port = free_port()  # nothing listens here
    with pytest.raises(StoreUnavailableError) as err:
        Assistant(_server_settings(tmp_path / "data", port)).index.current().count()
    assert f"http://127.0.0.1:{port}" in str(err.value) and "KEPOL_CHROMA_HOST" in str(err.value)


class _TokenProxy(BaseHTTPRequestHandler):
    """A reverse proxy that, like a real gateway in front of Chroma, wants `Authorization: Bearer …`."""

    upstream = 0
    token = "s3cret-token"
    seen: list[str] = []

    def _forward(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.seen.append(auth)
        if auth != f"Bearer {self.token}":
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            # like careless gateways, echo what was sent: the client must not show it to anyone
            body = json.dumps({"error": "Unauthorized", "message": f"wrong token: {auth}"}).encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        c = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
        c.request(self.command, self.path, body=body or None, headers=headers)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, *args: object) -> None:
        pass


def test_token_is_sent_and_a_refusal_is_explained(chroma_server: int, tmp_path: Path):
    _TokenProxy.upstream = chroma_server
    _TokenProxy.seen = []
    proxy = QuietHTTPServer(("127.0.0.1", 0), _TokenProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    port = proxy.server_address[1]
    try:
        folder = tmp_path / "corpus"
        folder.mkdir()
        (folder / "laden.txt").write_text("Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden mit Mietzuschüssen.",
                                          encoding="utf-8")
        with pytest.raises(StoreUnavailableError) as err:
            Assistant(_server_settings(tmp_path / "a", port)).index.current().count()
        assert f"http://127.0.0.1:{port}" in str(err.value)
        assert _TokenProxy.seen and not any(_TokenProxy.seen)  # no token configured, none sent
        with pytest.raises(StoreUnavailableError) as err:
            Assistant(_server_settings(tmp_path / "w", port, chroma_token="wrong-token-4711")).index.current().count()
        assert "wrong-token-4711" not in str(err.value)
        _TokenProxy.seen.clear()
        a = Assistant(_server_settings(tmp_path / "b", port, chroma_token=_TokenProxy.token))
        assert a.ingest([folder]).usable
        assert "Eine-Welt-Läden" in a.ask("Wen unterstützt Osterfeld mit Mietzuschüssen?").answer
        assert _TokenProxy.seen and all(s == f"Bearer {_TokenProxy.token}" for s in _TokenProxy.seen)
        assert _TokenProxy.token not in repr(a.settings)  # the token never shows in logs or reprs
        a.close()
    finally:
        proxy.shutdown()



def test_server_restart_mid_session_is_a_message_then_answers_again(tmp_path: Path):
    port = free_port()
    server = _start_server(tmp_path / "db", port)
    try:
        folder = tmp_path / "corpus"
        folder.mkdir()
        (folder / "laden.txt").write_text("Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden mit Mietzuschüssen.",
                                          encoding="utf-8")
        a = Assistant(_server_settings(tmp_path / "shared", port))
        a.ingest([folder])
        q = "Wen unterstützt Osterfeld mit Mietzuschüssen?"
        assert "Eine-Welt-Läden" in a.ask(q).answer
        server.terminate()
        server.wait(timeout=10)
        with pytest.raises(StoreUnavailableError) as err:  # down: a clear message, the process lives on
            a.ask("Was fördert die Gemeinde Osterfeld?")  # a new question (a repeated one is answered from memory)
        assert f"http://127.0.0.1:{port}" in str(err.value) and "retries" in str(err.value)
        server = _start_server(tmp_path / "db", port)  # back (same data): the next question just works
        assert "Eine-Welt-Läden" in a.ask(q).answer
        a.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_collections_filter_at_the_bottom_with_a_chroma_server_too(chroma_server: int, tmp_path: Path):
    from assistant.core.rights import PUBLIC, Rights
    from tests.test_collections import CANARY, CANARY_QUESTIONS, INTERN, PUBLIC_DOCS, _write

    a = Assistant(_server_settings(tmp_path / "data", chroma_server, corpus_dir=_write(tmp_path / "pub", PUBLIC_DOCS)))
    assert a.ingest().usable and a.ingest([_write(tmp_path / "intern", CANARY)], collection=INTERN).usable
    public = Rights(frozenset({PUBLIC}))
    for q in CANARY_QUESTIONS:
        answer = a.ask(q, rights=public)
        assert answer.refused and "48.500" not in answer.answer and not any(
            c.doc_id == "vorlage" for c in answer.citations)
        assert all(p.doc_id != "vorlage" for p in a.retrieve(q, k=20, rights=public))
    assert "48.500 Euro" in a.ask(CANARY_QUESTIONS[1]).answer
