"""Reading files ahead of embedding: hash, catalogue data, cleaned blocks and chunks of the next
files, computed in a helper thread while the model embeds (the embedder releases the GIL)."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.core.errors import DocumentError
from assistant.core.settings import Settings
from assistant.core.text import count_tokens, keyword_terms
from assistant.core.types import DocumentInfo, Passage
from assistant.storage import search_text
from ingest.chunk import chunks_of
from ingest.clean import Block
from ingest.loaders import RawDocument
from ingest import overrides
from ingest.read import add_time, catalogue_entry, fingerprint, read_raw_document, sha256_of
from ingest.write import Docs


@dataclass
class Prepared:
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


def prepare(path: Path, settings: Settings, docs: Docs, collection: str | None = None,
            edits: dict[str, Any] | None = None) -> Prepared:
    """Everything about a file that needs no model and no store; runs in the helper thread. The
    assistant's `edits` (ingest/overrides.py) lie over the catalogue entry, and the run's `collection`
    (`kepol ingest --collection`, an upload's) over both."""
    prep = Prepared(path)
    try:
        t = time.perf_counter()
        size = path.stat().st_size
        if size > settings.ingest.max_file_mb * 1024 * 1024:
            raise DocumentError(str(path), f"file is {size / 1024 / 1024:.1f} MB, over the limit of "
                                f"{settings.ingest.max_file_mb:g} MB", "raise KEPOL_MAX_FILE_MB or split the document",
                                de=f"Die Datei ist {size / 1024 / 1024:.1f} MB groß, erlaubt sind "
                                   f"{settings.ingest.max_file_mb:g} MB.")
        prep.sha = sha256_of(path)
        if edits and edits.get("deleted"):
            raise DocumentError(str(path), "deleted from the library by an administrator "
                                f"({edits.get('deleted_by', '?')}, {edits.get('deleted_at', '?')})",
                                "remove the file from the folder, or upload it again to restore it",
                                de="Von einer Administratorin oder einem Administrator aus der Bibliothek gelöscht.")
        prep.meta = overrides.applied(catalogue_entry(path), edits)
        if collection is not None:
            prep.meta = {**prep.meta, "collection": collection}
        prep.meta_fp = fingerprint(prep.meta)
        add_time(prep.timings, "hash", time.perf_counter() - t)
        if docs.known(path, prep.sha, prep.meta_fp) is not None:
            return prep  # unchanged or a duplicate: decided in order by the main thread, nothing to parse
        prep.info, prep.blocks, prep.raw = read_raw_document(path, prep.meta, prep.timings, settings)
        t = time.perf_counter()
        prep.passages = chunks_of(prep.blocks, prep.info, settings, prep.raw)
        prep.tokens = sum(count_tokens(p.text) for p in prep.passages)
        add_time(prep.timings, "chunk", time.perf_counter() - t)
        t = time.perf_counter()
        prep.texts = [search_text(p) for p in prep.passages]
        prep.terms = [keyword_terms(x) for x in prep.texts]
        add_time(prep.timings, "terms", time.perf_counter() - t)
    except DocumentError as exc:
        prep.error = exc
    except OSError as exc:  # vanished or unreadable between discovery and reading
        prep.error = DocumentError(str(path), f"cannot read the file ({exc.strerror or exc})",
                                   de="Die Datei lässt sich nicht lesen.")
    except Exception as exc:  # a parser bug on one odd file must not end the run for the whole folder
        prep.error = DocumentError(str(path), f"could not be read ({type(exc).__name__}: {str(exc)[:200]})",
                                   "check the file; if it opens fine elsewhere, please report it",
                                   de="Die Datei ließ sich nicht lesen; öffnet sie sich anderswo, bitte melden.")
    return prep


def prefetch(items: list[Path], fn: Callable[[Path], Prepared], depth: int = 4) -> Generator[Prepared, None, None]:
    """`fn` over `items` in order, computed up to `depth` items ahead in a helper thread. Closing
    the generator stops the helper; an unexpected error in `fn` is raised here, in the caller."""
    q: queue.Queue[tuple[Prepared | None, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[Prepared | None, BaseException | None]) -> bool:
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
                out: tuple[Prepared | None, BaseException | None] = (fn(it), None)
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
