"""Managing documents: delete (everything of a document goes, also when the process is killed halfway,
and a deleted original does not come back with its folder), metadata edits (re-embedding only when the
embedded text changes), replacing a document, and the audit log of who did what."""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from click.testing import CliRunner

from assistant.api import Assistant
from assistant.core.settings import Settings
from assistant.faces.cli import main
from assistant.manage import DocumentNotFound, EditError
from assistant.core.rights import PUBLIC, Rights
from assistant.faces.tokens import TokenStore
from tests.conftest import serving

TEXTS = {
    "beirat.txt": "Der Klimabeirat der Stadt Nordheim tagt viermal im Jahr und berät den Rat zur Energiewende.",
    "laden.txt": "Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden mit Mietzuschüssen von 200 Euro im Monat.",
}


def _library(root: Path) -> Assistant:
    folder = root / "corpus"
    folder.mkdir(parents=True)
    for name, text in TEXTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    a = Assistant(Settings(data_dir=root / "data", corpus_dir=folder, rate_limit_per_minute=0))
    assert a.ingest().usable
    return a


def _cache_rows(a: Assistant) -> int:
    with sqlite3.connect(a.settings.store.data_dir / "embedding-cache.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])


def _state(a: Assistant) -> tuple[set[str], int, int]:
    v = a.index.current()
    return set(v.manifest.documents), a.index.chroma.count(), len(v.keywords)


def test_delete_removes_everything_of_one_document_and_keeps_the_rest(tmp_path: Path):
    a = _library(tmp_path)
    upload = tmp_path / "notiz.md"
    upload.write_text("# Notiz\n\nNordheim pflegt eine Partnerschaft mit Tamale seit 2011.\n", encoding="utf-8")
    stored = a.settings.store.data_dir / "uploads" / PUBLIC / "notiz.md"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(upload.read_bytes())
    a.ingest([stored], who="token:redaktion")
    rows_before = _cache_rows(a)
    assert not a.ask("Seit wann besteht die Partnerschaft mit Tamale?").refused
    with pytest.raises(DocumentNotFound):  # a caller who may not read it cannot delete it either
        a.delete_document("notiz", Rights(frozenset({"rat-intern"})))
    a.delete_document("notiz", who="user:admin")
    docs, chunks, keyword_chunks = _state(a)
    assert docs == {"beirat", "laden"} and chunks == keyword_chunks == a.index.current().count()
    assert not stored.exists() and _cache_rows(a) < rows_before  # the stored upload and its vectors went too
    assert a.ask("Seit wann besteht die Partnerschaft mit Tamale?").refused
    assert not a.ask("Wie oft tagt der Klimabeirat in Nordheim?").refused
    # a document from a corpus folder stays on disk, is marked deleted and does not come back with its folder
    a.delete_document("beirat", who="user:admin")
    again = a.ingest()
    assert (a.settings.store.corpus_dir / "beirat.txt").exists() and _state(a)[0] == {"laden"}
    skipped = again.by_status("skipped")
    assert len(skipped) == 1 and "deleted from the library by an administrator (user:admin" in skipped[0].reason
    log = a.audit.entries()
    assert [(e["action"], e["who"], e["doc_id"]) for e in log] == [
        ("upload", "token:redaktion", "notiz"), ("delete", "user:admin", "notiz"), ("delete", "user:admin", "beirat")]
    assert a.purge(0)["audit"] == 3 and a.audit.entries() == []  # the retention rules apply to it


CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from assistant.api import Assistant
    from assistant.core.settings import Settings
    import assistant.storage.writer as writer_module
    from assistant.storage import IndexWriter, removals

    point, root = sys.argv[1], Path(sys.argv[2])
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if point == "before-commit":
        original_write = writer_module.atomic_write
        def write(path, text):
            if path.name == "manifest.json":
                die()
            original_write(path, text)
        writer_module.atomic_write = write
    else:  # after the commit, before anything outside the index is removed
        removals.finish = die
    a = Assistant(Settings(data_dir=root / "data", corpus_dir=root / "corpus"))
    a.delete_document("notiz")
    print("not killed")
""")


@pytest.mark.parametrize("point", ["before-commit", "after-commit"])
def test_a_delete_killed_halfway_leaves_the_document_fully_there_or_fully_gone(tmp_path: Path, point: str):
    a = _library(tmp_path)
    stored = a.settings.store.data_dir / "uploads" / PUBLIC / "notiz.md"
    stored.parent.mkdir(parents=True)
    stored.write_text("# Notiz\n\nNordheim pflegt eine Partnerschaft mit Tamale seit 2011.\n", encoding="utf-8")
    a.ingest([stored])
    before = (_state(a), _cache_rows(a))
    a.close()
    root = Path(__file__).resolve().parent.parent
    child = subprocess.run([sys.executable, "-c", CHILD, point, str(tmp_path)], cwd=root, capture_output=True,
                           text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(root)})
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    after = Assistant(Settings(data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus"))
    if point == "before-commit":  # fully there, and answering
        assert (_state(after), _cache_rows(after)) == before and stored.exists()
        assert not after.ask("Seit wann besteht die Partnerschaft mit Tamale?").refused
        after.ingest()  # the next commit's clean-up drops the journal of the delete that never happened
        assert stored.exists() and "notiz" in _state(after)[0]
    else:  # gone from the index at once; what lies outside it goes with the next clean-up
        assert "notiz" not in _state(after)[0] and after.ask("Seit wann besteht die Partnerschaft mit Tamale?").refused
        after.ingest([tmp_path / "corpus" / "laden.txt"])
        assert not stored.exists() and _cache_rows(after) < before[1]
    assert _state(after)[0] >= {"beirat", "laden"}  # the other documents are untouched
    assert not after.ask("Wie oft tagt der Klimabeirat in Nordheim?").refused


def test_edits_reembed_only_what_the_embedded_text_holds(tmp_path: Path):
    a = _library(tmp_path)
    kind = a.edit_document("laden", {"kind": "service brochure", "year": 2024}, who="user:admin")
    assert not kind.reembedded and kind.record.kind == "service brochure" and kind.record.year == 2024
    assert a.retrieve("Eine-Welt-Läden Osterfeld", k=1)[0].kind == "service brochure"
    title = a.edit_document("laden", {"title": "Förderrichtlinie Eine-Welt-Läden"}, who="user:admin")
    assert title.reembedded and a.retrieve("Mietzuschüsse Läden", k=1)[0].title == "Förderrichtlinie Eine-Welt-Läden"
    moved = a.edit_document("laden", {"collection": "rat-intern"}, who="user:admin")
    assert moved.record.collection == "rat-intern" and not moved.reembedded
    public = Rights(frozenset({PUBLIC}))
    assert a.ask("Wie hoch sind die Mietzuschüsse für Eine-Welt-Läden?", rights=public).refused
    assert not a.ask("Wie hoch sind die Mietzuschüsse für Eine-Welt-Läden?").refused
    a.ingest()  # the edits hold when the folder is ingested again
    assert a.index.current().manifest.record("laden").collection == "rat-intern"
    for bad, needle in (({"pages": 3}, "cannot be edited: pages"), ({"kind": "flyer"}, "unknown kind 'flyer'"),
                        ({"year": "neunzehn"}, "year must be a year"), ({"collection": "rat intern"}, "not allowed"),
                        ({"title": " "}, "title must not be empty")):
        with pytest.raises(EditError, match=needle) as e:
            a.edit_document("laden", bad)
        assert e.value.de
    assert [e["action"] for e in a.audit.entries()] == ["edit", "edit", "edit"]
    assert a.audit.entries()[0]["detail"]["before"] == {"kind": "unknown", "year": None}


def test_a_replacement_becomes_the_current_version(tmp_path: Path):
    a = _library(tmp_path)
    new = tmp_path / "beirat-2025.txt"
    new.write_text("Der Klimabeirat der Stadt Nordheim tagt seit 2025 monatlich und berät den Rat zur Wärmeplanung.",
                   encoding="utf-8")
    report = a.replace_document("beirat", new, who="user:admin")
    assert [r.status for r in report.results] == ["ingested"]
    answer = a.ask("Wie oft tagt der Klimabeirat in Nordheim?")
    assert "monatlich" in answer.answer and "viermal" not in answer.answer  # the old version is superseded
    assert "viermal" in " ".join(p.text for p in a.retrieve("Klimabeirat Nordheim", k=5, include_superseded=True))
    second = tmp_path / "laden-neu.txt"
    second.write_text("Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden ab 2025 mit 300 Euro im Monat.",
                      encoding="utf-8")
    a.replace_document("laden", second, who="user:admin", remove_old=True)
    assert "laden" not in a.index.current().manifest.documents
    assert [e["action"] for e in a.audit.entries()] == ["replace", "delete", "replace"]


def test_the_docs_commands_delete_edit_and_show_the_audit_log(tmp_path: Path):
    a = _library(tmp_path)
    a.close()
    env = {"KEPOL_DATA_DIR": str(a.settings.store.data_dir)}
    run = lambda *args: CliRunner().invoke(main, list(args), env=env)  # noqa: E731
    edited = run("docs", "edit", "laden", "--kind", "position paper", "--collection", "rat-intern")
    assert edited.exit_code == 0, edited.output
    assert "rat-intern" in run("docs").output
    assert run("docs", "delete", "beirat", "--yes").exit_code == 0
    missing = run("docs", "delete", "gibt-es-nicht", "--yes")
    assert missing.exit_code != 0 and "no document 'gibt-es-nicht'" in missing.output
    log = run("audit").output
    assert "edit" in log and "delete" in log and "beirat" in log


def test_the_rest_door_manages_documents_for_admin_tokens_only(tmp_path: Path):
    a = _library(tmp_path)
    store = TokenStore(a.settings.store.data_dir / "tokens.json")
    reader = store.create("leser")
    admin = store.create("redaktion", upload=True, collections=[PUBLIC, "rat-intern"])
    public_admin = store.create("webteam", upload=True)
    with serving(a) as running, httpx.Client(base_url=running.url, timeout=60) as c:
        as_ = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
        assert c.delete("/api/v1/documents/laden", headers=as_(reader)).status_code == 403
        assert c.get("/api/v1/audit", headers=as_(reader)).status_code == 403
        r = c.patch("/api/v1/documents/laden", json={"collection": "rat-intern", "year": 2024}, headers=as_(admin))
        assert r.status_code == 200 and r.json()["document"]["collection"] == "rat-intern", r.text
        assert r.json()["reembedded"] is False
        # moved out of its reach, the document is not found for the public admin: the same 404 as a missing one
        for method in ("DELETE", "PATCH"):
            gone = c.request(method, "/api/v1/documents/laden", json={"year": 2020} if method == "PATCH" else None,
                             headers=as_(public_admin))
            assert gone.status_code == 404 and gone.json()["error"]["message_de"].startswith("Kein Dokument")
        bad = c.patch("/api/v1/documents/beirat", json={"kind": "flyer"}, headers=as_(admin))
        assert bad.status_code == 422 and "flyer" in bad.json()["error"]["message_en"]
        unknown = c.patch("/api/v1/documents/beirat", json={"pages": 4}, headers=as_(admin))
        assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_field"
        new = ("beirat-neu.txt", "Der Klimabeirat der Stadt Nordheim tagt seit 2025 monatlich.".encode(), "text/plain")
        put = c.put("/api/v1/documents/beirat", files={"file": new}, data={"remove_old": "true"}, headers=as_(admin))
        assert put.status_code == 200 and put.json()["results"][0]["status"] == "ingested", put.text
        assert c.delete("/api/v1/documents/beirat-neu", headers=as_(admin)).status_code == 200
        entries = c.get("/api/v1/audit", headers=as_(admin)).json()["entries"]
        assert [(e["action"], e["who"]) for e in entries] == [
            ("edit", "token:redaktion"), ("delete", "token:redaktion"), ("replace", "token:redaktion"),
            ("delete", "token:redaktion")]  # a replacement that removes the old version deletes it first
        # the public admin's audit view leaves out what happened in collections it may not read
        assert all(e["collection"] == PUBLIC for e in c.get("/api/v1/audit", headers=as_(public_admin)).json()["entries"])


def test_the_readmes_collection_commands_as_written(corpus_assistant: Assistant, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    """Each line of the README's example, parsed as a shell would and run in this process (one model
    load for all of them; `corpus/` is the bundled corpus, `< file` feeds standard input)."""
    import shlex

    from assistant.core.settings import BUNDLED_CORPUS
    from tests.test_collections import CANARY
    from tests.test_readme_connect import examples

    data = tmp_path / "data"  # a copy of the corpus's index: `kepol ingest corpus/` finds it unchanged
    shutil.copytree(corpus_assistant.settings.store.data_dir, data)
    (tmp_path / "rat-intern").mkdir()
    for name, text in CANARY.items():
        (tmp_path / "rat-intern" / name).write_text(text, encoding="utf-8")
    (tmp_path / "rat-intern-neu").mkdir()
    (tmp_path / "rat-intern-neu" / "vorlage-2027.md").write_text(
        CANARY["vorlage.md"].replace("48.500", "52.000"), encoding="utf-8")
    (tmp_path / "passwort.txt").write_text("ein-langes-passwort\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    outputs, commands = [], []
    for line in examples()["collections"].strip().splitlines():
        words = shlex.split(line, comments=True)
        assert words[0] == "kepol", line
        stdin = None
        if "<" in words:
            at = words.index("<")
            stdin, words = Path(words[at + 1]).read_text(encoding="utf-8"), words[:at]
        args = [str(BUNDLED_CORPUS) if w == "corpus/" else w for w in words[1:]]
        done = CliRunner().invoke(main, args, env={"KEPOL_DATA_DIR": str(data)}, input=stdin)
        assert done.exit_code == 0, (line, done.output, done.exception)
        outputs.append(done.output)
        commands.append(args[0])
    assert commands[5:8] == ["user", "docs", "ask"]  # the lines checked below
    assert "redaktion\tadmin\trat-intern,öffentlich" in outputs[5]
    assert "rat-intern" in outputs[6] and "öffentlich" in outputs[6]
    from assistant.answer import NEAR_MISS, REFUSAL

    assert outputs[7].startswith((REFUSAL, NEAR_MISS)) and "48.500" not in outputs[7]  # refused, either way
    log = outputs[-1]
    assert all(a in log for a in ("edit", "replace", "delete")) and "cli:" in log


@pytest.fixture(scope="module")
def managed_server(tmp_path_factory: pytest.TempPathFactory):
    a = _library(tmp_path_factory.mktemp("fuzz"))
    with serving(a) as running, httpx.Client(base_url=running.url, timeout=60) as c:
        yield c


names = st.one_of(st.text(max_size=60), st.sampled_from(["", " ", "../x", "rat intern", "a" * 41, "öffentlich",
                                                          "rat-intern", "%00", "<script>"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(collection=names, doc_id=names, field=st.sampled_from(["title", "kind", "publisher", "year", "collection",
                                                              "pages"]), value=st.one_of(names, st.integers()))
def test_fuzzed_management_requests_get_a_bilingual_4xx_or_succeed(managed_server: httpx.Client, collection: str,
                                                                  doc_id: str, field: str, value: object):
    c = managed_server
    checks = [c.post("/api/v1/documents", files={"file": ("n.txt", b"Nordheim hat einen Klimabeirat.", "text/plain")},
                     data={"collection": collection}),
              c.patch(f"/api/v1/documents/{quote(doc_id, safe='')}", json={field: value}),
              c.request("DELETE", f"/api/v1/documents/{quote(doc_id, safe='')}x-{len(doc_id)}")]
    for r in checks:
        assert r.status_code < 500 and "Traceback" not in r.text, (r.request.url, r.status_code, r.text[:300])
        if r.status_code >= 400:
            error = r.json()["error"]
            assert error["message_de"] and error["message_en"], r.text
