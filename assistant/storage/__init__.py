"""Storage: the only package that touches the data directory. A Chroma adapter (`chroma`), the
keyword index (`keywords`), per-chunk sidecars (`sidecars`), the manifest (`manifest`), the
committed version as a value (`version`) and the writer that produces the next one (`writer`).
`KepolIndex` ties them to one settings-hashed directory."""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from assistant.core.errors import IndexCorruptError
from assistant.core.settings import Settings
from assistant.storage.chroma import ChromaStore, search_text, where_filter
from assistant.storage.keywords import KeywordIndexGone, Keywords
from assistant.storage.manifest import DocumentRecord, Manifest, manifest_path
from assistant.storage.sidecars import SentenceStore, TermStore
from assistant.storage.version import IndexVersion
from assistant.storage.writer import Commit, IndexWriter

__all__ = ["Commit", "DocumentRecord", "IndexVersion", "IndexWriter", "KepolIndex", "Manifest", "search_text",
           "where_filter"]


class KepolIndex:
    """One data directory's index: the stores, and the committed version questions read. The
    version is built once per commit (ours or another process's) and swapped in atomically; a
    question takes it with `current()` and reads that value throughout."""

    def __init__(self, settings: Settings, repair: bool = False) -> None:
        self.settings = settings
        self.dir = settings.index_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.chroma = ChromaStore(settings, repair)
        self.terms = TermStore(self.dir / "terms.sqlite3")
        self.sentences = SentenceStore(self.dir / "sentences.sqlite3")
        self._lock = threading.Lock()
        self._version: IndexVersion | None = None
        self._stamp = -1  # mtime of the manifest the version was read from (0: no manifest)
        self._own_stamp = -1  # mtime of the manifest this process committed last
        self.writer = IndexWriter(self.dir, self.chroma, self.terms, self.sentences, self._install, self.current)
        self._writing = threading.RLock()
        self._write_depth = 0
        self._write_fd = -1

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """One writer at a time for this index: threads of this process (RLock: an edit may ingest)
        and other processes (an advisory lock on write.lock, released by the kernel if one is killed)."""
        with self._writing:
            if self._write_depth == 0:
                self._write_fd = os.open(self.dir / "write.lock", os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._write_fd, fcntl.LOCK_EX)
            self._write_depth += 1
            try:
                yield
            finally:
                self._write_depth -= 1
                if self._write_depth == 0:
                    os.close(self._write_fd)  # closing releases the lock
                    self._write_fd = -1

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.dir)

    def _stat(self) -> int:
        try:
            return self.manifest_path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def current(self) -> IndexVersion:
        """The version committed now. Checking costs one stat; reading a new version (manifest,
        keyword index, vocabulary) happens once per commit."""
        stamp = self._stat()
        with self._lock:
            if self._version is not None and stamp == self._stamp:
                return self._version
            if self._version is not None and stamp != self._own_stamp and not self.chroma.server:
                self.chroma.reopen()  # a server sees every writer's vectors; only the embedded store must reopen
            for _ in range(3):
                manifest = Manifest.load(self.manifest_path)
                try:
                    keywords = Keywords.load(self.dir, manifest.keyword_index)
                except KeywordIndexGone:  # a newer commit collected it meanwhile: read that one
                    stamp = self._stat()
                    continue
                self._version = IndexVersion(manifest, keywords, self.chroma, self.sentences, self.dir)
                self._stamp = stamp
                return self._version
        raise IndexCorruptError(f"the keyword index {self.dir / manifest.keyword_index} named by the manifest "
                                "is missing", "run `kepol ingest --rebuild` to rebuild the index from the documents")

    def _install(self, version: IndexVersion) -> None:
        """The writer committed `version` (or reset the index): questions from now on read it."""
        stamp = self._stat()
        with self._lock:
            self._version, self._stamp, self._own_stamp = version, stamp, stamp

    def close(self) -> None:
        self.chroma.close()
        self.terms.close()
        self.sentences.close()
