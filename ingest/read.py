"""Reading one file into a cleaned, page-aware document: where the files are, their catalogue data
(metadata.json, sidecars), how to open them (password, OCR), and the cleaned blocks (loaders, OCR and
cleaning behind it)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from assistant.core.errors import DocumentError
from assistant.core.rights import PUBLIC, CollectionNameError, collection_name
from assistant.core.settings import Settings
from assistant.core.types import KINDS, DocumentInfo
from ingest.clean import Block, clean_pages
from ingest.loaders import RawDocument, ReadOptions, load

METADATA_FILE = "metadata.json"
SIDECAR_SUFFIX = ".meta.json"


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
            raise DocumentError(str(p), "no such file or folder", de="Diese Datei oder diesen Ordner gibt es nicht.")
    return files, folders


def _ignored(f: Path) -> bool:
    return (f.name.startswith(".") or f.name == METADATA_FILE or f.name.endswith(SIDECAR_SUFFIX)
            or f.name.lower() in {"readme.md", "readme.txt"})


def slug(s: str) -> str:
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
            raise DocumentError(str(f), f"invalid metadata JSON ({exc})", "fix or remove the file",
                                de="Die Metadaten-Datei ist kein gültiges JSON.") from exc
        if not isinstance(entry, dict):
            raise DocumentError(str(f), f"metadata for {path.name} must be a JSON object",
                                de=f"Die Metadaten zu {path.name} müssen ein JSON-Objekt sein.")
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
        raise DocumentError(str(path), f"unknown kind '{kind}' in metadata", "use one of: " + ", ".join(KINDS),
                            de=f"Unbekannte Dokumentart „{kind}“ in den Metadaten.")
    title = meta.get("title") or title_hint or first_line[:120] or path.stem
    year, valid_from = meta.get("year"), meta.get("valid_from")
    for name, value in (("year", year), ("valid_from", valid_from)):
        if value not in (None, "") and not str(value).isdigit():
            raise DocumentError(str(path), f"'{name}' in metadata must be a year, not {value!r}",
                                de=f"„{name}“ in den Metadaten muss eine Jahreszahl sein, nicht {value!r}.")
    try:
        collection = collection_name(meta.get("collection") or PUBLIC)
    except CollectionNameError as exc:
        raise DocumentError(str(path), exc.message, exc.hint, de=exc.de) from exc
    return DocumentInfo(doc_id=meta.get("doc_id") or slug(path.stem), title=title, source=path.name, kind=kind,
                        publisher=meta.get("publisher", ""), year=int(year) if year else None,
                        audience=tuple(meta.get("audience", ())), replaces=str(meta.get("replaces") or ""),
                        valid_from=int(valid_from) if valid_from else None, collection=collection)


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
        add_time(timings, "parse", t1 - t0 - raw.ocr_seconds)
        add_time(timings, "ocr", raw.ocr_seconds)
        add_time(timings, "ocr_pages", float(len(raw.ocr_pages)))
        add_time(timings, "clean", time.perf_counter() - t1)
    if not blocks:
        raise DocumentError(str(path), "no text left after cleaning", de="Nach der Bereinigung bleibt kein Text übrig.")
    if not titled:
        info = document_info(path, raw.title_hint, blocks[0].text, meta)
    return info, blocks, raw


def fingerprint(meta: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(meta, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def add_time(timings: dict[str, float], stage: str, seconds: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + seconds


def merge_times(into: dict[str, float], other: dict[str, float]) -> None:
    for k, v in other.items():
        add_time(into, k, v)
