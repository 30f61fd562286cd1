"""Exposure and data protection: no UI beyond this machine without an administrator password (unless
explicitly overridden), upload rights judged by where the UI really listens, feedback that can be
switched off, stored without text, expired, and purged from disk."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.api import Assistant
from assistant.faces.cli import main
from assistant.core.errors import KepolError
from assistant.export import EXPORTS, export_file
from assistant.core.settings import Settings
from assistant.core.types import Answer
from assistant.faces.server import launch
from assistant.faces.tokens import TokenStore
from assistant.faces.upload import admin_allowed
from tests.conftest import free_port

QUESTION = "Wie erreiche ich Frau Beispiel-Vertraulich im Rathaus?"


def test_exposed_start_without_admin_password_is_refused(corpus_assistant: Assistant):
    a = Assistant(corpus_assistant.settings)
    with pytest.raises(KepolError) as err:
        launch(a, "0.0.0.0", free_port(), block=False)
    assert "KEPOL_ADMIN_PASSWORD" in str(err.value) and "KEPOL_ALLOW_EXPOSED_WITHOUT_ADMIN" in str(err.value)
    out = CliRunner().invoke(main, ["serve", "--no-ingest", "--host", "0.0.0.0", "--port", str(free_port())],
                             env={"KEPOL_DATA_DIR": str(corpus_assistant.settings.store.data_dir)})
    assert out.exit_code == 1 and "without an administrator password" in out.output


def test_exposed_start_with_password_or_override_locks_upload_to_it(corpus_assistant: Assistant, tmp_path: Path):
    s = corpus_assistant.settings
    tokens = TokenStore(s.store.data_dir / "tokens.json")
    tokens.create("exposed-test")  # beyond this machine the API doors need a token (tests/test_service_access.py)
    a = Assistant(Settings(data_dir=s.store.data_dir, admin_password="geheim"))
    try:
        _exposed_starts(a, s)
    finally:
        tokens.revoke("exposed-test")


def _exposed_starts(a: Assistant, s: Settings) -> None:
    app = launch(a, "0.0.0.0", free_port(), block=False)
    assert app is not None
    try:
        # `--host 0.0.0.0` on the command line, not KEPOL_HOST: upload must still demand the password
        assert a.settings.ui.host == "0.0.0.0"
        assert not admin_allowed(a.settings, "")[0] and admin_allowed(a.settings, "geheim")[0]
    finally:
        app.close()
    b = Assistant(Settings(data_dir=s.store.data_dir, allow_exposed_without_admin=True))
    app = launch(b, "0.0.0.0", free_port(), block=False)
    assert app is not None
    try:
        ok, why = admin_allowed(b.settings, "")
        assert not ok and "KEPOL_ADMIN_PASSWORD" in why  # no administration at all
    finally:
        app.close()


def _answer() -> Answer:
    return Answer(question=QUESTION, answer="In den Dokumenten finde ich dazu keine Angabe.", refused=True)


def test_feedback_can_be_switched_off_or_kept_without_text(tmp_path: Path):
    off = Assistant(Settings(data_dir=tmp_path / "a", feedback_enabled=False))
    assert off.record_feedback(_answer(), 1, "gut") is None
    assert not off.settings.feedback_file.exists()
    lean = Assistant(Settings(data_dir=tmp_path / "b", feedback_store_text=False))
    assert lean.record_feedback(_answer(), -1, "fehlt") is not None
    row = lean.feedback.rows()[0]
    assert row["question"] == "" and row["answer"] == "" and row["rating"] == -1 and row["comment"] == "fehlt"


def test_expired_feedback_is_dropped_and_purge_removes_it_from_disk(tmp_path: Path):
    a = Assistant(Settings(data_dir=tmp_path, retention_days=30))
    a.record_feedback(_answer(), 1)
    old = (datetime.now(timezone.utc) - timedelta(days=45)).isoformat(timespec="seconds")
    with sqlite3.connect(a.settings.feedback_file) as db:
        db.execute("UPDATE feedback SET created_at = ?", (old,))
    a.record_feedback(_answer(), -1)  # a write also drops what has expired
    assert [r["rating"] for r in a.feedback.rows()] == [-1]

    export = export_file([_answer()])
    assert export.exists() and export.is_relative_to(EXPORTS)
    out = CliRunner().invoke(main, ["purge", "--yes"], env={"KEPOL_DATA_DIR": str(tmp_path)})
    assert out.exit_code == 0, out.output
    assert "deleted 1 feedback entries" in out.output
    assert a.feedback.rows() == [] and not export.exists()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("feedback.sqlite3*"))
    assert QUESTION.encode() not in raw  # gone from the file, not only from queries


def test_purge_asks_before_deleting(tmp_path: Path):
    a = Assistant(Settings(data_dir=tmp_path))
    a.record_feedback(_answer(), 1)
    out = CliRunner().invoke(main, ["purge"], input="n\n", env={"KEPOL_DATA_DIR": str(tmp_path)})
    assert out.exit_code != 0 and len(a.feedback.rows()) == 1


def test_secrets_never_appear_in_errors_or_reprs(tmp_path: Path):
    s = Settings(data_dir=tmp_path, llm_api_key="Kx9-geheim-Schluessel", chroma_token="tok-ganz-geheim-42",
                 admin_password="admin-passwort-99")
    assert not any(x in repr(s) + str(s.model_dump()) for x in ("Kx9-geheim", "tok-ganz", "admin-passwort"))
    # libraries echo credentials in their error texts; every KepolError message is scrubbed
    err = KepolError("HTTP 401: invalid key Kx9-geheim-Schluessel (header X-Token: tok-ganz-geheim-42)",
                     "retry with admin-passwort-99")
    assert "Kx9-geheim" not in str(err) and "tok-ganz" not in str(err) and "admin-passwort" not in str(err)
    assert str(err).count("***") == 3


def test_decompression_bomb_is_rejected_with_the_file_named(tmp_path: Path):
    """A DOCX (a zip) whose parts unpack to far more than any real document: refused before
    python-docx would inflate it, the rest of the folder is still ingested."""
    import zipfile

    folder = tmp_path / "uploads"
    folder.mkdir()
    bomb = folder / "bericht.docx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w") as f:
            zeros = b"\0" * (1 << 20)
            for _ in range(80):  # 80 MB of zeros, about 80 KB on disk
                f.write(zeros)
    assert bomb.stat().st_size < 1_000_000
    (folder / "gut.txt").write_text("Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden.", encoding="utf-8")
    report = Assistant(Settings(data_dir=tmp_path / "data")).ingest([folder])
    skipped = report.by_status("skipped")
    assert [Path(r.path).name for r in skipped] == ["bericht.docx"] and "zip bomb" in skipped[0].reason
    assert [Path(r.path).name for r in report.by_status("ingested")] == ["gut.txt"]
