"""What an ingest run reports: one result per file, and the run's figures."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    path: str
    status: str  # ingested | unchanged | duplicate | skipped | removed
    doc_id: str = ""
    chunks: int = 0
    reason: str = ""
    reason_de: str = ""  # the same reason in German (for the German faces)
    pages: int = 0
    ocr_pages: tuple[int, ...] = ()  # read by OCR
    empty_pages: tuple[int, ...] = ()  # left without text (reason in `reason`)
    protected: bool = False  # a protected PDF that was opened


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    chunks_total: int = 0
    embedded: int = 0
    from_cache: int = 0
    sentences_embedded: int = 0  # sentence vectors (answers score sentences by meaning), besides chunks
    # seconds per stage: hash, parse, clean, chunk (run ahead in a helper thread, so they overlap
    # embedding), embed (model calls only), write (Chroma), commit (keyword index, manifest, clean-up)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    set_aside: str = ""  # where a damaged vector store was moved (`--rebuild` repairs by starting afresh)
    cleanup_error: str = ""  # collecting after the commit failed: the commit stands, the next run retries

    def by_status(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def usable(self) -> bool:
        """False when nothing this run was given could be used (every file skipped) or the
        index is empty: the CLI then exits non-zero."""
        given = [r for r in self.results if r.status != "removed"]
        return self.chunks_total > 0 and (not given or any(r.status != "skipped" for r in given))

    def summary(self) -> str:
        parts = [f"{len(self.by_status(s))} {label}" for s, label in
                 (("ingested", "ingested"), ("unchanged", "unchanged"), ("duplicate", "duplicates"),
                  ("skipped", "skipped"), ("removed", "removed"))]
        lines = [", ".join(parts) + f" — {self.chunks_total} chunks in the index, {self.seconds:.1f} s"]
        if self.embedded or self.from_cache:
            lines.append(f"  embedded {self.embedded} chunks and {self.sentences_embedded} sentences in "
                         f"{self.embed_seconds:.1f} s, {self.from_cache} chunks taken from the embedding cache")
        for r in self.by_status("ingested"):
            if r.ocr_pages:
                lines.append(f"  OCR {r.path}: {len(r.ocr_pages)} of {r.pages} pages read by text recognition")
            if r.empty_pages:
                lines.append(f"  pages lost {r.path}: {len(r.empty_pages)} of {r.pages} pages without text"
                             f" ({r.reason}): pages {', '.join(map(str, r.empty_pages))}")
            if r.protected:
                lines.append(f"  protected {r.path}: opened")
        lines += [f"  skipped {r.path}: {r.reason}" for r in self.by_status("skipped")]
        lines += [f"  duplicate {r.path}: {r.reason}" for r in self.by_status("duplicate")]
        return "\n".join(lines)
