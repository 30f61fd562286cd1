"""A mixed folder as a municipal library holds it: protected PDFs (RC4-128, AES-128, AES-256 with an
empty user password; one needing a password; one with the password in its sidecar), image-only
renderings of bundled PDFs, a PDF whose layout text is empty, a partly blank PDF, broken files and a
revised document. Prints the per-outcome table. Needs the test extra (fpdf2).

    python -m benchmarks.mixed_folder [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from fpdf import FPDF

from assistant.api import Assistant
from assistant.core.settings import BUNDLED_CORPUS, Settings
from benchmarks.ocr import image_only_pdf
from benchmarks.pdfs import protected_copy, text_pdf

TEXT = "Die Stadt Nordheim pflegt eine Klimapartnerschaft mit der Stadt Tamale in Ghana."


def build(root: Path) -> Path:
    d = root / "ordner"
    d.mkdir(parents=True)
    base = text_pdf(root / "base.pdf", [TEXT])
    for alg in ("RC4-128", "AES-128", "AES-256"):
        protected_copy(base, d / f"geschuetzt-{alg}.pdf", alg)
    protected_copy(base, d / "passwort-noetig.pdf", "AES-256", user="geheim-1")
    protected_copy(base, d / "passwort-im-sidecar.pdf", "AES-128", user="geheim-2")
    (d / "passwort-im-sidecar.pdf.meta.json").write_text(json.dumps({"password": "geheim-2"}))
    image_only_pdf(BUNDLED_CORPUS / "skew-migration-entwicklung.pdf", [1, 2], d / "skew-scan.pdf")
    image_only_pdf(BUNDLED_CORPUS / "rgre-akez-leitbild.pdf", [1], d / "rgre-scan.pdf")
    p = FPDF()
    p.set_font("Helvetica", size=12)
    p.add_page()
    with p.rotation(90, x=100, y=150):  # pypdf's layout mode returns nothing for rotated text
        p.text(50, 150, TEXT)
    p.add_page()
    p.multi_cell(0, 8, "Auf der zweiten Seite steht gewöhnlicher Text über die Partnerschaft.")
    p.output(str(d / "gedreht.pdf"))
    text_pdf(d / "teils-leer.pdf", ["Erste Seite mit Text über Eine-Welt-Läden.", "", "Dritte Seite mit Text."])
    (d / "kaputt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj<<>>\nstartxref\n9999\n%%EOF")
    (d / "leer.txt").write_bytes(b"")
    (d / "binaer.txt").write_bytes(bytes(range(256)) * 10)
    shutil.copy(BUNDLED_CORPUS / "rgre-akez-leitbild.pdf", d / "rgre-2019.pdf")
    (d / "rgre-2024.md").write_text("# Leitbild AKEZ, Fassung 2024\n\nLeitmotto: Kommunales Denken und Handeln "
                                    "für Eine gerechtere Welt.\n\nDer AKEZ tagt zweimal im Jahr.\n")
    (d / "metadata.json").write_text(json.dumps({
        "rgre-2019.pdf": {"doc_id": "akez-2019", "title": "Leitbild AKEZ (2019)", "kind": "position paper"},
        "rgre-2024.md": {"doc_id": "akez-2024", "title": "Leitbild AKEZ (2024)", "kind": "position paper",
                         "replaces": "akez-2019", "valid_from": 2024}}))
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="where to build the folder (default: a temporary directory)")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="kepol-mixed-"))
    folder = build(root)
    a = Assistant(Settings(data_dir=root / "data"))
    t = time.perf_counter()
    report = a.ingest([folder])
    secs = time.perf_counter() - t
    print(report.summary())
    print(f"\n{secs:.1f} s; stages {json.dumps({k: round(v, 1) for k, v in report.stage_seconds.items()})}\n")
    print("| file | outcome | pages | OCR pages | pages without text | protected | reason |")
    print("|---|---|---|---|---|---|---|")
    for r in report.results:
        print(f"| {Path(r.path).name} | {r.status} | {r.pages or ''} | {len(r.ocr_pages) or ''} | "
              f"{', '.join(map(str, r.empty_pages))} | {'yes' if r.protected else ''} | {r.reason} |")


if __name__ == "__main__":
    main()
