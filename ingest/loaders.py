"""Read PDF, TXT, Markdown, HTML and DOCX files into page texts; one clear DocumentError per bad file."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import DocumentError, UnsupportedFormatError

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
DOCX_SUFFIXES = {".docx"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | DOCX_SUFFIXES
MAX_UNPACKED_RATIO = 200  # a DOCX unpacking to 200× its size is a zip bomb, not a document


@dataclass(frozen=True)
class RawDocument:
    """Extracted text, page by page (page is None for formats without pages)."""

    path: Path
    pages: tuple[tuple[int | None, str], ...]
    title_hint: str = ""
    markup: str = "plain"  # "plain" or "markdown": tells the cleaner how headings are marked


def load(path: Path) -> RawDocument:
    """Load one file by its suffix; raise DocumentError naming the file and the problem."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFormatError(
            str(path), f"unsupported file type '{suffix or '(none)'}'",
            "supported: " + ", ".join(sorted(SUPPORTED_SUFFIXES)))
    if path.stat().st_size == 0:
        raise DocumentError(str(path), "file is empty")
    if suffix in PDF_SUFFIXES:
        doc = _load_pdf(path)
    elif suffix in HTML_SUFFIXES:
        doc = _load_html(path)
    elif suffix in DOCX_SUFFIXES:
        doc = _load_docx(path)
    else:
        doc = RawDocument(path, ((None, _read_text(path)),),
                          markup="markdown" if suffix in MARKDOWN_SUFFIXES else "plain")
    if not any(text.strip() for _, text in doc.pages):
        raise DocumentError(str(path), "no extractable text — scanned?" if suffix == ".pdf" else "no text",
                            "run OCR on the PDF first (e.g. ocrmypdf)" if suffix == ".pdf" else "")
    return doc


def _load_pdf(path: Path) -> RawDocument:
    import pypdf
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns loudly on harmless quirks
    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise DocumentError(str(path), "PDF is encrypted", "save an unprotected copy and add that")
            except DocumentError:
                raise
            except Exception as exc:
                raise DocumentError(str(path), f"PDF is encrypted ({exc})",
                                    "save an unprotected copy and add that") from exc
        pages = tuple((i + 1, _page_text(page)) for i, page in enumerate(reader.pages))
        title = ""
        if reader.metadata and reader.metadata.title:
            title = str(reader.metadata.title).strip()
    except DocumentError:
        raise
    except (PdfReadError, Exception) as exc:  # a damaged file makes pypdf raise almost anything (fuzzing found
        # IndexError, ZeroDivisionError, RecursionError, struct.error …): all of them mean "this file is broken"
        raise DocumentError(str(path), f"corrupt or unreadable PDF ({type(exc).__name__}: {str(exc)[:200]})",
                            "re-export or re-download the file") from exc
    if not pages:
        raise DocumentError(str(path), "PDF has no pages")
    return RawDocument(path, pages, title_hint=title)


_COLUMN_GAP = re.compile(r"\S {4,}\S")


def _page_text(page: object) -> str:
    """Layout mode keeps blank lines between paragraphs (plain mode loses them), but it puts
    columns side by side; pages that look multi-column fall back to plain extraction."""
    layout = page.extract_text(extraction_mode="layout") or ""  # type: ignore[attr-defined]
    lines = [ln for ln in layout.split("\n") if ln.strip()]
    if lines and sum(bool(_COLUMN_GAP.search(ln.strip())) for ln in lines) > 0.2 * len(lines):
        return page.extract_text() or ""  # type: ignore[attr-defined]
    return "\n".join(ln.strip() for ln in layout.split("\n"))


def _read_text(path: Path) -> str:
    """Decode UTF-8 (with or without BOM), else cp1252, else latin-1; refuse binary data."""
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise DocumentError(str(path), "looks like binary data, not text",
                            "check the file extension; only real text files can be read")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DocumentError(str(path), "unknown text encoding")  # latin-1 decodes anything; kept for clarity


def _load_docx(path: Path) -> RawDocument:
    """Word documents: paragraphs in order, heading styles as Markdown headings, list paragraphs
    as items, table rows as "cell | cell" lines."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise DocumentError(str(path), f"corrupt or unreadable DOCX ({exc})",
                            "open and save it again in Word or LibreOffice") from exc
    if unpacked > MAX_UNPACKED_RATIO * max(path.stat().st_size, 1) and unpacked > 50 * 1024 * 1024:
        raise DocumentError(str(path), f"DOCX unpacks to {unpacked / 1024 / 1024:.0f} MB (zip bomb?)")
    import docx
    from docx.oxml.ns import qn

    try:
        document = docx.Document(str(path))
        lines: list[str] = []
        for el in document.element.body.iterchildren():
            if el.tag == qn("w:p"):
                lines.append(_docx_paragraph(docx.text.paragraph.Paragraph(el, document)))
            elif el.tag == qn("w:tbl"):
                table = docx.table.Table(el, document)
                for row in table.rows:
                    cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                    if cells:
                        lines.append(" | ".join(cells))
        title = (document.core_properties.title or "").strip()
    except DocumentError:
        raise
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors … on broken parts
        raise DocumentError(str(path), f"corrupt or unreadable DOCX ({type(exc).__name__}: {exc})",
                            "open and save it again in Word or LibreOffice") from exc
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
