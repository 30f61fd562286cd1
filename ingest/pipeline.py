"""Ingest files into the index: incremental by content hash, one clear reason per skipped file."""
from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.errors import ChromaError

from assistant.core.errors import DocumentError, WriteError
from assistant.storage import DocumentRecord, IndexWriter, KepolIndex, Manifest, search_text
from assistant.core.settings import Settings
from assistant.core.text import count_tokens, keyword_terms, unit_texts
from assistant.core.types import KINDS, DocumentInfo, Passage
from ingest.chunk import chunk_document, document_text
from ingest.clean import Block, clean_pages
from ingest.embed_cache import EmbeddingCache, EmbedStats, embed_texts
from ingest.loaders import RawDocument, ReadOptions, load

METADATA_FILE = "metadata.json"
SIDECAR_SUFFIX = ".meta.json"


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    path: str
    status: str  # ingested | unchanged | duplicate | skipped | removed
    doc_id: str = ""
    chunks: int = 0
    reason: str = ""
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


def discover(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
    """Files to ingest, and the folders whose vanished documents should be removed from the index."""
    files: list[Path] = []
    folders: list[Path] = []
    for given in paths:
        p = Path(given).resolve()
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
    umlauts: dict[str, str | int | None] = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}
    s = s.lower().translate(str.maketrans(umlauts))
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-") or "dokument"


def catalogue_entry(path: Path) -> dict[str, Any]:
    """Catalogue data for one file: its entry in the folder's metadata.json, overlaid by a
    `<file>.meta.json` sidecar. Read before the document itself, so a metadata edit is noticed."""
    meta: dict[str, Any] = {}
    for f, sidecar in ((path.parent / METADATA_FILE, False), (path.with_name(path.name + SIDECAR_SUFFIX), True)):
        try:
            st = f.stat()
        except FileNotFoundError:
            continue
        try:
            data = _read_json(str(f), st.st_mtime_ns, st.st_size)
            entry = data if sidecar else data.get(path.name, {})
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            raise DocumentError(str(f), f"invalid metadata JSON ({exc})", "fix or remove the file") from exc
        if not isinstance(entry, dict):
            raise DocumentError(str(f), f"metadata for {path.name} must be a JSON object")
        meta.update(entry)
    return meta


