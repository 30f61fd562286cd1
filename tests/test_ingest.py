"""Ingestion of every format into a real Chroma store in a temp dir; bad files; incremental runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from fpdf import FPDF

from assistant.api import Assistant
from assistant.core.errors import DocumentError
from ingest.loaders import load

PDF_P1 = ("Die Partnerstadt Musterhausen betreibt eine Solarwerkstatt gemeinsam mit ihrer Partnerkommune. "
          "Die Werkstatt bildet jedes Jahr zwanzig junge Menschen aus.")
PDF_P2 = ("Auf der zweiten Seite steht die Imkerei-Kooperation: Die Kommune Beispielstadt fördert Bienenvölker "
          "in ihrer Partnerstadt am Viktoriasee. Der Honig wird auf dem Weihnachtsmarkt verkauft.")


def make_pdf(path: Path, pages: list[str]) -> Path:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = "Jahresbericht Partnerschaft Tamale"
    d.add_heading("Jahresbericht Partnerschaft Tamale", 1)
    d.add_paragraph("Die Stadt Ostheim pflegt seit 2019 eine Klimapartnerschaft mit Tamale in Ghana.")
    d.add_heading("Projekte", 2)
    d.add_paragraph("Solarschule für vierzig Lehrkräfte", style="List Bullet")
    d.add_paragraph("Baumpflanzaktion an der Stadtgrenze", style="List Bullet")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Jahr", "Budget"
    table.cell(1, 0).text, table.cell(1, 1).text = "2023", "12.000 Euro für die Solarschule"
    d.save(str(path))
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    make_pdf(d / "partnerschaft.pdf", [PDF_P1, PDF_P2])
    (d / "notiz.txt").write_text("Der Klimabeirat der Stadt Nordheim tagt viermal im Jahr. "
                                 "Er berät den Rat zu Fragen der Energiewende.", encoding="utf-8")
    (d / "leitfaden.md").write_text("# Leitfaden Fairer Handel\n\nDie Stadt Südheim kauft nur fair gehandelten "
                                    "Kaffee für ihre Kantinen.\n\n- Fairtrade-Siegel prüfen\n- Lieferketten "
                                    "dokumentieren\n", encoding="utf-8")
    (d / "seite.html").write_text("<html><head><title>Westheim global</title><script>alert(1)</script></head>"
                                  "<body><nav>Menü</nav><h1>Westheim global</h1><p>Westheim unterhält eine "
                                  "Schulpartnerschaft mit einer Schule in Ghana.</p></body></html>", encoding="utf-8")
    (d / "alt.txt").write_bytes("Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden mit Mietzuschüssen."
                                .encode("cp1252"))
    make_docx(d / "bericht.docx")
    (d / "metadata.json").write_text(json.dumps({"partnerschaft.pdf": {
        "doc_id": "partner-pdf", "title": "Partnerschaften konkret", "kind": "service brochure", "year": 2024}}),
        encoding="utf-8")
    return d


def test_each_format_is_ingested_and_found(fresh_assistant: Assistant, folder: Path):
    report = fresh_assistant.ingest([folder])
    assert {Path(r.path).name for r in report.by_status("ingested")} == {
        "partnerschaft.pdf", "notiz.txt", "leitfaden.md", "seite.html", "alt.txt", "bericht.docx"}, report.summary()
    cases = {
        "Wie oft tagt der Klimabeirat in Nordheim?": "notiz",
        "Welchen Kaffee kauft Südheim für die Kantinen?": "leitfaden",
        "Mit welchem Land hat Westheim eine Schulpartnerschaft?": "seite",
        "Wen unterstützt Osterfeld mit Mietzuschüssen?": "alt",
        "Was fördert Beispielstadt am Viktoriasee?": "partner-pdf",
        "Mit welcher Stadt in Ghana hat Ostheim eine Klimapartnerschaft?": "bericht",
    }
    for question, doc_id in cases.items():
        top = fresh_assistant.retrieve(question, k=1)[0]
        assert top.doc_id == doc_id, (question, top.doc_id)
    html_text = " ".join(p.text for p in fresh_assistant.index.current().all_passages() if p.doc_id == "seite")
    assert "alert" not in html_text and "Menü" not in html_text
    assert "Eine-Welt-Läden" in " ".join(p.text for p in fresh_assistant.index.current().all_passages())
    docx_passages = [p for p in fresh_assistant.index.current().all_passages() if p.doc_id == "bericht"]
    docx_text = "\n".join(p.text for p in docx_passages)
    assert "• Solarschule für vierzig Lehrkräfte" in docx_text  # list style → list item
    assert "2023 | 12.000 Euro für die Solarschule" in docx_text  # table row kept as one line
    assert "\n\nProjekte\n\n" in docx_text  # heading style → a heading block of its own
    assert docx_passages[0].title == "Jahresbericht Partnerschaft Tamale"


def test_pdf_pages_and_metadata_are_kept(fresh_assistant: Assistant, folder: Path):
    fresh_assistant.ingest([folder])
    ans = fresh_assistant.ask("Was fördert die Kommune Beispielstadt in ihrer Partnerstadt am Viktoriasee?")
    assert not ans.refused
    cit = next(c for c in ans.citations if c.doc_id == "partner-pdf")
    assert cit.page == 2 and cit.title == "Partnerschaften konkret"
    assert cit.quote in cit.passage
    doc = next(d for d in fresh_assistant.documents() if d.doc_id == "partner-pdf")
    assert doc.kind == "service brochure" and doc.year == 2024
    # every chunk carries its place in the cleaned document, so a citation can be shown in context
    passages = sorted((p for p in fresh_assistant.index.current().all_passages() if p.doc_id == "partner-pdf"),
                      key=lambda p: p.ordinal)
    assert passages[-1].page_end == 2 and passages[0].page_start == 1
    assert all(p.kind == "service brochure" and p.title == "Partnerschaften konkret" for p in passages)


def test_bad_files_are_skipped_with_reasons_and_the_rest_is_ingested(fresh_assistant: Assistant, folder: Path):
    (folder / "leer.txt").write_bytes(b"")
    (folder / "kaputt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage")
    (folder / "binär.txt").write_bytes(bytes(range(256)) * 4)
    (folder / "tabelle.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "kaputt.docx").write_bytes((folder / "bericht.docx").read_bytes()[:700])  # truncated download
    blank = FPDF()
    blank.add_page()
    blank.output(str(folder / "scan.pdf"))
    report = fresh_assistant.ingest([folder])
    reasons = {Path(r.path).name: r.reason for r in report.by_status("skipped")}
    assert "empty" in reasons["leer.txt"]
    assert "PDF" in reasons["kaputt.pdf"]
    assert "binary" in reasons["binär.txt"]
    assert "unsupported" in reasons["tabelle.xlsx"]
    assert "no text on any page" in reasons["scan.pdf"] or "scanned" in reasons["scan.pdf"]  # with/without OCR
    assert "DOCX" in reasons["kaputt.docx"]
    assert len(report.by_status("ingested")) == 6
    assert "skipped" in report.summary() and "kaputt.pdf" in report.summary()


def test_loader_errors_name_the_file(tmp_path: Path):
    bad = tmp_path / "leer.md"
    bad.write_text("", encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        load(bad)
    assert "leer.md" in str(info.value) and "empty" in str(info.value)


def test_reingest_is_incremental(fresh_assistant: Assistant, folder: Path):
    first = fresh_assistant.ingest([folder])
    n = first.chunks_total
    again = fresh_assistant.ingest([folder])
    assert len(again.by_status("unchanged")) == 6 and not again.by_status("ingested")
    assert again.chunks_total == n
    # changed content: re-embedded, old chunks gone
    (folder / "notiz.txt").write_text("Der Klimabeirat der Stadt Nordheim tagt jetzt monatlich.", encoding="utf-8")
    changed = fresh_assistant.ingest([folder])
    assert [Path(r.path).name for r in changed.by_status("ingested")] == ["notiz.txt"]
    notiz = [p.text for p in fresh_assistant.index.current().all_passages() if p.doc_id == "notiz"]
    assert notiz and all("monatlich" in t and "viermal" not in t for t in notiz)
    # duplicate under another name: not indexed twice
    (folder / "kopie.txt").write_bytes((folder / "notiz.txt").read_bytes())
    dup = fresh_assistant.ingest([folder])
    assert [Path(r.path).name for r in dup.by_status("duplicate")] == ["kopie.txt"]
    # deleted file: its chunks leave the index
    (folder / "alt.txt").unlink()
    gone = fresh_assistant.ingest([folder])
    assert [r.doc_id for r in gone.by_status("removed")] == ["alt"]
    assert not [p for p in fresh_assistant.index.current().all_passages() if p.doc_id == "alt"]
    assert not fresh_assistant.retrieve("Mietzuschüsse für Eine-Welt-Läden", k=3) or all(
        p.doc_id != "alt" for p in fresh_assistant.retrieve("Mietzuschüsse für Eine-Welt-Läden", k=3))


def test_dry_run_writes_nothing(fresh_assistant: Assistant, folder: Path):
    report = fresh_assistant.ingest([folder], dry_run=True)
    assert len(report.by_status("ingested")) == 6
    assert fresh_assistant.index.current().count() == 0
    assert not (fresh_assistant.settings.store.data_dir / "embedding-cache.sqlite3").exists()
    # after a real run, a dry run names exactly the file that changed and still writes nothing
    fresh_assistant.ingest([folder])
    before = fresh_assistant.index.current().manifest
    (folder / "notiz.txt").write_text("Der Klimabeirat tagt nun monatlich.", encoding="utf-8")
    preview = fresh_assistant.ingest([folder], dry_run=True)
    assert [Path(r.path).name for r in preview.by_status("ingested")] == ["notiz.txt"]
    assert "would ingest" in preview.by_status("ingested")[0].reason
    assert fresh_assistant.index.current().manifest == before


def test_text_encodings_are_detected(tmp_path: Path):
    sentence = "Die Städtepartnerschaft fördert Begegnungen über Grenzen."
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + sentence.encode("utf-8"))
    (tmp_path / "win.txt").write_bytes((sentence + " „Eine Welt“ – 5 €").encode("cp1252"))
    # 0x81 is undefined in cp1252: such a file can only be latin-1
    (tmp_path / "latin.txt").write_bytes(sentence.encode("latin-1") + b" \x81")
    assert load(tmp_path / "bom.txt").pages[0][1] == sentence
    assert load(tmp_path / "win.txt").pages[0][1] == sentence + " „Eine Welt“ – 5 €"
    assert load(tmp_path / "latin.txt").pages[0][1].startswith(sentence)


def test_broken_metadata_file_is_named_and_loses_nothing(fresh_assistant: Assistant, folder: Path):
    first = fresh_assistant.ingest([folder])
    (folder / "metadata.json").write_text('{"partnerschaft.pdf": {"title": "Partner', encoding="utf-8")
    report = fresh_assistant.ingest([folder])
    reasons = {r.reason for r in report.by_status("skipped")}
    assert reasons and all("invalid metadata JSON" in r for r in reasons)
    assert all(str(folder / "metadata.json") in r for r in reasons)  # the broken file is named
    assert fresh_assistant.index.current().count() == first.chunks_total  # what was indexed stays
    assert {d.doc_id for d in fresh_assistant.documents()} >= {"partner-pdf", "notiz"}
