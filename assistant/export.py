"""A conversation as Markdown, every answer followed by its sources (title, page, exact quote), so it
can be filed or mailed and still be checked against the documents."""
from __future__ import annotations

from datetime import datetime, timezone

from assistant.types import Answer


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
