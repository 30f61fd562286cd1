"""Small PDFs written on the fly for tests and benchmarks: plain text pages, and protected copies
made with pypdf's own writer (RC4-128, AES-128, AES-256)."""
from __future__ import annotations

from pathlib import Path

import pypdf
from fpdf import FPDF


def text_pdf(path: Path, pages: list[str]) -> Path:
    """A PDF with one page per text ("" gives a blank page)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def protected_copy(source: Path, target: Path, algorithm: str, user: str = "", owner: str = "eigentuemer-7") -> Path:
    """`source` encrypted with `algorithm`; printing allowed, copying and editing restricted, as
    ministries' and associations' publications often are. An empty `user` password opens it for anyone."""
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(str(source)))
    writer.encrypt(user_password=user, owner_password=owner, algorithm=algorithm,
                   permissions_flag=pypdf.constants.UserAccessPermissions.PRINT)
    with target.open("wb") as f:
        writer.write(f)
    return target