@lru_cache(maxsize=64)
def _read_json(path: str, mtime_ns: int, size: int) -> Any:
    """A catalogue file parsed once per version (a folder of thousands of files shares one
    metadata.json; parsing it per file made big folders quadratic). Callers must not mutate it."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def document_info(path: Path, title_hint: str, first_line: str, meta: dict[str, Any] | None = None) -> DocumentInfo:
    """Catalogue data from metadata.json or a sidecar, else derived from the file itself."""
    meta = catalogue_entry(path) if meta is None else meta
    kind = meta.get("kind", "unknown")
    if kind not in KINDS:
        raise DocumentError(str(path), f"unknown kind '{kind}' in metadata", "use one of: " + ", ".join(KINDS))
    title = meta.get("title") or title_hint or first_line[:120] or path.stem
    year, valid_from = meta.get("year"), meta.get("valid_from")
    for name, value in (("year", year), ("valid_from", valid_from)):
        if value not in (None, "") and not str(value).isdigit():
            raise DocumentError(str(path), f"'{name}' in metadata must be a year, not {value!r}")
    return DocumentInfo(doc_id=meta.get("doc_id") or _slug(path.stem), title=title, source=path.name, kind=kind,
                        publisher=meta.get("publisher", ""), year=int(year) if year else None,
                        audience=tuple(meta.get("audience", ())), replaces=str(meta.get("replaces") or ""),
                        valid_from=int(valid_from) if valid_from else None)


def read_options(settings: Settings | None, meta: dict[str, Any]) -> ReadOptions:
    """How to read a file: its own password (catalogue) before the configured one, and OCR."""
    if settings is None:
        return ReadOptions(password=meta.get("password") or None)
    configured = settings.ingest.pdf_password.get_secret_value() if settings.ingest.pdf_password else None
    return ReadOptions(password=meta.get("password") or configured, ocr=settings.ingest.ocr,
                       ocr_languages=settings.ingest.ocr_languages, ocr_dpi=settings.ingest.ocr_dpi)


def read_document(path: Path, meta: dict[str, Any] | None = None, timings: dict[str, float] | None = None,
                  settings: Settings | None = None) -> tuple[DocumentInfo, list[Block]]:
    """Load and clean one file: its catalogue data and the blocks that are chunked and quoted."""
    info, blocks, _ = read_raw_document(path, meta, timings, settings)
    return info, blocks


def read_raw_document(path: Path, meta: dict[str, Any] | None = None, timings: dict[str, float] | None = None,
                      settings: Settings | None = None) -> tuple[DocumentInfo, list[Block], RawDocument]:
    """`read_document`, also returning what loading found out (OCR, empty pages, protection)."""
    meta = catalogue_entry(path) if meta is None else meta
    t0 = time.perf_counter()
    raw = load(path, read_options(settings, meta))
    t1 = time.perf_counter()
    info = document_info(path, raw.title_hint, "", meta)
    titled = info.title != path.stem  # a real title from the catalogue or the file's own metadata
    blocks = clean_pages(list(raw.pages), raw.markup, title=info.title if titled else "")
    if timings is not None:
        _add(timings, "parse", t1 - t0 - raw.ocr_seconds)
        _add(timings, "ocr", raw.ocr_seconds)
        _add(timings, "ocr_pages", float(len(raw.ocr_pages)))
        _add(timings, "clean", time.perf_counter() - t1)
    if not blocks:
        raise DocumentError(str(path), "no text left after cleaning")
    if not titled:
        info = document_info(path, raw.title_hint, blocks[0].text, meta)
    return info, blocks, raw


def _fingerprint(meta: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(meta, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def ingest(paths: Sequence[str | os.PathLike[str]], settings: Settings, index: KepolIndex, embedder: Any,
           progress: bool = False, dry_run: bool = False, rebuild: bool = False) -> IngestReport:
    """Load, clean, chunk, embed and stage every new or changed file, then commit the run in one
    step (see IndexWriter.commit): a run that fails or is killed leaves the previous index as it was.

    Parsing, cleaning and chunking run one file ahead of embedding in a helper thread (the
    embedder releases the GIL), and chunks are written to Chroma in large batches: embedding,
    the physical floor, is the only stage the run waits for."""
    t0 = time.perf_counter()
    report = IngestReport(set_aside=str(index.chroma.set_aside or ""))
    files, folders = discover(paths)
    store = index.writer
    if rebuild and not dry_run:
        store.reset()
    committed = index.current().manifest
    docs = _Docs(dict(committed.documents))  # records are immutable: the committed manifest stays intact
    cache = None if dry_run else EmbeddingCache(settings.store.data_dir / "embedding-cache.sqlite3",
                                                settings.ingest.embed_model)
    stats, sentence_stats = EmbedStats(), EmbedStats()
    bar = _Progress(len(files), progress, stats)
    writer = _Writer(store, embedder, cache, stats, bar, report.stage_seconds,
                     embed_batch=settings.ingest.embed_batch, sentence_stats=sentence_stats)
    try:
        seen = _stage_files(files, settings, docs, writer, bar, report, dry_run)
    except _WRITE_ERRORS as exc:  # disk full, file-size limit, permissions, a store that refuses writes
        raise _write_failure(settings, exc) from exc
    finally:
        bar.close()
        if cache:
            cache.close()
    _remove_vanished(docs, seen, folders, report)
    if not dry_run:
        _commit(store, committed, docs, report, settings)
    timings = report.stage_seconds
    timings["embed"] = stats.seconds + sentence_stats.seconds
    report.chunks_total = sum(d.chunks for d in docs.docs.values()) if dry_run else index.current().count()
    report.embedded, report.from_cache = stats.embedded, stats.cached
    report.sentences_embedded, report.embed_seconds = sentence_stats.embedded, timings["embed"]
    report.seconds = time.perf_counter() - t0
    return report


def _stage_files(files: list[Path], settings: Settings, docs: _Docs, writer: _Writer, bar: _Progress,
                 report: IngestReport, dry_run: bool) -> set[str]:
    """Each file in order, prepared ahead in the helper thread, then judged and staged; returns the
    paths seen. A file that cannot be read is skipped with its reason; failing writes propagate."""
    seen: set[str] = set()
    snapshot = docs.snapshot()  # what the helper thread judges "unchanged" by
    prepared = _prefetch(files, lambda f: _prepare(f, settings, snapshot))
    try:
        for prep in prepared:
            bar.file(prep.path.name)
            seen.add(str(prep.path))
            _merge(report.stage_seconds, prep.timings)
            try:
                if prep.error is not None:
                    raise prep.error
                result = _ingest_file(prep, settings, docs, writer, dry_run)
            except DocumentError as exc:
                where = "" if exc.path == str(prep.path) else f"{exc.path}: "  # e.g. a broken metadata.json
                result = FileResult(str(prep.path), "skipped",
                                    reason=where + exc.problem + (f" ({exc.hint})" if exc.hint else ""))
            report.results.append(result)
            bar.done()
        writer.flush()
    finally:
        prepared.close()
    return seen


def _remove_vanished(docs: _Docs, seen: set[str], folders: list[Path], report: IngestReport) -> None:
    """Documents whose file is gone from a folder this run read are removed from the index."""
    for doc_id, entry in list(docs.docs.items()):
        src = Path(entry.path)
        if str(src) not in seen and any(src.is_relative_to(f) for f in folders) and not src.exists():
            docs.remove(doc_id)
            report.results.append(FileResult(str(src), "removed", doc_id, reason="file no longer exists"))


def _commit(store: IndexWriter, committed: Manifest, docs: _Docs, report: IngestReport, settings: Settings) -> None:
    """Commit the run when it changed anything (or the index has no keyword index yet); otherwise
    only collect chunks an earlier, killed run left behind."""
    t = time.perf_counter()
    changed = any(r.status in ("ingested", "removed") for r in report.results)
    try:
        if changed or not committed.keyword_index and docs.docs:
            report.cleanup_error = store.commit(Manifest(docs.docs)).cleanup_error
        elif store.orphan_count():
            store.collect_garbage()
    except _WRITE_ERRORS as exc:  # the manifest swap is the last write: failing before it changes nothing
        raise _write_failure(settings, exc) from exc
    _add(report.stage_seconds, "commit", time.perf_counter() - t)


# what failing writes raise; anything else (a failing model, a bug) keeps its own type
_WRITE_ERRORS = (OSError, sqlite3.Error, ChromaError)


def _write_failure(settings: Settings, exc: BaseException) -> WriteError:
    return WriteError(
        f"ingest stopped, nothing was committed: writing to {settings.store.data_dir} failed "
        f"({type(exc).__name__}: {str(exc)[:300]})",
        "the previous index is unchanged and still answers; free disk space or fix permissions, then run "
        "`kepol ingest` again (vectors already computed are taken from the embedding cache)")


class _Docs:
    """The manifest's documents with lookups by content hash and by path, kept in step: a run over
    thousands of files must not scan every entry for every file."""

    def __init__(self, docs: dict[str, DocumentRecord]) -> None:
        self.docs = docs
        self.by_hash = {v.sha256: k for k, v in docs.items()}
        self.by_path = {v.path: k for k, v in docs.items()}

    def snapshot(self) -> _Docs:
        """A view for the helper thread; entries are replaced, never changed in place, so a shallow
        copy of the maps is a consistent picture of the run's start."""
        snap = _Docs.__new__(_Docs)
        snap.docs, snap.by_hash, snap.by_path = dict(self.docs), dict(self.by_hash), dict(self.by_path)
        return snap

    def owner(self, sha: str) -> tuple[str, DocumentRecord] | None:
        doc_id = self.by_hash.get(sha)
        return (doc_id, self.docs[doc_id]) if doc_id is not None else None

    def known(self, path: Path, sha: str, meta_fp: str) -> FileResult | None:
        """The file is indexed already: unchanged (same path, content and catalogue entry) or a
        duplicate of another file that still exists; None when it must be read."""
        owner = self.owner(sha)
        if owner is None:
            return None
        doc_id, entry = owner
        if entry.path == str(path) and entry.catalogue == meta_fp:
            return FileResult(str(path), "unchanged", doc_id, entry.chunks)
        if entry.path != str(path) and Path(entry.path).exists():
            return FileResult(str(path), "duplicate", doc_id, reason=f"same content as {entry.source}")
        return None

    def remove(self, doc_id: str) -> None:
        entry = self.docs.pop(doc_id)
        if self.by_hash.get(entry.sha256) == doc_id:
            del self.by_hash[entry.sha256]
        if self.by_path.get(entry.path) == doc_id:
            del self.by_path[entry.path]

    def put(self, entry: DocumentRecord) -> None:
        """Add or replace; a renamed or replaced file keeps no stale entry under its old id."""
        for old in {self.by_path.get(entry.path), self.by_hash.get(entry.sha256), entry.doc_id}:
            if old is not None and old in self.docs:
                self.remove(old)
        self.docs[entry.doc_id] = entry
        self.by_hash[entry.sha256] = entry.doc_id
        self.by_path[entry.path] = entry.doc_id


