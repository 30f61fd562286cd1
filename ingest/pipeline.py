"""Ingest files into the index: incremental by content hash, one clear reason per skipped file.

The run's stages each live in their own module: reading a file into a cleaned document
(`read`, with loaders, OCR and cleaning behind it), reading ahead (`prefetch`), chunking (`chunk`),
embedding with its cache and writing and committing (`embed_cache`, `write`); this module only
orders them."""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from assistant.core.errors import DocumentError
from assistant.core.settings import Settings
from assistant.core.text import count_tokens, keyword_terms
from assistant.core.types import DocumentInfo
from assistant.storage import DocumentRecord, KepolIndex, search_text
from ingest import overrides
from ingest.chunk import chunks_of, document_text
from ingest.embed_cache import EmbeddingCache, EmbedStats
from ingest.prefetch import Prepared, prefetch, prepare
from ingest.read import (METADATA_FILE, SIDECAR_SUFFIX, add_time, catalogue_entry, discover, document_info,
                         merge_times, read_document, read_options, read_raw_document, slug)
from ingest.report import FileResult, IngestReport
from ingest.write import WRITE_ERRORS, Docs, Writer, commit_run, write_failure

__all__ = ["METADATA_FILE", "SIDECAR_SUFFIX", "FileResult", "IngestReport", "catalogue_entry", "discover",
           "document_info", "ingest", "read_document", "read_options", "read_raw_document", "slug"]


def ingest(paths: Sequence[str | os.PathLike[str]], settings: Settings, index: KepolIndex, embedder: Any,
           progress: bool = False, dry_run: bool = False, rebuild: bool = False,
           collection: str | None = None) -> IngestReport:
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
    docs = Docs(dict(committed.documents))  # records are immutable: the committed manifest stays intact
    cache = None if dry_run else EmbeddingCache(settings.store.data_dir / "embedding-cache.sqlite3",
                                                settings.vector_space)
    stats, sentence_stats = EmbedStats(), EmbedStats()
    bar = Progress(len(files), progress, stats)
    writer = Writer(store, embedder, cache, stats, bar.chunks, report.stage_seconds,
                     embed_batch=settings.ingest.embed_batch, sentence_stats=sentence_stats)
    try:
        seen = _stage_files(files, settings, docs, writer, bar, report, dry_run, collection)
    except WRITE_ERRORS as exc:  # disk full, file-size limit, permissions, a store that refuses writes
        raise write_failure(settings, exc) from exc
    finally:
        bar.close()
        if cache:
            cache.close()
    _remove_vanished(docs, seen, folders, report)
    if not dry_run:
        commit_run(store, committed, docs, report, settings)
    timings = report.stage_seconds
    timings["embed"] = stats.seconds + sentence_stats.seconds
    report.chunks_total = sum(d.chunks for d in docs.docs.values()) if dry_run else index.current().count()
    report.embedded, report.from_cache = stats.embedded, stats.cached
    report.sentences_embedded, report.embed_seconds = sentence_stats.embedded, timings["embed"]
    report.seconds = time.perf_counter() - t0
    return report


def _stage_files(files: list[Path], settings: Settings, docs: Docs, writer: Writer, bar: Progress,
                 report: IngestReport, dry_run: bool, collection: str | None) -> set[str]:
    """Each file in order, prepared ahead in the helper thread, then judged and staged; returns the
    paths seen. A file that cannot be read is skipped with its reason; failing writes propagate."""
    seen: set[str] = set()
    snapshot = docs.snapshot()  # what the helper thread judges "unchanged" by
    edits = overrides.load(settings.store.data_dir)
    prepared = prefetch(files, lambda f: prepare(f, settings, snapshot, collection, edits.get(overrides.key(f))))
    try:
        for prep in prepared:
            bar.file(prep.path.name)
            seen.add(str(prep.path))
            merge_times(report.stage_seconds, prep.timings)
            try:
                if prep.error is not None:
                    raise prep.error
                result = _ingest_file(prep, settings, docs, writer, dry_run)
            except DocumentError as exc:
                where = "" if exc.path == str(prep.path) else f"{exc.path}: "  # e.g. a broken metadata.json
                result = FileResult(str(prep.path), "skipped",
                                    reason=where + exc.problem + (f" ({exc.hint})" if exc.hint else ""),
                                    reason_de=where + exc.de)
            report.results.append(result)
            bar.done()
        writer.flush()
    finally:
        prepared.close()
    return seen


def _remove_vanished(docs: Docs, seen: set[str], folders: list[Path], report: IngestReport) -> None:
    """Documents whose file is gone from a folder this run read are removed from the index."""
    for doc_id, entry in list(docs.docs.items()):
        src = Path(entry.path)
        if str(src) not in seen and any(src.is_relative_to(f) for f in folders) and not src.exists():
            docs.remove(doc_id)
            report.results.append(FileResult(str(src), "removed", doc_id, reason="file no longer exists",
                                              reason_de="Die Datei gibt es nicht mehr."))


def _ingest_file(prep: Prepared, settings: Settings, docs: Docs, writer: Writer, dry_run: bool) -> FileResult:
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
        passages = chunks_of(blocks, info, settings, raw)
        prep.tokens = sum(count_tokens(p.text) for p in passages)
        prep.texts, prep.terms = None, None
    if dry_run:
        return FileResult(str(path), "ingested", info.doc_id, len(passages), reason="dry run: would ingest",
                          reason_de="Probelauf: würde eingelesen")
    texts = prep.texts or [search_text(p) for p in passages]
    terms = prep.terms or [keyword_terms(x) for x in texts]
    writer.add(passages, texts, terms)  # embedded and written in batches; committed only at the end
    t = time.perf_counter()
    text_file = writer.index.stage_text(info.doc_id, sha, document_text(blocks)[0])
    add_time(writer.timings, "write", time.perf_counter() - t)
    pages = max((p.page_end or 0) for p in passages) or None
    docs.put(DocumentRecord(
        doc_id=info.doc_id, title=info.title, path=str(path), source=info.source, sha256=sha, catalogue=meta_fp,
        kind=info.kind, publisher=info.publisher, year=info.year, audience=tuple(info.audience), pages=pages,
        chunk_ids=tuple(p.chunk_id for p in passages), text_file=text_file, tokens=prep.tokens,
        ocr_pages=raw.ocr_pages, empty_pages=raw.empty_pages, protected=raw.protected, replaces=info.replaces,
        valid_from=info.valid_from, ingested_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        collection=info.collection))
    return FileResult(str(path), "ingested", info.doc_id, len(passages), reason=raw.empty_reason,
                      reason_de=raw.empty_reason_de,
                      pages=len(raw.pages), ocr_pages=raw.ocr_pages, empty_pages=raw.empty_pages,
                      protected=raw.protected)


class Progress:
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
