"""Document upload in the chat: administrators only, checked names/types/sizes, stored inside the
data directory, ingested, and answerable right away (real Gradio server, real HTTP)."""
from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from assistant.api import Assistant
from assistant.core.rights import PUBLIC
from assistant.core.settings import Settings
from assistant.faces.server import launch
from assistant.faces.upload import admin_allowed, safe_name, store
from tests.conftest import free_port


def test_file_names_cannot_leave_the_upload_folder(tmp_path: Path):
    for bad in ("../../etc/passwd", "..\\\\boot.ini", "a/b.pdf", ".versteckt.txt", "", "x\x00.pdf"):
        assert safe_name(bad) is None, bad
    assert safe_name("Bericht 2024.pdf") == "Bericht 2024.pdf"
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_text("Die Stadt Ostheim hat eine Partnerschaft.", encoding="utf-8")
    (src / "prog.exe").write_bytes(b"MZ")
    (src / "gross.txt").write_text("x" * 30_000, encoding="utf-8")
    folder = tmp_path / "data" / "uploads"
    result = store([str(src / n) for n in ("ok.txt", "prog.exe", "gross.txt", "ok.txt")],
                   ["ok.txt", "prog.exe", "gross.txt", "../../ausbruch.txt"], folder, max_mb=0.01)
    assert [(u.name, u.ok) for u in result] == [("ok.txt", True), ("prog.exe", False), ("gross.txt", False),
                                                ("../../ausbruch.txt", False)]
    assert "nicht unterstützt" in result[1].reason and "zu groß" in result[2].reason
    assert sorted(p.name for p in folder.iterdir()) == ["ok.txt"]
    assert not (tmp_path / "ausbruch.txt").exists()


def test_admin_rules(tmp_path: Path):
    assert admin_allowed(Settings(data_dir=tmp_path), "")[0]  # bound to this machine, no password set
    exposed, why = admin_allowed(Settings(data_dir=tmp_path, host="0.0.0.0"), "")
    assert not exposed and "KEPOL_ADMIN_PASSWORD" in why
    s = Settings(data_dir=tmp_path, host="0.0.0.0", admin_password="geheim")
    assert admin_allowed(s, "geheim")[0] and not admin_allowed(s, "GEHEIM")[0]


@pytest.fixture()
def admin_client(tmp_path: Path):
    a = Assistant(Settings(data_dir=tmp_path / "data", admin_password="geheim"))
    port = free_port()
    app = launch(a, "127.0.0.1", port, block=False)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False), a
    finally:
        app.close()


def test_upload_needs_the_password_then_ingests_and_answers(admin_client, tmp_path: Path):
    client, a = admin_client
    doc = tmp_path / "klimabeirat.txt"
    doc.write_text("Der Klimabeirat der Stadt Ostheim tagt sechsmal im Jahr im Rathaus.", encoding="utf-8")
    refused = client.predict([handle_file(str(doc))], "falsch", api_name="/upload")
    assert "Falsches Passwort" in refused and a.index.current().count() == 0
    done = client.predict([handle_file(str(doc))], "geheim", api_name="/upload")
    assert "klimabeirat.txt | eingelesen" in done
    assert (a.settings.store.data_dir / "uploads" / PUBLIC / "klimabeirat.txt").exists()  # its collection's folder
    obj = client.predict("Wie oft tagt der Klimabeirat in Ostheim?", [], api_name="/ask")
    assert not obj["refused"] and "sechsmal" in obj["citations"][0]["quote"]


def test_whole_app_login_when_a_ui_password_is_set(tmp_path: Path):

    a = Assistant(Settings(data_dir=tmp_path / "data", ui_password="stadt-geheim"))
    port = free_port()
    app = launch(a, "127.0.0.1", port, block=False)
    try:
        with pytest.raises(Exception):  # no session, no access to the API
            Client(f"http://127.0.0.1:{port}/", verbose=False).predict("Frage", [], api_name="/ask")
        client = Client(f"http://127.0.0.1:{port}/", auth=("kepol", "stadt-geheim"), verbose=False)
        assert client.predict("", [], api_name="/ask")["refused"] is True
    finally:
        app.close()