@dataclass
class _Prepared:
    """One file read ahead of embedding: its hash and catalogue data, and (unless it looked
    unchanged or a duplicate when the run started) its cleaned blocks and chunks."""

    path: Path
    sha: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    meta_fp: str = ""
    info: DocumentInfo | None = None
    blocks: list[Block] | None = None
    passages: list[Passage] | None = None
    error: DocumentError | None = None
    tokens: int = 0
    raw: RawDocument | None = None  # what loading found out: OCR'd and empty pages, protection
    texts: list[str] | None = None  # what is embedded and keyword-indexed for each chunk
    terms: list[list[str]] | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _prepare(path: Path, settings: Settings, docs: _Docs) -> _Prepared:
    """Everything about a file that needs no model and no store; runs in the helper thread."""
    prep = _Prepared(path)
    try:
        t = time.perf_counter()
        size = path.stat().st_size
        if size > settings.ingest.max_file_mb * 1024 * 1024:
            raise DocumentError(str(path), f"file is {size / 1024 / 1024:.1f} MB, over the limit of "
                                f"{settings.ingest.max_file_mb:g} MB", "raise KEPOL_MAX_FILE_MB or split the document")
        prep.sha = _sha256(path)
        prep.meta = catalogue_entry(path)
        prep.meta_fp = _fingerprint(prep.meta)
        _add(prep.timings, "hash", time.perf_counter() - t)
        if docs.known(path, prep.sha, prep.meta_fp) is not None:
            return prep  # unchanged or a duplicate: decided in order by the main thread, nothing to parse
        prep.info, prep.blocks, prep.raw = read_raw_document(path, prep.meta, prep.timings, settings)
        t = time.perf_counter()
        prep.passages = _chunks(prep.blocks, prep.info, settings, prep.raw)
        prep.tokens = sum(count_tokens(p.text) for p in prep.passages)
        _add(prep.timings, "chunk", time.perf_counter() - t)
        t = time.perf_counter()
        prep.texts = [search_text(p) for p in prep.passages]
        prep.terms = [keyword_terms(x) for x in prep.texts]
        _add(prep.timings, "terms", time.perf_counter() - t)
    except DocumentError as exc:
        prep.error = exc
    except OSError as exc:  # vanished or unreadable between discovery and reading
        prep.error = DocumentError(str(path), f"cannot read the file ({exc.strerror or exc})")
    except Exception as exc:  # a parser bug on one odd file must not end the run for the whole folder
        prep.error = DocumentError(str(path), f"could not be read ({type(exc).__name__}: {str(exc)[:200]})",
                                   "check the file; if it opens fine elsewhere, please report it")
    return prep


