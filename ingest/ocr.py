"""Text from scanned pages and images: Tesseract with German and English data, called directly.

Pages are rendered by poppler's `pdftoppm` and read by the `tesseract` program (Debian packages
`poppler-utils`, `tesseract-ocr`, `tesseract-ocr-deu`). Both are called as programs: pytesseract
would call the same binary through the same kind of subprocess, and ocrmypdf rewrites the whole PDF
(text layer, optimisation) when all we need is the text of a few pages. Protected files are
rendered from a decrypted copy in a private temporary folder, so no password reaches a command line.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
# Tesseract's OpenMP threads spin against each other and against embedding: one page took 19 s with
# them and 2.1 s without on 2 cores (the ingest helper thread already overlaps OCR with embedding)
_ONE_THREAD = {**os.environ, "OMP_THREAD_LIMIT": "1"}
INSTALL_HINT = "install Tesseract with German data (Debian: apt-get install tesseract-ocr tesseract-ocr-deu poppler-utils)"


class OCRUnavailable(Exception):
    """Tesseract, its language data or the PDF renderer is missing; the message says what to install."""


@lru_cache(maxsize=1)
def _languages() -> frozenset[str]:
    exe = shutil.which("tesseract")
    if exe is None:
        return frozenset()
    out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    return frozenset(ln.strip() for ln in (out.stdout + out.stderr).splitlines()[1:] if ln.strip())


def check(languages: str, pdf: bool = True) -> None:
    """Raise OCRUnavailable unless Tesseract with every language of "deu+eng" (and, for PDFs,
    pdftoppm) can run here."""
    if shutil.which("tesseract") is None:
        raise OCRUnavailable(f"no OCR available: {INSTALL_HINT}")
    missing = [x for x in languages.split("+") if x and x not in _languages()]
    if missing:
        raise OCRUnavailable(f"no OCR language data for {', '.join(missing)}: {INSTALL_HINT}")
    if pdf and shutil.which("pdftoppm") is None:
        raise OCRUnavailable(f"no PDF renderer for OCR: {INSTALL_HINT}")


def read_image(path: Path, languages: str, timeout: float = 300) -> str:
    """The text Tesseract reads in one image (PNG, JPEG, TIFF)."""
    check(languages, pdf=False)
    out = subprocess.run(["tesseract", str(path), "stdout", "-l", languages], capture_output=True, text=True,
                         timeout=timeout, env=_ONE_THREAD)
    if out.returncode != 0:
        raise RuntimeError(f"tesseract failed ({out.stderr.strip()[:200]})")
    return out.stdout


def read_pdf_pages(pdf: Path, pages: list[int], languages: str, dpi: int, decrypted: bytes | None = None,
                   timeout: float = 300) -> dict[int, str]:
    """OCR text of the given pages (1-based). `decrypted`: the file's bytes without protection,
    written to a private temporary folder for the renderer."""
    check(languages)
    out: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="kepol-ocr-") as tmp:
        source = pdf
        if decrypted is not None:
            source = Path(tmp) / "decrypted.pdf"
            source.write_bytes(decrypted)
        for n in pages:
            image = Path(tmp) / f"page-{n}"
            r = subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(n), "-l", str(n), "-gray", "-png",
                                "-singlefile", str(source), str(image)], capture_output=True, text=True,
                               timeout=timeout)
            if r.returncode != 0:
                raise RuntimeError(f"pdftoppm failed on page {n} ({r.stderr.strip()[:200]})")
            out[n] = read_image(image.with_suffix(".png"), languages, timeout)
    return out
