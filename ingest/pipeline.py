"""Ingest files into the index: incremental by content hash, one clear reason per skipped file."""
from __future__ import annotations

import copy
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
from assistant.text import count_tokens
from assistant.types import DocumentInfo
from ingest.chunk import chunk_document, document_text
from ingest.clean import Block, clean_pages
from ingest.embed_cache import EmbeddingCache, EmbedStats, embed_texts
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
    embedded: int = 0
    from_cache: int = 0

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
            lines.append(f"  embedded {self.embedded} chunks in {self.embed_seconds:.1f} s, "
                         f"{self.from_cache} taken from the embedding cache")
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


def catalogue_entry(path: Path) -> dict[str, Any]:
    """Catalogue data for one file: its entry in the folder's metadata.json, overlaid by a
    `<file>.meta.json` sidecar. Read before the document itself, so a metadata edit is noticed."""
    meta: dict[str, Any] = {}
    for f, sidecar in ((path.parent / METADATA_FILE, False), (path.with_name(path.name + SIDECAR_SUFFIX), True)):
        if not f.exists():
            continue
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            entry = data if sidecar else data.get(path.name, {})
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            raise DocumentError(str(f), f"invalid metadata JSON ({exc})", "fix or remove the file") from exc
        if not isinstance(entry, dict):
            raise DocumentError(str(f), f"metadata for {path.name} must be a JSON object")
        meta.update(entry)
    return meta


def document_info(path: Path, title_hint: str, first_line: str, meta: dict[str, Any] | None = None) -> DocumentInfo:
    """Catalogue data from metadata.json or a sidecar, else derived from the file itself."""
    meta = catalogue_entry(path) if meta is None else meta
    kind = meta.get("kind", "unknown")
    if kind not in KINDS:
        raise DocumentError(str(path), f"unknown kind '{kind}' in metadata", "use one of: " + ", ".join(KINDS))
    title = meta.get("title") or title_hint or first_line[:120] or path.stem
    year = meta.get("year")
    return DocumentInfo(doc_id=meta.get("doc_id") or _slug(path.stem), title=title, source=path.name, kind=kind,
                        publisher=meta.get("publisher", ""), year=int(year) if year else None,
                        audience=tuple(meta.get("audience", ())))


def read_document(path: Path, meta: dict[str, Any] | None = None) -> tuple[DocumentInfo, list[Block]]:
    """Load and clean one file: its catalogue data and the blocks that are chunked and quoted."""
    meta = catalogue_entry(path) if meta is None else meta
    raw = load(path)
    info = document_info(path, raw.title_hint, "", meta)
    titled = info.title != path.stem  # a real title from the catalogue or the file's own metadata
    blocks = clean_pages(list(raw.pages), raw.markup, title=info.title if titled else "")
    if not blocks:
        raise DocumentError(str(path), "no text left after cleaning")
    if not titled:
        info = document_info(path, raw.title_hint, blocks[0].text, meta)
    return info, blocks


