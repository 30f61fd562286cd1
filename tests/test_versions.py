"""New versions of a document: answers draw on the current version; a statement only the older
version makes is cited as "ältere Fassung (ersetzt durch …)"; `include_superseded` searches all."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.api import Assistant
from assistant.faces.cli import main
from assistant.core.settings import Settings

OLD = """# Klimabeirat der Stadt Nordheim

Der Klimabeirat der Stadt Nordheim tagt viermal im Jahr im Ratssaal.

Der Beirat berät den Rat zu allen Fragen der Energiewende und der Wärmeplanung.

Die Geschäftsstelle des Beirats liegt im Amt für Umwelt und stellt jährlich einen Bericht vor.

Jugendliche aus den Partnerschulen in Tamale berichten einmal im Jahr über ihre Solarprojekte.
"""
NEW = """# Klimabeirat der Stadt Nordheim (zweite Fassung)

Der Klimabeirat der Stadt Nordheim tagt sechsmal im Jahr im Ratssaal.

Der Beirat berät den Rat zu allen Fragen der Energiewende und der Wärmeplanung.

Die Geschäftsstelle des Beirats liegt im Amt für Umwelt und stellt jährlich einen Bericht vor.
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    folder = tmp_path_factory.mktemp("versions")
    (folder / "beirat-2020.md").write_text(OLD, encoding="utf-8")
    (folder / "beirat-2023.md").write_text(NEW, encoding="utf-8")
    (folder / "metadata.json").write_text(json.dumps({
        "beirat-2020.md": {"doc_id": "beirat-2020", "title": "Klimabeirat Nordheim", "year": 2020},
        "beirat-2023.md": {"doc_id": "beirat-2023", "title": "Klimabeirat Nordheim, zweite Fassung", "year": 2023,
                           "replaces": "beirat-2020", "valid_from": 2023}}), encoding="utf-8")
    a = Assistant(Settings(data_dir=tmp_path_factory.mktemp("versions-data"), corpus_dir=folder, chunk_tokens=64,
                           chunk_overlap_tokens=0))
    report = a.ingest()
    assert len(report.by_status("ingested")) == 2, report.summary()
    return a


def _env(a: Assistant) -> dict[str, str]:
    return {"KEPOL_DATA_DIR": str(a.settings.store.data_dir), "KEPOL_CHUNK_TOKENS": "64", "KEPOL_CHUNK_OVERLAP_TOKENS": "0"}


def test_the_current_version_answers_a_changed_statement(library: Assistant):
    passages = library.retrieve("Wie oft tagt der Klimabeirat in Nordheim?", k=5)
    assert any("sechsmal" in p.text for p in passages)
    assert not any("viermal" in p.text for p in passages)  # the old statement, changed since, is not shown
    ans = library.ask("Wie oft tagt der Klimabeirat in Nordheim?")
    assert "sechsmal" in ans.answer and "viermal" not in ans.answer


def test_a_statement_only_the_old_version_makes_is_cited_as_such(library: Assistant):
    ans = library.ask("Worüber berichten Jugendliche aus den Partnerschulen in Tamale?")
    cit = next((c for c in ans.citations if "Solarprojekte" in c.quote), None)
    assert cit is not None, (ans.answer, [p.text[:60] for p in ans.passages])
    assert cit.doc_id == "beirat-2020" and cit.superseded_by == "Klimabeirat Nordheim, zweite Fassung"
    assert cit.version_note == "ältere Fassung (ersetzt durch „Klimabeirat Nordheim, zweite Fassung“)"
    assert ans.to_contract()["citations"][0]["superseded_by"]


def test_all_versions_are_searched_on_request(library: Assistant):
    passages = library.retrieve("Wie oft tagt der Klimabeirat in Nordheim?", k=5, include_superseded=True)
    old = [p for p in passages if "viermal" in p.text]
    assert old and old[0].superseded_by == "Klimabeirat Nordheim, zweite Fassung"


def test_library_and_docs_show_the_chain(library: Assistant):
    notes = {r["doc_id"]: r["notes"] for r in library.library()}
    assert "ersetzt durch „Klimabeirat Nordheim, zweite Fassung“" in notes["beirat-2020"]
    assert "ersetzt „Klimabeirat Nordheim“" in notes["beirat-2023"] and "gültig ab 2023" in notes["beirat-2023"]
    out = CliRunner().invoke(main, ["docs"], env=_env(library))
    assert out.exit_code == 0 and "ersetzt durch" in out.output
    out = CliRunner().invoke(main, ["ask", "Wie oft tagt der Klimabeirat in Nordheim?", "--include-superseded"],
                             env=_env(library))
    assert out.exit_code == 0, out.output


def test_a_malformed_year_in_the_catalogue_is_named(tmp_path: Path):
    (tmp_path / "a.md").write_text("# A\n\nEin Satz über die Partnerschaft mit Tamale.\n", encoding="utf-8")
    (tmp_path / "a.md.meta.json").write_text(json.dumps({"valid_from": "ab Mai"}), encoding="utf-8")
    report = Assistant(Settings(data_dir=tmp_path / "d")).ingest([tmp_path / "a.md"])
    assert "valid_from" in report.by_status("skipped")[0].reason
