"""A conversation as Markdown, every answer followed by its sources (title, page, exact quote), so it
can be filed or mailed and still be checked against the documents."""
from __future__ import annotations

import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from assistant.core.types import Answer


def conversation_markdown(turns: list[Answer]) -> str:
    lines = ["# KEPol-Assistent – Gesprächsprotokoll", "",
             f"Exportiert am {datetime.now(timezone.utc).strftime('%d.%m.%Y %H:%M')} UTC", ""]
    for i, a in enumerate(turns, 1):
        lines += [f"## Frage {i}", "", _quote_block(a.question), "", "**Antwort:**", "", a.answer, ""]
        if a.notice:
            lines += [f"*Hinweis: {a.notice}*", ""]
        if a.citations:
            lines.append("**Quellen:**")
            lines.append("")
            for c in a.citations:
                page = f", S. {c.page}" if c.page else ""
                lines.append(f"{c.n}. {c.title}{page} ({c.source}): „{' '.join(c.quote.split())}“")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _quote_block(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines() or [""])


EXPORTS = Path(tempfile.gettempdir()) / "kepol-exports"


def export_file(answers: list[Answer]) -> Path:
    """The conversation as a Markdown file for download, in a folder `purge_exports` can clean."""
    EXPORTS.mkdir(mode=0o700, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="chat-", dir=EXPORTS)) / "kepol-gespraech.md"
    path.write_text(conversation_markdown(list(answers)), encoding="utf-8")
    return path


def purge_exports(older_than_days: float | None = None) -> int:
    """Delete exported conversations (all, or those older than `older_than_days`); returns how many."""
    if not EXPORTS.exists():
        return 0
    limit = None if older_than_days is None else time.time() - older_than_days * 86400
    n = 0
    for d in EXPORTS.glob("chat-*"):
        if limit is None or d.stat().st_mtime < limit:
            shutil.rmtree(d, ignore_errors=True)
            n += 1
    return n