def _fingerprint(meta: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(meta, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def ingest(paths: list[Path], settings: Settings, index: KepolIndex, embedder: Any,
           progress: bool = False, dry_run: bool = False, rebuild: bool = False) -> IngestReport:
    """Load, clean, chunk, embed and stage every new or changed file, then commit the run in one
    step (see KepolIndex.commit): a run that fails or is killed leaves the previous index as it was."""
    t0 = time.perf_counter()
    report = IngestReport()
    files, folders = discover(paths)
    if rebuild and not dry_run:
        index.reset()
    manifest = copy.deepcopy(index.manifest())
    manifest.pop("keyword_index", None)
    docs: dict[str, Any] = manifest["documents"]
    by_hash = {v["sha256"]: k for k, v in docs.items()}
    seen_sources: set[str] = set()
    cache = None if dry_run else EmbeddingCache(settings.data_dir / "embedding-cache.sqlite3", settings.embed_model)
    stats = EmbedStats()
    bar = _Progress(len(files), progress, stats)
    changed = False
    try:
        for path in files:
            bar.file(path.name)
            seen_sources.add(str(path))
            try:
                result = _ingest_file(path, settings, index, embedder, docs, by_hash, cache, stats, bar, dry_run)
            except DocumentError as exc:
                where = "" if exc.path == str(path) else f"{exc.path}: "  # e.g. a broken metadata.json
                result = FileResult(str(path), "skipped",
                                    reason=where + exc.problem + (f" ({exc.hint})" if exc.hint else ""))
            changed |= result.status == "ingested"
            report.results.append(result)
            bar.done()
    finally:
        bar.close()
        if cache:
            cache.close()
    for doc_id, entry in list(docs.items()):
        src = Path(entry["path"])
        if str(src) not in seen_sources and any(src.is_relative_to(f) for f in folders) and not src.exists():
            del docs[doc_id]
            changed = True
            report.results.append(FileResult(str(src), "removed", doc_id, reason="file no longer exists"))
    if not dry_run and (changed or "keyword_index" not in index.manifest() and docs):
        index.commit(manifest)
    elif not dry_run and index.orphan_count():
        index.collect_garbage()  # chunks left behind by an earlier run that was killed
    report.chunks_total = sum(len(d.get("chunk_ids", ())) for d in docs.values()) if dry_run else index.count()
    report.embedded, report.from_cache, report.embed_seconds = stats.embedded, stats.cached, stats.seconds
    report.seconds = time.perf_counter() - t0
    return report


def _ingest_file(path: Path, settings: Settings, index: KepolIndex, embedder: Any, docs: dict[str, Any],
                 by_hash: dict[str, str], cache: EmbeddingCache | None, stats: EmbedStats, bar: _Progress,
                 dry_run: bool) -> FileResult:
    size = path.stat().st_size
    if size > settings.max_file_mb * 1024 * 1024:
        raise DocumentError(str(path), f"file is {size / 1024 / 1024:.1f} MB, over the limit of "
                            f"{settings.max_file_mb:g} MB", "raise KEPOL_MAX_FILE_MB or split the document")
    sha = _sha256(path)
    meta = catalogue_entry(path)
    meta_fp = _fingerprint(meta)
    owner = by_hash.get(sha)
    if owner and docs[owner]["path"] == str(path) and docs[owner].get("catalogue") == meta_fp:
        return FileResult(str(path), "unchanged", owner, docs[owner]["chunks"])
    if owner and docs[owner]["path"] != str(path) and Path(docs[owner]["path"]).exists():
        return FileResult(str(path), "duplicate", owner, reason=f"same content as {docs[owner]['source']}")
    info, blocks = read_document(path, meta)
    clash = docs.get(info.doc_id)
    if clash and clash["path"] != str(path) and Path(clash["path"]).exists():
        info = DocumentInfo(**{**info.__dict__, "doc_id": f"{info.doc_id}-{sha[:6]}"})
    passages = chunk_document(blocks, info, settings.chunk_tokens, settings.chunk_overlap_tokens)
    if dry_run:
        return FileResult(str(path), "ingested", info.doc_id, len(passages), reason="dry run: would ingest")
    embeddings = embed_texts([search_text(p) for p in passages], embedder.get_text_embedding_batch, cache, stats,
                             on_batch=bar.chunks)
    index.stage(passages, embeddings)
    text_file = index.stage_text(info.doc_id, sha, document_text(blocks)[0])
    # a renamed or replaced file keeps no stale entry under its old id
    for old_id, entry in list(docs.items()):
        if (entry["path"] == str(path) or entry["sha256"] == sha) and old_id != info.doc_id:
            del docs[old_id]
    pages = max((p.page_end or 0) for p in passages) or None
    docs[info.doc_id] = {
        "path": str(path), "source": info.source, "sha256": sha, "catalogue": meta_fp, "title": info.title,
        "kind": info.kind, "publisher": info.publisher, "year": info.year, "audience": list(info.audience),
        "pages": pages, "chunks": len(passages), "chunk_ids": [p.chunk_id for p in passages],
        "text_file": text_file,
        "tokens": sum(count_tokens(p.text) for p in passages),
        "ingested_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    by_hash[sha] = info.doc_id
    return FileResult(str(path), "ingested", info.doc_id, len(passages))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Progress:
    """tqdm's documents per second, plus chunks per second and cache hits as its postfix."""

    def __init__(self, total: int, enabled: bool, stats: EmbedStats) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="doc", disable=not enabled, desc="Ingest", dynamic_ncols=True)
        self.stats = stats
        self.t0 = time.perf_counter()

    def file(self, name: str) -> None:
        self.bar.set_description_str(f"Ingest {name[:24]}")

    def chunks(self, _n: int = 0) -> None:
        done = self.stats.embedded + self.stats.cached
        rate = done / max(time.perf_counter() - self.t0, 1e-6)
        self.bar.set_postfix_str(f"{done} chunks, {rate:.1f} chunks/s, {self.stats.cached} cached", refresh=False)

    def done(self) -> None:
        self.bar.update(1)
        self.chunks()

    def close(self) -> None:
        self.bar.close()
