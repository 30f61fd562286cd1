"""Read PDF, TXT, Markdown, HTML and DOCX files into page texts; one clear DocumentError per bad file."""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.errors import DocumentError, UnsupportedFormatError, register_secret
from ingest.ocr import IMAGE_SUFFIXES, OCRUnavailable, read_image, read_pdf_pages

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
DOCX_SUFFIXES = {".docx"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | DOCX_SUFFIXES | IMAGE_SUFFIXES
MAX_UNPACKED_RATIO = 200  # a DOCX unpacking to 200× its size is a zip bomb, not a document


@dataclass(frozen=True)
class ReadOptions:
    """How to read: the password of a protected PDF, and whether and how to run OCR."""

    password: str | None = None
    ocr: bool = True
    ocr_languages: str = "deu+eng"
    ocr_dpi: int = 300


@dataclass(frozen=True)
class RawDocument:
    """Extracted text, page by page (page is None for formats without pages)."""

    path: Path
    pages: tuple[tuple[int | None, str], ...]
    title_hint: str = ""
    markup: str = "plain"  # "plain" or "markdown": tells the cleaner how headings are marked
    ocr_pages: tuple[int, ...] = ()  # pages whose text Tesseract read (1 for an image file)
    empty_pages: tuple[int, ...] = ()  # pages left without text (OCR off, missing or empty)
    ocr_problem: str = ""  # why pages stayed empty, when OCR could not run

    @property
    def empty_reason(self) -> str:
        """Why some pages have no text: OCR could not run, or it ran and found none."""
        if not self.empty_pages:
            return ""
        return self.ocr_problem or "text recognition found no text: blank or picture-only pages"

    @property
    def empty_reason_de(self) -> str:
        if not self.empty_pages:
            return ""
        return ("Seiten ohne Text: die Texterkennung konnte nicht laufen" if self.ocr_problem else
                "Seiten ohne Text: auch die Texterkennung fand keinen (leere Seiten oder nur Bilder)")

    protected: bool = False  # a protected PDF that was opened
    ocr_seconds: float = 0.0


DOCX_BROKEN_DE = "Das DOCX ist beschädigt oder nicht lesbar; bitte in Word oder LibreOffice neu speichern."


def load(path: Path, options: ReadOptions | None = None) -> RawDocument:
    """Load one file by its suffix; raise DocumentError naming the file and the problem. A document
    is only refused as a whole when no page has any text, after OCR where it could run."""
    options = options or ReadOptions()
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFormatError(
            str(path), f"unsupported file type '{suffix or '(none)'}'",
            "supported: " + ", ".join(sorted(SUPPORTED_SUFFIXES)))
    if path.stat().st_size == 0:
        raise DocumentError(str(path), "file is empty", de="Die Datei ist leer.")
    if suffix in PDF_SUFFIXES:
        doc = _load_pdf(path, options)
    elif suffix in IMAGE_SUFFIXES:
        doc = _load_image(path, options)
    elif suffix in HTML_SUFFIXES:
        doc = _load_html(path)
    elif suffix in DOCX_SUFFIXES:
        doc = _load_docx(path)
    else:
        doc = RawDocument(path, ((None, _read_text(path)),),
                          markup="markdown" if suffix in MARKDOWN_SUFFIXES else "plain")
    if not any(text.strip() for _, text in doc.pages):
        if doc.ocr_problem:
            raise DocumentError(str(path), f"no extractable text — scanned? ({doc.ocr_problem})",
                                de="Kein Text lesbar – ein Scan? Die Texterkennung konnte nicht laufen.")
        if suffix in PDF_SUFFIXES or suffix in IMAGE_SUFFIXES:
            raise DocumentError(str(path), "no text on any page, also not by OCR (blank pages or an empty scan?)",
                                de="Auf keiner Seite Text, auch nicht per Texterkennung (leere Seiten, leerer Scan?).")
        raise DocumentError(str(path), "no text", de="Die Datei enthält keinen Text.")
    return doc


def _open_pdf(path: Path, password: str | None) -> tuple[object, bool]:
    """A pypdf reader, decrypted when the file is protected: first with the empty user password
    (what every PDF viewer does for files that only restrict printing or copying), then with the
    configured password. Returns (reader, protected)."""
    import pypdf
    from pypdf.errors import DependencyError

    reader = pypdf.PdfReader(str(path))
    if not reader.is_encrypted:
        return reader, False
    if password:
        register_secret(password)
    for pw in ("", password) if password else ("",):
        try:
            if reader.decrypt(pw):
                return reader, True
        except DependencyError as exc:
            raise DocumentError(str(path), f"protected PDF needs the cryptography package ({exc})",
                                "pip install 'pypdf[crypto]'",
                                de="Geschütztes PDF: dafür fehlt das Paket cryptography.") from exc
        except Exception as exc:  # pypdf raises plain errors on malformed encryption dictionaries
            raise DocumentError(str(path), f"protected PDF could not be decrypted ({type(exc).__name__}: {exc})",
                                "save an unprotected copy and add that",
                                de="Geschütztes PDF nicht zu entschlüsseln; bitte eine ungeschützte Kopie.") from exc
    if password:
        raise DocumentError(str(path), "protected PDF: the password given for it does not open it",
                            "check `password` in its metadata entry or sidecar, or KEPOL_PDF_PASSWORD",
                            de="Geschütztes PDF: das hinterlegte Passwort öffnet es nicht.")
    raise DocumentError(str(path), "protected PDF needs a password to open",
                        "give it as `password` in the file's metadata entry or sidecar, or set KEPOL_PDF_PASSWORD",
                        de="Geschütztes PDF: zum Öffnen ist ein Passwort nötig.")


def _load_pdf(path: Path, options: ReadOptions) -> RawDocument:
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns loudly on harmless quirks
    try:
        reader, protected = _open_pdf(path, options.password)
        pages = [(i + 1, _page_text(page)) for i, page in enumerate(reader.pages)]  # type: ignore[attr-defined]
        title = ""
        meta = reader.metadata  # type: ignore[attr-defined]
        if meta and meta.title:
            title = str(meta.title).strip()
    except DocumentError:
        raise
    except (PdfReadError, Exception) as exc:  # a damaged file makes pypdf raise almost anything (fuzzing found
        # IndexError, ZeroDivisionError, RecursionError, struct.error …): all of them mean "this file is broken"
        raise DocumentError(str(path), f"corrupt or unreadable PDF ({type(exc).__name__}: {str(exc)[:200]})",
                            "re-export or re-download the file",
                            de="Das PDF ist beschädigt oder nicht lesbar; bitte neu exportieren.") from exc
    if not pages:
        raise DocumentError(str(path), "PDF has no pages", de="Das PDF hat keine Seiten.")
    empty = [n for n, text in pages if not text.strip()]
    ocr_pages: tuple[int, ...] = ()
    problem, seconds = "", 0.0
    if empty and not options.ocr:
        problem = "OCR is switched off (KEPOL_OCR=0)"
    elif empty:
        t = time.perf_counter()
        try:
            decrypted = _decrypted_bytes(reader) if protected else None
            read = read_pdf_pages(path, empty, options.ocr_languages, options.ocr_dpi, decrypted)
        except OCRUnavailable as exc:
            problem = str(exc)
        except Exception as exc:  # a renderer or Tesseract failing on one file must not end the run
            problem = f"OCR failed ({type(exc).__name__}: {str(exc)[:200]})"
        else:
            pages = [(n, read.get(n, text)) for n, text in pages]
            ocr_pages = tuple(n for n in empty if read.get(n, "").strip())
        seconds = time.perf_counter() - t
    still_empty = tuple(n for n, text in pages if not text.strip())
    return RawDocument(path, tuple(pages), title_hint=title, ocr_pages=ocr_pages, empty_pages=still_empty,
                       ocr_problem=problem if still_empty else "", protected=protected, ocr_seconds=seconds)


def _decrypted_bytes(reader: Any) -> bytes:
    """The opened document written without protection (for the renderer; kept in memory only)."""
    import io

    import pypdf

    out = io.BytesIO()
    writer = pypdf.PdfWriter(clone_from=reader)
    writer.write(out)
    return out.getvalue()


def _load_image(path: Path, options: ReadOptions) -> RawDocument:
    """An image file is one scanned page: read by OCR, or skipped with what to install."""
    if not options.ocr:
        raise DocumentError(str(path), "an image can only be read by OCR, which is switched off",
                            "unset KEPOL_OCR=0 to read images",
                            de="Ein Bild lässt sich nur per Texterkennung lesen, und die ist ausgeschaltet.")
    t = time.perf_counter()
    try:
        text = read_image(path, options.ocr_languages)
    except OCRUnavailable as exc:
        raise DocumentError(str(path), str(exc), de="Die Texterkennung (Tesseract) ist nicht verfügbar.") from exc
    except Exception as exc:
        raise DocumentError(str(path), f"OCR failed ({type(exc).__name__}: {str(exc)[:200]})",
                            "check that the file is a readable image",
                            de="Die Texterkennung ist gescheitert; ist die Datei ein lesbares Bild?") from exc
    return RawDocument(path, ((1, text),), ocr_pages=(1,) if text.strip() else (),
                       empty_pages=() if text.strip() else (1,), ocr_seconds=time.perf_counter() - t)


_COLUMN_GAP = re.compile(r"\S {4,}\S")


def _page_text(page: object) -> str:
    """Layout mode keeps blank lines between paragraphs (plain mode loses them), but it puts
    columns side by side; pages that look multi-column, and pages where layout mode finds nothing
    (it misses text that plain extraction sees), use plain extraction."""
    layout = page.extract_text(extraction_mode="layout") or ""  # type: ignore[attr-defined]
    lines = [ln for ln in layout.split("\n") if ln.strip()]
    if not lines or sum(bool(_COLUMN_GAP.search(ln.strip())) for ln in lines) > 0.2 * len(lines):
        return page.extract_text() or ""  # type: ignore[attr-defined]
    return "\n".join(ln.strip() for ln in layout.split("\n"))


def _read_text(path: Path) -> str:
    """Decode UTF-8 (with or without BOM), else cp1252, else latin-1; refuse binary data."""
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise DocumentError(str(path), "looks like binary data, not text",
                            "check the file extension; only real text files can be read",
                            de="Der Inhalt ist kein Text (Binärdaten); passt die Dateiendung?")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    # latin-1 decodes anything; kept for clarity
    raise DocumentError(str(path), "unknown text encoding", de="Unbekannte Zeichenkodierung.")


def _load_docx(path: Path) -> RawDocument:
    """Word documents: paragraphs in order, heading styles as Markdown headings, list paragraphs
    as items, table rows as "cell | cell" lines."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise DocumentError(str(path), f"corrupt or unreadable DOCX ({exc})",
                            "open and save it again in Word or LibreOffice",
                            de=DOCX_BROKEN_DE) from exc
    if unpacked > MAX_UNPACKED_RATIO * max(path.stat().st_size, 1) and unpacked > 50 * 1024 * 1024:
        raise DocumentError(str(path), f"DOCX unpacks to {unpacked / 1024 / 1024:.0f} MB (zip bomb?)",
                            de=f"Das DOCX entpackt sich zu {unpacked / 1024 / 1024:.0f} MB (Zip-Bombe?).")
    import docx
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
        lines: list[str] = []
        for el in document.element.body.iterchildren():
            if el.tag == qn("w:p"):
                lines.append(_docx_paragraph(Paragraph(el, document)))
            elif el.tag == qn("w:tbl"):
                table = Table(el, document)
                for row in table.rows:
                    cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                    if cells:
                        lines.append(" | ".join(cells))
        title = (document.core_properties.title or "").strip()
    except DocumentError:
        raise
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors … on broken parts
        raise DocumentError(str(path), f"corrupt or unreadable DOCX ({type(exc).__name__}: {exc})",
                            "open and save it again in Word or LibreOffice",
                            de=DOCX_BROKEN_DE) from exc
    return RawDocument(path, ((None, "\n\n".join(ln for ln in lines if ln)),), title_hint=title, markup="markdown")


def _docx_paragraph(par: object) -> str:
    text = par.text.strip()  # type: ignore[attr-defined]
    if not text:
        return ""
    style = (par.style.name or "") if par.style is not None else ""  # type: ignore[attr-defined]
    level = re.search(r"(?:Heading|Überschrift)\s*(\d)", style)
    if level or style in ("Title", "Titel"):
        return "#" * (int(level.group(1)) if level else 1) + " " + text
    numbered = par._p.pPr is not None and par._p.pPr.numPr is not None  # type: ignore[attr-defined]
    if numbered or "List" in style or "Liste" in style:
        return "• " + text
    return text


_BLOCK_TAGS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr", "section", "article")


def _load_html(path: Path) -> RawDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_text(path), "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "footer", "header", "form"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    # Headings become Markdown headings, list items bullets, so the cleaner keeps structure.
    for level in range(1, 7):
        for h in soup.find_all(f"h{level}"):
            h.insert_before("\n\n" + "#" * level + " ")
            h.insert_after("\n\n")
    for li in soup.find_all("li"):
        li.insert_before("\n• ")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_after("\n")
    body = soup.body or soup
    text = re.sub(r"[ \t]+", " ", body.get_text())
    return RawDocument(path, ((None, text),), title_hint=title, markup="markdown")
