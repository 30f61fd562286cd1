"""Ingest files into the index: incremental by content hash, one clear reason per skipped file."""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from assistant.errors import DocumentError
from assistant.index import KepolIndex, search_text
from assistant.settings import Settings
from assistant.types import DocumentInfo
from ingest.chunk import chunk_document
from ingest.clean import clean_pages
from ingest.loaders import load

METADATA_FILE = "metadata.json"
SIDECAR_SUFFIX = ".meta.json"
KINDS = ("declaration", "position paper", "service brochure", "web article", "unknown")


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    path: str
    status: str  # ingested | unchanged | duplicate | skipped | removed
    doc_id: str = ""
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    chunks_total: int = 0

    def by_status(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def usable(self) -> bool:
        """True when the index holds something to answer from after this run."""
        return self.chunks_total > 0

    def summary(self) -> str:
        parts = [f"{len(self.by_status(s))} {label}" for s, label in
                 (("ingested", "ingested"), ("unchanged", "unchanged"), ("duplicate", "duplicates"),
                  ("skipped", "skipped"), ("removed", "removed"))]
        lines = [", ".join(parts) + f" — {self.chunks_total} chunks in the index, {self.seconds:.1f} s"]
        lines += [f"  skipped {r.path}: {r.reason}" for r in self.by_status("skipped")]
        lines += [f"  duplicate {r.path}: {r.reason}" for r in self.by_status("duplicate")]
        return "\n".join(lines)


def discover(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Files to ingest, and the folders whose vanished documents should be removed from the index."""
    files: list[Path] = []
    folders: list[Path] = []
    for p in paths:
        p = p.resolve()
        if p.is_dir():
            folders.append(p)
            files += sorted(f for f in p.rglob("*") if f.is_file() and not _ignored(f))
        elif p.is_file():
            files.append(p)
        else:
            raise DocumentError(str(p), "no such file or folder")
    return files, folders


def _ignored(f: Path) -> bool:
    return (f.name.startswith(".") or f.name == METADATA_FILE or f.name.endswith(SIDECAR_SUFFIX)
            or f.name.lower() in {"readme.md", "readme.txt"})


def _slug(s: str) -> str:
    s = s.lower().translate(str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}))
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-") or "dokument"


def document_info(path: Path, title_hint: str, first_line: str) -> DocumentInfo:
    """Catalogue data from the folder's metadata.json or a `<file>.meta.json` sidecar, else derived."""
    meta: dict[str, Any] = {}
    folder_meta = path.parent / METADATA_FILE
    if folder_meta.exists():
        try:
            meta = json.loads(folder_meta.read_text(encoding="utf-8")).get(path.name, {})
        except (json.JSONDecodeError, AttributeError) as exc:
            raise DocumentError(str(folder_meta), f"invalid metadata JSON ({exc})") from exc
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if sidecar.exists():
        try:
            meta = {**meta, **json.loads(sidecar.read_text(encoding="utf-8"))}
        except json.JSONDecodeError as exc:
            raise DocumentError(str(sidecar), f"invalid metadata JSON ({exc})") from exc
    kind = meta.get("kind", "unknown")
    if kind not in KINDS:
        raise DocumentError(str(path), f"unknown kind '{kind}' in metadata", "use one of: " + ", ".join(KINDS))
    title = meta.get("title") or title_hint or first_line[:120] or path.stem
    year = meta.get("year")
    return DocumentInfo(doc_id=meta.get("doc_id") or _slug(path.stem), title=title, source=path.name, kind=kind,
                        publisher=meta.get("publisher", ""), year=int(year) if year else None,
                        audience=tuple(meta.get("audience", ())))


def ingest(paths: list[Path], settings: Settings, index: KepolIndex, embedder: Any,
           progress: bool = False, dry_run: bool = False) -> IngestReport:
    """Load, clean, chunk, embed and store every new or changed file; skip bad files with a reason."""
    t0 = time.perf_counter()
    report = IngestReport()
    files, folders = discover(paths)
    manifest = index.manifest()
    docs: dict[str, Any] = manifest["documents"]
    by_hash = {v["sha256"]: k for k, v in docs.items()}
    seen_sources: set[str] = set()
    bar = _bar(len(files), progress)
    changed = False
    for path in files:
        bar.set_postfix_str(path.name[:30])
        seen_sources.add(str(path))
        try:
            result = _ingest_file(path, settings, index, embedder, docs, by_hash, report, dry_run)
        except DocumentError as exc:
            result = FileResult(str(path), "skipped", reason=exc.problem + (f" ({exc.hint})" if exc.hint else ""))
        changed |= result.status == "ingested"
        report.results.append(result)
        bar.update(1)
    bar.close()
    for doc_id, entry in list(docs.items()):
        src = Path(entry["path"])
        if str(src) not in seen_sources and any(src.is_relative_to(f) for f in folders) and not src.exists():
            if not dry_run:
                index.delete_document(doc_id)
                del docs[doc_id]
            changed = True
            report.results.append(FileResult(str(src), "removed", doc_id, reason="file no longer exists"))
    if changed and not dry_run:
        index.write_manifest(manifest)
        index.rebuild_keyword_index()
    elif not (index.dir / "bm25").exists() and index.count() and not dry_run:
        index.rebuild_keyword_index()
    report.chunks_total = index.count()
    report.seconds = time.perf_counter() - t0
    return report


def _ingest_file(path: Path, settings: Settings, index: KepolIndex, embedder: Any, docs: dict[str, Any],
                 by_hash: dict[str, str], report: IngestReport, dry_run: bool) -> FileResult:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    owner = by_hash.get(sha)
    if owner and docs[owner]["path"] == str(path):
        return FileResult(str(path), "unchanged", owner, docs[owner]["chunks"])
    if owner and Path(docs[owner]["path"]).exists():
        return FileResult(str(path), "duplicate", owner, reason=f"same content as {docs[owner]['source']}")
    raw = load(path)
    info = document_info(path, raw.title_hint, "")
    titled = info.title != path.stem  # a real title from the catalogue or the file's own metadata
    blocks = clean_pages(list(raw.pages), raw.markup, title=info.title if titled else "")
    if not blocks:
        raise DocumentError(str(path), "no text left after cleaning")
    if not titled:
        info = document_info(path, raw.title_hint, blocks[0].text)
    clash = docs.get(info.doc_id)
    if clash and clash["path"] != str(path) and Path(clash["path"]).exists():
        info = DocumentInfo(**{**info.__dict__, "doc_id": f"{info.doc_id}-{sha[:6]}"})
    passages = chunk_document(blocks, info, settings.chunk_tokens, settings.chunk_overlap_tokens)
    if dry_run:
        return FileResult(str(path), "ingested", info.doc_id, len(passages), reason="dry run: would ingest")
    t = time.perf_counter()
    embeddings = embedder.get_text_embedding_batch([search_text(p) for p in passages])
    report.embed_seconds += time.perf_counter() - t
    # a renamed file keeps no stale copy under its old id
    for old_id, entry in list(docs.items()):
        if entry["path"] == str(path) and old_id != info.doc_id:
            index.delete_document(old_id)
            del docs[old_id]
    index.replace_document(info.doc_id, passages, embeddings)
    pages = max((p.page_end or 0) for p in passages) or None
    docs[info.doc_id] = {
        "path": str(path), "source": info.source, "sha256": sha, "title": info.title, "kind": info.kind,
        "publisher": info.publisher, "year": info.year, "audience": list(info.audience), "pages": pages,
        "chunks": len(passages), "ingested_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    by_hash[sha] = info.doc_id
    return FileResult(str(path), "ingested", info.doc_id, len(passages))


def _bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="doc", disable=not enabled, desc="Ingest", dynamic_ncols=True)
