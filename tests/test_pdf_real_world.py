"""Real-world PDFs: protected files, pages that layout extraction misses, scanned pages (OCR),
footnotes and captions, hyphenated compounds — every sentence of the text layer ends up in a chunk."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pypdf
import pytest
from fpdf import FPDF

from assistant.api import Assistant
from assistant.core.settings import BUNDLED_CORPUS, Settings
from assistant.core.types import OCR_LABEL
from benchmarks.ocr import character_error_rate, cleaned_text_layer, image_only_pdf
from benchmarks.pdfs import protected_copy, text_pdf
from ingest.loaders import load

TEXT = "Die Stadt Nordheim pflegt eine Klimapartnerschaft mit der Stadt Tamale in Ghana."
HAS_OCR = bool(shutil.which("tesseract") and shutil.which("pdftoppm"))
needs_ocr = pytest.mark.skipif(not HAS_OCR, reason="needs tesseract-ocr, tesseract-ocr-deu and poppler-utils")


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
def test_protected_pdf_with_empty_user_password_opens(tmp_path: Path, algorithm: str):
    plain = text_pdf(tmp_path / "plain.pdf", [TEXT])
    locked = protected_copy(plain, tmp_path / f"locked-{algorithm}.pdf", algorithm)
    assert pypdf.PdfReader(str(locked)).is_encrypted
    doc = load(locked)
    assert doc.protected and "Klimapartnerschaft mit der Stadt Tamale" in doc.pages[0][1]


def test_pdf_that_needs_a_password_is_skipped_clearly_then_opened_with_it(tmp_path: Path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    protected_copy(text_pdf(tmp_path / "p.pdf", [TEXT]), folder / "geheim.pdf", "AES-256", user="lesen-2024")
    text_pdf(folder / "offen.pdf", ["Die Gemeinde Südheim kauft fair gehandelten Kaffee."])
    a = Assistant(Settings(data_dir=tmp_path / "data"))
    report = a.ingest([str(folder)])  # a str path works as well as a Path
    skipped = {Path(r.path).name: r.reason for r in report.by_status("skipped")}
    assert "needs a password" in skipped["geheim.pdf"] and "KEPOL_PDF_PASSWORD" in skipped["geheim.pdf"]
    assert [Path(r.path).name for r in report.by_status("ingested")] == ["offen.pdf"]
    # the password in the file's sidecar opens it; it is never shown
    (folder / "geheim.pdf.meta.json").write_text(json.dumps({"password": "lesen-2024"}), encoding="utf-8")
    report = a.ingest([folder])
    assert [Path(r.path).name for r in report.by_status("ingested")] == ["geheim.pdf"]
    assert "lesen-2024" not in report.summary() and "protected" in report.summary()
    assert any("Tamale" in p.text for p in a.index.current().all_passages())
    # a wrong password is named as such, without showing it
    (folder / "geheim.pdf.meta.json").write_text(json.dumps({"password": "falsch-999"}), encoding="utf-8")
    report = a.ingest([folder])
    reason = report.by_status("skipped")[0].reason
    assert "does not open it" in reason and "falsch-999" not in reason


def test_password_from_the_environment_setting(tmp_path: Path):
    locked = protected_copy(text_pdf(tmp_path / "p.pdf", [TEXT]), tmp_path / "geheim.pdf", "AES-128", user="umgebung-5")
    a = Assistant(Settings(data_dir=tmp_path / "data", pdf_password="umgebung-5"))
    report = a.ingest([locked])
    assert len(report.by_status("ingested")) == 1, report.summary()


def test_a_page_layout_extraction_misses_keeps_its_text(tmp_path: Path):
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    with pdf.rotation(90, x=100, y=150):  # pypdf's layout mode returns nothing for rotated text
        pdf.text(50, 150, TEXT)
    pdf.output(str(tmp_path / "gedreht.pdf"))
    assert pypdf.PdfReader(str(tmp_path / "gedreht.pdf")).pages[0].extract_text(extraction_mode="layout") == ""
    assert "Klimapartnerschaft" in load(tmp_path / "gedreht.pdf").pages[0][1]


def test_pages_without_text_are_counted_and_the_document_is_kept(tmp_path: Path):
    path = text_pdf(tmp_path / "teils.pdf", [TEXT, "", "Die Stadt Südheim kauft fair gehandelten Kaffee."])
    a = Assistant(Settings(data_dir=tmp_path / "data", ocr=False))
    report = a.ingest([path])
    r = report.by_status("ingested")[0]
    assert r.empty_pages == (2,) and r.pages == 3
    assert "1 of 3 pages without text" in report.summary() and "pages 2" in report.summary()
    assert "1 Seite ohne Text: 2" in a.library()[0]["notes"]


def test_a_blank_page_after_ocr_is_reported_with_its_reason(tmp_path: Path):
    path = text_pdf(tmp_path / "teils.pdf", [TEXT, ""])
    report = Assistant(Settings(data_dir=tmp_path / "data")).ingest([path])
    r = report.by_status("ingested")[0]
    assert r.empty_pages == (2,)
    assert r.reason, "a page left without text must say why"
    assert "()" not in report.summary()


@needs_ocr
def test_scanned_pages_are_read_by_ocr_and_cited_as_such(tmp_path: Path):
    source = BUNDLED_CORPUS / "skew-migration-entwicklung.pdf"
    folder = tmp_path / "scans"
    folder.mkdir()
    scan = image_only_pdf(source, [1], folder / "skew-scan.pdf")
    assert not "".join(p.extract_text() or "" for p in pypdf.PdfReader(str(scan)).pages).strip()
    a = Assistant(Settings(data_dir=tmp_path / "data"))
    report = a.ingest([folder])
    r = report.by_status("ingested")[0]
    assert r.ocr_pages == (1,), report.summary()
    # the recognised text matches the real text layer closely (both cleaned alike)
    ocr_text = " ".join(p.text for p in a.index.current().all_passages())
    truth = cleaned_text_layer(source, [1])[1]
    assert character_error_rate(truth, re.sub(r"\s+", " ", a.index.current().document_text("skew-scan") or "")) <= 0.03
    assert "Migrantinnen und Migranten" in ocr_text
    ans = a.ask("Was möchte die Servicestelle Kommunen in der Einen Welt stärken und sichtbar machen?")
    assert not ans.refused and ans.citations[0].doc_id == "skew-scan" and ans.citations[0].ocr
    assert OCR_LABEL in a.library()[0]["notes"]


@needs_ocr
def test_an_image_file_is_read_by_ocr(tmp_path: Path):
    import subprocess

    folder = tmp_path / "bilder"
    folder.mkdir()
    subprocess.run(["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", "-singlefile",
                    str(BUNDLED_CORPUS / "rgre-akez-leitbild.pdf"), str(folder / "leitbild")], check=True)
    doc = load(folder / "leitbild.png")
    assert doc.ocr_pages == (1,) and "Entwicklungszusammenarbeit" in doc.pages[0][1]


def test_without_ocr_an_image_is_skipped_with_what_to_do(tmp_path: Path):
    (tmp_path / "flyer.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    a = Assistant(Settings(data_dir=tmp_path / "data", ocr=False))
    report = a.ingest([tmp_path / "flyer.png"])
    assert "OCR" in report.by_status("skipped")[0].reason


SUBSTANTIVE_FOOTNOTES = {  # number → a question a reader would ask about it, and words its answer holds
    1: ("Warum hat die kommunale Europaarbeit kein eigenes Handlungsfeld im Städtetagspapier?", "Europaarbeit"),
    11: ("Worin unterscheiden sich Städtepartnerschaften, Städtefreundschaften und Projektpartnerschaften?",
         "zeitlich unbegrenzt"),
    17: ("Auf welchem Beschluss des Bund-Länder-Ausschusses beruht die Definition der KEPol?", "7. Juni 2010"),
    22: ("Welche deutschen Städte engagieren sich neben Leipzig im Netzwerk EUROCITIES?", "Bochum"),
}


def test_footnotes_of_the_staedtetag_paper_are_found_by_questions_about_them(corpus_assistant: Assistant):
    for number, (question, words) in SUBSTANTIVE_FOOTNOTES.items():
        passages = corpus_assistant.retrieve(question, k=5)
        assert any(f"Fußnote {number}:" in p.text and words in p.text for p in passages), (number, question)


def test_no_footnote_fragment_is_left_in_the_body(corpus_assistant: Assistant):
    body = "\n".join(p.text for p in corpus_assistant.index.current().all_passages() if p.section != "Fußnoten")
    for fragment in ("Juni 2010 zur Umsetzung", "Projektpartnerschaften werden eingegangen, um ein gemeinsames",
                     "Neben Leipzig engagieren sich 21 weitere"):
        assert fragment not in body


def test_hyphenated_compounds_broken_at_line_ends_are_joined(corpus_assistant: Assistant):
    text = " ".join(p.text for p in corpus_assistant.index.current().all_passages())
    assert "UN-Klimakonferenzen" in text and "Multilevel-Governance" in text
    assert "UN- Klimakonferenzen" not in text and "Multilevel- Governance" not in text
    assert "Städte- und Projektpartnerschaften" in text  # an elided compound keeps its space


def test_a_caption_never_leads_an_answer(corpus_assistant: Assistant):
    ans = corpus_assistant.ask("Was ist das EU-Zubi-Programm von Düsseldorf?")
    assert not ans.refused
    assert "(Bild:" not in ans.citations[0].quote and "(Foto:" not in ans.citations[0].quote


# What the text layer holds that no chunk needs to: web-page chrome, URLs and the tails of URLs
# wrapped over a line (dropped from the body; footnote URLs stay in their footnote), a logo set in
# spaced letters; and what cleaning rightly changes: bullet glyphs, footnote markers, punctuation.
def _words(text: str) -> list[str]:
    text = re.sub(r"(?:https?://|www\.)\S+|\S*\w/\S*", " ", text)
    text = re.sub(r"(?:Bannerbild)+|Link zur Seite versenden|Druckansicht öffnen|\b(?:\w ){3,}\w{1,2}\b", " ", text)
    text = re.sub(r"(?<=[^\s\d])\d{1,2}(?=\s|$)", " ", text)  # footnote markers: "erhöhen.2", "Welt.10"
    # words split at line ends ("inter- nationalen", "UN- Klimakonferenzen"), not elided compounds ("Städte- und")
    text = re.sub(r"(\w)-\s+(?!(?:und|oder|bzw|sowie|als|wie|bis)\b)(?=\w)", r"\1", text)
    return [w for w in re.findall(r"[0-9a-zäöüß]+", text.lower().replace("-", "")) if not w.isdigit()]


def test_every_sentence_of_the_text_layer_is_in_some_chunk(corpus_assistant: Assistant):
    """Every line pypdf reads from the bundled PDFs, footnotes included, stands in a chunk: each
    run of four words of it occurs in the chunks (compared as words, see `_words`). Lines, not
    sentences, are the unit because the text layer interleaves footnotes and captions with the
    body: a "sentence" read across such a seam exists nowhere. A word split at a line end is left
    out of both lines' runs."""
    chunks = " " + " ".join(_words(" ".join(p.text for p in corpus_assistant.index.current().all_passages()))) + " "
    missing = []
    for pdf in sorted(BUNDLED_CORPUS.glob("*.pdf")):
        for page in pypdf.PdfReader(str(pdf)).pages:
            lines = [ln.strip() for ln in (page.extract_text() or "").split("\n") if ln.strip()]
            for i, line in enumerate(lines):
                tokens = line.split()
                if tokens and tokens[-1].endswith("-"):
                    tokens = tokens[:-1]  # "Weltwirtschafts-" goes on in the next line
                if tokens and (i and lines[i - 1].endswith("-") or not i and tokens[0][:1].islower()) \
                        and tokens[0].lower() not in ("und", "oder", "bzw."):
                    tokens = tokens[1:]  # the rest of a word split there (also from the page before)
                words = _words(" ".join(tokens))
                runs = [" " + " ".join(words[j:j + 4]) + " " for j in range(len(words) - 3)]
                absent = [r for r in runs if r not in chunks]
                if absent:
                    missing.append(f"{pdf.name}: {line[:100]}  (missing: {absent[0].strip()})")
    assert not missing, "\n".join(missing)