def _prefetch(items: list[Path], fn: Callable[[Path], _Prepared], depth: int = 4) -> Generator[_Prepared, None, None]:
    """`fn` over `items` in order, computed up to `depth` items ahead in a helper thread. Closing
    the generator stops the helper; an unexpected error in `fn` is raised here, in the caller."""
    q: queue.Queue[tuple[_Prepared | None, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[_Prepared | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        for it in items:
            try:
                out: tuple[_Prepared | None, BaseException | None] = (fn(it), None)
            except BaseException as exc:  # handed to the caller, who decides
                out = (None, exc)
            if not put(out) or out[1] is not None:
                return

    thread = threading.Thread(target=work, name="kepol-ingest-prefetch", daemon=True)
    thread.start()
    try:
        for _ in items:
            prep, exc = q.get()
            if exc is not None:
                raise exc
            assert prep is not None
            yield prep
    finally:
        stop.set()
        thread.join(timeout=5)


class _Writer:
    """Embeds chunks in batches across documents (a folder of one-page notes would otherwise call the
    model with one chunk at a time, about 10 % slower per token) and writes them to the store in
    large batches (one Chroma call per document costs more than the write itself)."""

    def __init__(self, index: IndexWriter, embedder: Any, cache: EmbeddingCache | None, stats: EmbedStats,
                 bar: _Progress, timings: dict[str, float], embed_batch: int = 32, write_batch: int = 1024,
                 sentence_stats: EmbedStats | None = None) -> None:
        self.index, self.embedder, self.cache, self.stats, self.bar = index, embedder, cache, stats, bar
        self.sentence_stats = sentence_stats or EmbedStats()
        self.timings, self.embed_batch, self.write_batch = timings, embed_batch, write_batch
        self.to_embed: list[tuple[Passage, str, list[str]]] = []
        self.passages: list[Passage] = []
        self.embeddings: list[list[float]] = []
        self.terms: list[list[str]] = []
        self.sentence_vectors: list[np.ndarray] = []

    def add(self, passages: list[Passage], texts: list[str], terms: list[list[str]]) -> None:
        self.to_embed += zip(passages, texts, terms)
        if len(self.to_embed) >= self.embed_batch:
            self._embed()

    def _embed(self) -> None:
        if not self.to_embed:
            return
        passages, texts, terms = zip(*self.to_embed)
        self.to_embed = []
        vectors = embed_texts(list(texts), self.embedder.get_text_embedding_batch, self.cache, self.stats,
                              batch_size=self.embed_batch, on_batch=self.bar.chunks)
        # each chunk's sentences too, so that answers can score them by meaning (text.units); a
        # sentence repeated by overlapping chunks is embedded once
        spans = [unit_texts(p.text) for p in passages]
        flat = embed_texts([u for s in spans for u in s], self.embedder.get_text_embedding_batch, self.cache,
                           self.sentence_stats, batch_size=self.embed_batch)
        at = 0
        for s in spans:
            vecs = np.asarray(flat[at:at + len(s)], dtype=np.float32)
            self.sentence_vectors.append(vecs if s else np.zeros((0, 0), dtype=np.float32))
            at += len(s)
        self.passages += passages
        self.embeddings += vectors
        self.terms += terms
        if len(self.passages) >= self.write_batch:
            self._write()

    def _write(self) -> None:
        if self.passages:
            t = time.perf_counter()
            self.index.stage(self.passages, self.embeddings, self.terms, self.sentence_vectors)
            _add(self.timings, "write", time.perf_counter() - t)
            self.passages, self.embeddings, self.terms, self.sentence_vectors = [], [], [], []

    def flush(self) -> None:
        self._embed()
        self._write()


def _ingest_file(prep: _Prepared, settings: Settings, docs: _Docs, writer: _Writer, dry_run: bool) -> FileResult:
    """Decide, in file order, what a prepared file is (unchanged, duplicate, new) and stage it."""
    path, sha, meta_fp = prep.path, prep.sha, prep.meta_fp
    known = docs.known(path, sha, meta_fp)
    if known is not None:
        return known
    if prep.blocks is None or prep.info is None or prep.raw is None:  # the run-start view differed from the live one
        prep.info, prep.blocks, prep.raw = read_raw_document(path, prep.meta, settings=settings)
    info, blocks, passages, raw = prep.info, prep.blocks, prep.passages, prep.raw
    clash = docs.docs.get(info.doc_id)
    if clash and clash.path != str(path) and Path(clash.path).exists():
        info = DocumentInfo(**{**info.__dict__, "doc_id": f"{info.doc_id}-{sha[:6]}"})
        passages = None
    if passages is None:
        passages = _chunks(blocks, info, settings, raw)
        prep.tokens = sum(count_tokens(p.text) for p in passages)
        prep.texts, prep.terms = None, None
    if dry_run:
        return FileResult(str(path), "ingested", info.doc_id, len(passages), reason="dry run: would ingest")
    texts = prep.texts or [search_text(p) for p in passages]
    terms = prep.terms or [keyword_terms(x) for x in texts]
    writer.add(passages, texts, terms)  # embedded and written in batches; committed only at the end
    t = time.perf_counter()
    text_file = writer.index.stage_text(info.doc_id, sha, document_text(blocks)[0])
    _add(writer.timings, "write", time.perf_counter() - t)
    pages = max((p.page_end or 0) for p in passages) or None
    docs.put(DocumentRecord(
        doc_id=info.doc_id, title=info.title, path=str(path), source=info.source, sha256=sha, catalogue=meta_fp,
        kind=info.kind, publisher=info.publisher, year=info.year, audience=tuple(info.audience), pages=pages,
        chunk_ids=tuple(p.chunk_id for p in passages), text_file=text_file, tokens=prep.tokens,
        ocr_pages=raw.ocr_pages, empty_pages=raw.empty_pages, protected=raw.protected, replaces=info.replaces,
        valid_from=info.valid_from, ingested_at=datetime.now(timezone.utc).isoformat(timespec="seconds")))
    return FileResult(str(path), "ingested", info.doc_id, len(passages), reason=raw.empty_reason,
                      pages=len(raw.pages), ocr_pages=raw.ocr_pages, empty_pages=raw.empty_pages,
                      protected=raw.protected)


def _chunks(blocks: list[Block], info: DocumentInfo, settings: Settings, raw: RawDocument) -> list[Passage]:
    """The document's chunks, each marked when some of its pages were read by OCR."""
    passages = chunk_document(blocks, info, settings.ingest.chunk_tokens, settings.ingest.chunk_overlap_tokens)
    if not raw.ocr_pages:
        return passages
    ocr = set(raw.ocr_pages)
    return [replace(p, ocr=any(page in ocr for page in range(p.page_start or 0, (p.page_end or p.page_start or 0) + 1)))
            for p in passages]


def _add(timings: dict[str, float], stage: str, seconds: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + seconds


def _merge(into: dict[str, float], other: dict[str, float]) -> None:
    for k, v in other.items():
        _add(into, k, v)


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
