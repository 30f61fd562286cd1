"""OCR against the text layer: pages of the bundled PDFs rendered to images, put into image-only
PDFs, ingested like any scan; the OCR text (after cleaning) is compared with the real text layer
(after the same cleaning) by character error rate, and pages per second are timed.

    python -m benchmarks.ocr [--pages 6]        # → benchmarks/results/ocr.json
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.core.settings import BUNDLED_CORPUS, PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "results"


def image_only_pdf(source: Path, pages: list[int], out: Path, dpi: int = 150) -> Path:
    """A PDF whose pages are pictures of `source`'s pages: no text layer, like a scanned flyer."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt")
    with tempfile.TemporaryDirectory() as tmp:
        for n in pages:
            png = Path(tmp) / f"p{n}"
            subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(n), "-l", str(n), "-png", "-singlefile",
                            str(source), str(png)], check=True, capture_output=True, timeout=120)
            pdf.add_page(format=(595, 842))
            pdf.image(str(png.with_suffix(".png")), x=0, y=0, w=595, h=842)
        pdf.output(str(out))
    return out


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over the reference's length (whitespace runs made one space)."""
    from rapidfuzz.distance import Levenshtein

    ref, hyp = _flat(reference), _flat(hypothesis)
    return Levenshtein.distance(ref, hyp) / max(len(ref), 1)


def cleaned_text_layer(source: Path, pages: list[int]) -> dict[int, str]:
    """Each page's real text layer after the cleaning ingestion applies."""
    from ingest.clean import clean_pages
    from ingest.loaders import load

    raw = dict(load(source).pages)
    return {n: " ".join(b.text for b in clean_pages([(n, raw[n])])) for n in pages}


def measure(pages_per_doc: int = 2, dpi_render: int = 150) -> dict[str, Any]:
    from assistant.core.settings import Settings
    from ingest.clean import clean_pages
    from ingest.loaders import ReadOptions, load

    s = Settings()
    rows = []
    total_pages, total_s = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for source in sorted(BUNDLED_CORPUS.glob("*.pdf")):
            import pypdf

            n = len(pypdf.PdfReader(str(source)).pages)
            pages = list(range(1, min(n, pages_per_doc) + 1))
            scan = image_only_pdf(source, pages, Path(tmp) / source.name, dpi_render)
            t = time.perf_counter()
            raw = load(scan, ReadOptions(ocr_languages=s.ingest.ocr_languages, ocr_dpi=s.ingest.ocr_dpi))
            seconds = time.perf_counter() - t
            truth = cleaned_text_layer(source, pages)
            for page, text in raw.pages:
                hyp = " ".join(b.text for b in clean_pages([(page, text)]))
                rows.append({"document": source.name, "page": page, "characters": len(_flat(truth[page])),
                             "cer": round(character_error_rate(truth[page], hyp), 4)})
            total_pages += len(raw.ocr_pages)
            total_s += seconds
    chars = sum(r["characters"] for r in rows)
    return {"pages": total_pages, "seconds": round(total_s, 1), "pages_per_s": round(total_pages / total_s, 3),
            "cer_weighted": round(sum(r["cer"] * r["characters"] for r in rows) / max(chars, 1), 4),
            "cer_max_page": max(r["cer"] for r in rows), "languages": s.ingest.ocr_languages, "dpi": s.ingest.ocr_dpi,
            "render_dpi_of_the_scan": dpi_render, "per_page": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=2, help="pages per bundled document")
    args = ap.parse_args()
    result = measure(args.pages)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ocr.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "per_page"}, indent=1))


if __name__ == "__main__":
    main()
