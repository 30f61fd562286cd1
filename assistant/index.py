"""The only module that touches storage: a Chroma collection (via llama-index), a bm25s keyword
index and the manifest of ingested documents, all under one settings-hashed directory."""
from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Collection
from typing import Any

import numpy as np

from assistant.errors import IndexCorruptError, IndexMissingError, KepolError, StoreUnavailableError
from assistant.query import Vocabulary
from assistant.settings import Settings
from assistant.text import LIST_ITEM, ends_in_list_item, keyword_terms, split_compound
from assistant.types import DocumentInfo, LibraryFilter, Passage



def search_text(p: Passage) -> str:
    """What both retrievers see: title, publisher and section give context the chunk text alone
    lacks (a list of offers rarely names who offers them)."""
    head = " – ".join(x for x in (p.title, p.publisher) if x)
    return "\n".join(x for x in (head, p.section, p.text) if x)


def _to_node(p: Passage, embedding: list[float]) -> Any:
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    meta = {
        "title": p.title, "source": p.source, "kind": p.kind, "ordinal": p.ordinal,
        "char_start": p.char_start, "char_end": p.char_end,
        "page_start": -1 if p.page_start is None else p.page_start,
        "page_end": -1 if p.page_end is None else p.page_end,
        "page_breaks": json.dumps(p.page_breaks), "section": p.section,
        "publisher": p.publisher, "year": -1 if p.year is None else p.year, "ocr": p.ocr,
        "footnotes": json.dumps(p.footnotes),
    }
    return TextNode(id_=p.chunk_id, text=p.text, metadata=meta, embedding=embedding,
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=p.doc_id)})


def _from_meta(chunk_id: str, text: str, m: dict[str, Any], score: float = 0.0) -> Passage:
    def opt(v: Any) -> int | None:
        return None if v in (None, "", -1) else int(v)

    return Passage(
        chunk_id=chunk_id, doc_id=str(m.get("document_id") or m.get("doc_id")), title=m.get("title", ""),
        source=m.get("source", ""), kind=m.get("kind", ""), text=text, ordinal=int(m.get("ordinal", 0)),
        char_start=int(m.get("char_start", 0)), char_end=int(m.get("char_end", 0)),
        page_start=opt(m.get("page_start")), page_end=opt(m.get("page_end")),
        page_breaks=tuple(tuple(x) for x in json.loads(m.get("page_breaks") or "[]")),
        section=m.get("section", ""), publisher=m.get("publisher", ""), year=opt(m.get("year")),
        ocr=bool(m.get("ocr", False)), footnotes=tuple(json.loads(m.get("footnotes") or "[]")), score=score)


class KepolIndex:
    """Vector store + keyword index + manifest for one settings fingerprint."""

    def __init__(self, settings: Settings, repair: bool = False) -> None:
        """`repair` (for `kepol ingest --rebuild`): an embedded store that cannot be opened is moved
        aside and a fresh one started; the embedding cache makes rebuilding it cheap."""
        self.settings = settings
        self.dir = settings.index_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.set_aside: Path | None = None  # where a damaged store was moved by a repair
        self.cleanup_error = ""  # clean-up after the last commit failed (the next run retries)
        try:
            self._open_store()
        except IndexCorruptError:
            if not repair:
                raise
            from chromadb.api.shared_system_client import SharedSystemClient

            chroma = settings.data_dir / "chroma"
            aside = chroma.with_name(f"chroma.damaged-{int(time.time())}")
            chroma.rename(aside)
            self.set_aside = aside
            SharedSystemClient.clear_system_cache()  # chromadb keeps the failed system per path
            self._open_store()
        self._terms = TermStore(self.dir / "terms.sqlite3")
        self._sentences = SentenceStore(self.dir / "sentences.sqlite3")
        self._bm25: Any = None
        self._bm25_ids: list[str] = []
        self._bm25_name: str | None = None
        self._vocab: Vocabulary | None = None
        self._manifest: dict[str, Any] | None = None
        self._pinned = False
        self._manifest_stamp = 0
        self._own_stamp = 0
        self._active: frozenset[str] = frozenset()

    def _open_store(self) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from llama_index.vector_stores.chroma import ChromaVectorStore

        s = self.settings
        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if s.chroma_host:
            # one server shared by ingest jobs and UI workers; see README "Scaling out"
            headers = {"Authorization": f"Bearer {s.chroma_token.get_secret_value()}"} if s.chroma_token else None
            try:
                self._client = chromadb.HttpClient(host=s.chroma_host, port=s.chroma_port, ssl=s.chroma_ssl,
                                                   headers=headers, settings=chroma_settings,
                                                   tenant=s.chroma_tenant, database=s.chroma_database)
            except Exception as exc:  # chromadb raises plain ValueError/ConnectionError subclasses here
                raise StoreUnavailableError(
                    f"cannot use the Chroma server at {s.chroma_server} "
                    f"(tenant {s.chroma_tenant}, database {s.chroma_database}): {exc}",
                    "start it (`chroma run --path DIR --host 127.0.0.1 --port PORT`), check KEPOL_CHROMA_HOST/"
                    "_PORT/_TOKEN, or unset KEPOL_CHROMA_HOST to use the embedded store") from exc
        with self.store_errors("open"):
            if not s.chroma_host:
                self._client = chromadb.PersistentClient(path=str(s.data_dir / "chroma"), settings=chroma_settings)
            # embedding_function=None: Chroma must never instantiate its downloading default model.
            self._collection = self._client.get_or_create_collection(
                name=f"kepol-{s.index_fingerprint()}", embedding_function=None,
                metadata={"hnsw:space": "cosine"})
            if not s.chroma_host:
                self._collection.count()  # touches the segment files: damage shows now, not mid-answer
        self.store = ChromaVectorStore(chroma_collection=self._collection)

    @contextmanager
    def store_errors(self, doing: str) -> Iterator[None]:
        """Chroma's failures as our errors: an unreachable server (retried on the next call: HTTP
        needs no reconnect) or a damaged embedded store (repaired by `kepol ingest --rebuild`)."""
        try:
            yield
        except KepolError:
            raise
        except Exception as exc:  # chromadb, httpx and OS errors: the store is the problem either way
            s = self.settings
            if s.chroma_host:
                raise StoreUnavailableError(
                    f"the Chroma server at {s.chroma_server} failed ({doing}: {type(exc).__name__}: {exc})",
                    "check that the server runs and KEPOL_CHROMA_* are right; the next question retries") from exc
            raise IndexCorruptError(
                f"the vector store in {s.data_dir / 'chroma'} is damaged ({doing}: {type(exc).__name__}: {exc})",
                "run `kepol ingest --rebuild` to rebuild it from the documents (the embedding cache is kept)") from exc

    def close(self) -> None:
        """Release the Chroma client (the last client of a path stops its in-process system)."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()
        self._terms.close()
        self._sentences.close()

    def _reopen(self) -> None:
        """Another process committed: the embedded Chroma system holds its vector index in memory,
        so open it afresh to see the new vectors (works when this is the only client of the path
        in this process, as in `kepol serve`)."""
        self.close()
        self._open_store()

    # ---------- manifest: the commit point ----------
    # Chunks are written to Chroma before a run commits, but readers only see the chunk ids the
    # committed manifest lists, and the keyword index it names. Replacing manifest.json (one atomic
    # rename) is therefore the only step that changes what queries see: a run killed before it
    # leaves the previous index intact; the next run's commit collects the orphaned chunks.
    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def view(self) -> KepolIndex:
        """This index pinned to the version committed now: one question reads manifest, keyword index
        and vocabulary of one version throughout, even when a commit lands halfway (the load test
        caught an answer built from the old vocabulary and the new passages)."""
        while True:
            self._load_bm25()  # reads the current manifest first
            v = copy.copy(self)
            if v._manifest is not None and v._bm25_name == v._manifest.get("keyword_index"):
                v.vocabulary()
                v._pinned = True
                return v
            if v._manifest is None:  # nothing committed yet
                v._pinned = True
                return v

    def manifest(self) -> dict[str, Any]:
        """The committed manifest (re-read when another process has committed since)."""
        if self._pinned:
            return self._manifest if self._manifest is not None else {"documents": {}}
        try:
            stamp = self.manifest_path.stat().st_mtime_ns
        except FileNotFoundError:
            return {"documents": {}}
        if self._manifest is None or stamp != self._manifest_stamp:
            if self._manifest is not None and stamp != self._own_stamp and not self.settings.chroma_host:
                self._reopen()  # a server sees every writer's vectors; only the embedded store must reopen
            try:
                data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise IndexCorruptError(
                    f"the index manifest {self.manifest_path} is damaged ({exc})",
                    "run `kepol ingest --rebuild` to rebuild the index from the documents") from exc
            self._manifest, self._manifest_stamp = data, stamp
            self._active = frozenset(i for d in data["documents"].values() for i in d.get("chunk_ids", ()))
        return self._manifest

    def active_ids(self) -> frozenset[str]:
        """Chunk ids of the committed index: everything else in the collection is invisible."""
        self.manifest()
        return self._active

    def documents(self) -> list[DocumentInfo]:
        docs = self.manifest()["documents"]
        return [DocumentInfo(doc_id=k, title=v["title"], source=v["source"], kind=v.get("kind", ""),
                             publisher=v.get("publisher", ""), year=v.get("year"),
                             audience=tuple(v.get("audience", ())), replaces=v.get("replaces") or "",
                             valid_from=v.get("valid_from")) for k, v in docs.items()]

    def count(self) -> int:
        return len(self.active_ids())

    # ---------- writing ----------
    def stage(self, passages: list[Passage], embeddings: list[list[float]],
              terms: list[list[str]] | None = None, sentence_vectors: list[np.ndarray] | None = None) -> None:
        """Write chunks to the store without making them visible (see `commit`). Chunk ids hash
        text and metadata, so an id already stored holds exactly this chunk and is skipped.
        `terms`: each chunk's keyword terms (computed here when not given); kept so that a commit
        builds the keyword index without re-reading and re-stemming every chunk."""
        present: set[str] = set()
        for i in range(0, len(passages), _BATCH):
            ids = [p.chunk_id for p in passages[i:i + _BATCH]]
            present |= set(self._collection.get(ids=ids, include=[])["ids"])
        nodes = [_to_node(p, e) for p, e in zip(passages, embeddings) if p.chunk_id not in present]
        for i in range(0, len(nodes), 2000):  # Chroma caps the batch size of one add
            self.store.add(nodes[i:i + 2000])
        if terms is None:
            terms = [keyword_terms(search_text(p)) for p in passages]
        self._terms.put({p.chunk_id: t for p, t in zip(passages, terms)})
        if sentence_vectors is not None:
            self._sentences.put({p.chunk_id: v for p, v in zip(passages, sentence_vectors)})

    def sentence_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """Vectors of each chunk's units (`text.units`), for the chunks that have them."""
        return self._sentences.get(chunk_ids)

    def stage_text(self, doc_id: str, digest: str, text: str) -> str:
        """Store a document's cleaned text (what chunk offsets point into); returns its file name."""
        name = f"{doc_id}-{digest[:12]}.txt"
        (self.dir / "texts").mkdir(exist_ok=True)
        _atomic_write(self.dir / "texts" / name, text)
        return name

    def document_text(self, doc_id: str) -> str | None:
        """The committed cleaned text of a document (what chunk offsets point into), if stored."""
        name = self.manifest()["documents"].get(doc_id, {}).get("text_file")
        path = self.dir / "texts" / name if name else None
        return path.read_text(encoding="utf-8") if path is not None and path.exists() else None

    def context(self, p: Passage, chars: int = 500) -> tuple[str, str, str]:
        """(text before, the passage, text after) from the cleaned document, to show a citation in
        context; empty sides when the document text is not stored."""
        text = self.document_text(p.doc_id)
        if text is None:
            return "", p.text, ""
        return text[max(0, p.char_start - chars):p.char_start], text[p.char_start:p.char_end], \
            text[p.char_end:p.char_end + chars]

    def commit(self, manifest: dict[str, Any]) -> None:
        """Make `manifest` the visible index: build its keyword index, swap the manifest in,
        then drop chunks and keyword indexes nothing refers to any more."""
        active = [i for d in manifest["documents"].values() for i in d.get("chunk_ids", ())]
        name = self._build_keyword_index(active)
        _atomic_write(self.manifest_path, json.dumps({**manifest, "keyword_index": name},
                                                     ensure_ascii=False, indent=1))
        self._own_stamp = self.manifest_path.stat().st_mtime_ns
        try:
            self.collect_garbage()
        except Exception as exc:  # committed already; what is left over is collected by the next run
            self.cleanup_error = f"{type(exc).__name__}: {exc}"

    def collect_garbage(self) -> int:
        """Delete stored chunks and keyword indexes the committed manifest does not list."""
        manifest = self.manifest()
        active = self.active_ids()
        stored = self._collection.get(include=[])["ids"]
        orphans = [i for i in stored if i not in active]
        for i in range(0, len(orphans), 2000):
            self._collection.delete(ids=orphans[i:i + 2000])
        self._terms.keep_only(active)
        self._sentences.keep_only(active)
        texts = {d.get("text_file") for d in manifest["documents"].values()}
        for f in (self.dir / "texts").glob("*.txt") if (self.dir / "texts").exists() else ():
            if f.name not in texts:
                f.unlink(missing_ok=True)
        keep = manifest.get("keyword_index")
        for d in self.dir.glob("bm25*"):
            if d.name != keep and d.is_dir():
                shutil.rmtree(d, ignore_errors=True)
        return len(orphans)

    def reset(self) -> None:
        """Forget everything in this index (for `--rebuild`); the embedding cache is kept."""
        name = self._collection.name
        self._client.delete_collection(name)
        self._collection = self._client.get_or_create_collection(
            name=name, embedding_function=None, metadata={"hnsw:space": "cosine"})
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.store = ChromaVectorStore(chroma_collection=self._collection)
        self.manifest_path.unlink(missing_ok=True)
        for d in self.dir.glob("bm25*"):
            shutil.rmtree(d, ignore_errors=True)
        self._terms.clear()
        self._sentences.clear()
        self._manifest, self._manifest_stamp, self._active = None, 0, frozenset()
        self._bm25, self._bm25_ids, self._bm25_name, self._vocab = None, [], None, None

    def orphan_count(self) -> int:
        return self._collection.count() - self.count()

    def all_passages(self) -> list[Passage]:
        return list(self.get(sorted(self.active_ids())).values())

    def _build_keyword_index(self, chunk_ids: list[str]) -> str:
        """A new bm25s index over `chunk_ids` in a fresh directory; returns its name."""
        import bm25s

        terms = self._terms.get(set(chunk_ids))
        missing = [i for i in chunk_ids if i not in terms]
        if missing:  # chunks staged before terms were kept (older indexes): read and stem them once
            found = self.get(missing, visible_only=False)
            fresh = {i: keyword_terms(search_text(p)) for i, p in found.items()}
            self._terms.put(fresh)
            terms.update(fresh)
        ordered = [i for i in chunk_ids if i in terms]
        tmp = Path(tempfile.mkdtemp(prefix="bm25-", dir=self.dir))
        if ordered:
            retriever = bm25s.BM25()
            retriever.index(_with_compound_parts([terms[i] for i in ordered]), show_progress=False)
            retriever.save(str(tmp / "index"))
        _atomic_write(tmp / "ids.json", json.dumps(ordered))
        return tmp.name

    # ---------- reading ----------
    def require_ready(self) -> None:
        if self.count() == 0:
            with self.store_errors("count"):
                stored = self._collection.count()
            if stored and not self.manifest_path.exists():
                raise IndexCorruptError(
                    f"the index manifest {self.manifest_path} is missing, but the store holds {stored} chunks",
                    "run `kepol ingest --rebuild` to rebuild the index from the documents")
            raise IndexMissingError(
                f"the index in {self.settings.data_dir} is empty",
                "run `kepol ingest` first (it reads the bundled corpus/ by default)")

    def dense_search(self, query_embedding: list[float], k: int,
                     only: LibraryFilter | None = None) -> list[tuple[str, float]]:
        """(chunk_id, cosine similarity) of the `k` nearest visible chunks. Ids and distances only:
        fetching texts and metadata costs about 0.2 ms per result at 100k chunks, so only the
        passages that survive fusion are fetched (see `get`)."""
        active = self.active_ids()
        if not active:
            return []
        # Invisible chunks (staged by a running ingest, left by a killed one) may take places: ask for
        # a few more, and for many more only when that was not enough. Chroma's count() would say
        # how many exist, but it scans the collection (12 ms at 100k chunks), so it is not asked.
        n = k + 4
        while True:
            with self.store_errors("search"):
                query: Any = [query_embedding]  # chromadb's stubs want arrays; a list of floats is accepted
                res = self._collection.query(query_embeddings=query, n_results=n, where=where_filter(only),
                                             include=["distances"])
            ids, dists = res["ids"][0], (res["distances"] or [[]])[0]
            out = [(i, 1.0 - float(d)) for i, d in zip(ids, dists) if i in active]  # cosine distance = 1 - cos
            if len(out) >= k or len(ids) < n:
                return out[:k]
            n *= 4

    def _load_bm25(self) -> None:
        import bm25s

        if self._pinned:
            return
        name = self.manifest().get("keyword_index")
        if self._bm25_name == name:
            return
        path = self.dir / name if name else None
        ids_file = path / "ids.json" if path else None
        if not ids_file or not ids_file.exists():
            self._bm25, self._bm25_ids, self._bm25_name, self._vocab = None, [], name, None
            return
        self._vocab = None
        self._bm25_ids = json.loads(ids_file.read_text(encoding="utf-8"))
        self._bm25 = bm25s.BM25.load(str(ids_file.parent / "index")) if self._bm25_ids else None
        self._bm25_name = name

    def vocabulary(self) -> Vocabulary:
        """Every term of the keyword index (stems and compound parts): what queries are mapped onto."""
        self._load_bm25()
        if self._vocab is None:
            self._vocab = Vocabulary(self._bm25.vocab_dict.keys() if self._bm25 is not None else ())
        return self._vocab

    def keyword_search(self, query_terms: list[str], k: int) -> list[tuple[str, float]]:
        """(chunk_id, BM25 score) for the best keyword matches of stemmed `query_terms`."""
        self._load_bm25()
        if self._bm25 is None:
            return []
        vocab = self._bm25.vocab_dict
        terms = [t for t in query_terms if t in vocab]
        if not terms:
            return []
        # scored directly: bm25s's retrieve() adds a thread pool and a progress bar per call
        scores = self._bm25.get_scores_from_ids([vocab[t] for t in terms])
        n = min(k, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._bm25_ids[int(d)], float(scores[d])) for d in top if scores[d] > 0]

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25 idf of stemmed terms over the chunk collection; unseen terms get the maximum."""

        self._load_bm25()
        n = len(self._bm25_ids)
        out: dict[str, float] = {}
        for t in terms:
            df = 0
            if self._bm25 is not None and t in self._bm25.vocab_dict:
                tid = self._bm25.vocab_dict[t]
                indptr = self._bm25.scores["indptr"]
                df = int(indptr[tid + 1] - indptr[tid])
            out[t] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return out

    def get(self, chunk_ids: list[str], query_embedding: list[float] | None = None,
            visible_only: bool = True) -> dict[str, Passage]:
        """Passages by id; with a query embedding, `score` is their cosine similarity to it."""
        if visible_only:
            active = self.active_ids()
            chunk_ids = [i for i in chunk_ids if i in active]
        if not chunk_ids:
            return {}
        include: list[Any] = ["documents", "metadatas"] + (["embeddings"] if query_embedding is not None else [])
        out = {}
        ids = list(chunk_ids)
        for k in range(0, len(ids), _BATCH):  # Chroma's SQLite caps the variables of one query
            with self.store_errors("read"):
                got = self._collection.get(ids=ids[k:k + _BATCH], include=include)
            vectors: Any = got["embeddings"]
            for j, (i, d, m) in enumerate(zip(got["ids"], got["documents"] or [], got["metadatas"] or [])):
                score = 0.0
                if query_embedding is not None:
                    score = float(sum(a * b for a, b in zip(vectors[j], query_embedding)))
                out[i] = _from_meta(i, d or "", dict(m or {}), score)
        return out

    def neighbours(self, p: Passage) -> list[Passage]:
        """The chunks right before and after `p` in its document (for list questions and context).
        Looked up by id in the manifest, which lists each document's chunks in order: a metadata
        query in Chroma scans the collection (about 50 ms at 100k chunks)."""
        ids = self.manifest()["documents"].get(p.doc_id, {}).get("chunk_ids", [])
        want = [ids[o] for o in (p.ordinal - 1, p.ordinal + 1) if 0 <= o < len(ids)]
        return sorted(self.get(want).values(), key=lambda x: x.ordinal)

    def with_next(self, p: Passage, max_chunks: int = 5) -> Passage:
        """`p` extended by the chunks after it while a list goes on (at most `max_chunks` in all), as
        one passage cut from the cleaned document text: a list that runs past a chunk's end (the
        Städtetag's 11th Handlungsfeld) is answered whole."""
        doc = self.document_text(p.doc_id)
        if doc is None:
            return p
        merged, last = p, p
        for _ in range(max_chunks - 1):
            nxt = [n for n in self.neighbours(last) if n.ordinal == last.ordinal + 1]
            if not nxt or not LIST_ITEM.match(nxt[0].text):
                break
            n = nxt[0]
            shift = n.char_start - merged.char_start
            breaks = list(merged.page_breaks)
            for off, page in n.page_breaks:
                if off + shift >= len(merged.text) and (not breaks or breaks[-1][1] != page):
                    breaks.append((off + shift, page))
            merged = replace(merged, chunk_id=f"{merged.chunk_id}+{n.chunk_id}",
                             text=doc[merged.char_start:n.char_end], char_end=n.char_end,
                             page_end=n.page_end or merged.page_end, page_breaks=tuple(breaks))
            last = n
            if not ends_in_list_item(n.text):
                break  # the list ends inside this chunk
        return merged


_BATCH = 5000  # ids per Chroma get: its SQLite refuses queries with too many variables (>32k)


class TermStore:
    """Each staged chunk's keyword terms by chunk id (SQLite next to the keyword index). Chunk ids
    hash the chunk, so rows of uncommitted runs are harmless and collected with the orphans."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:  # opened on first use: readers of the index never need it
            self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS terms (chunk_id TEXT PRIMARY KEY, terms TEXT NOT NULL)")
        return self._db

    def put(self, terms: dict[str, list[str]]) -> None:
        with self._conn() as db:
            db.executemany("INSERT OR REPLACE INTO terms VALUES (?, ?)", [(i, " ".join(t)) for i, t in terms.items()])

    def get(self, ids: set[str]) -> dict[str, list[str]]:
        rows = self._conn().execute("SELECT chunk_id, terms FROM terms")
        return {i: t.split() for i, t in rows if i in ids}

    def keep_only(self, ids: Collection[str]) -> None:
        stale = [(i,) for (i,) in self._conn().execute("SELECT chunk_id FROM terms") if i not in ids]
        with self._conn() as db:
            db.executemany("DELETE FROM terms WHERE chunk_id = ?", stale)

    def clear(self) -> None:
        with self._conn() as db:
            db.execute("DELETE FROM terms")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class SentenceStore:
    """Each staged chunk's sentence vectors (float16, one row per chunk, in the order of
    `text.units`): answers score sentences by meaning without embedding them at question time
    (about 1 s per passage on 2 cores)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS vectors (chunk_id TEXT PRIMARY KEY, n INTEGER NOT NULL,"
                             " dim INTEGER NOT NULL, vecs BLOB NOT NULL)")
        return self._db

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        rows = [(i, int(v.shape[0]), int(v.shape[1]) if v.ndim == 2 else 0, v.astype(np.float16).tobytes())
                for i, v in vectors.items()]
        with self._lock, self._conn() as db:
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)

    def get(self, ids: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self._lock:
            db = self._conn()
            for k in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
                part = ids[k:k + 500]
                rows = db.execute(f"SELECT chunk_id, n, dim, vecs FROM vectors WHERE chunk_id IN "
                                  f"({','.join('?' * len(part))})", part).fetchall()
                for i, n, dim, blob in rows:
                    out[i] = np.frombuffer(blob, dtype=np.float16).astype(np.float32).reshape(n, dim)
        return out

    def keep_only(self, ids: Collection[str]) -> None:
        with self._lock:
            stale = [(i,) for (i,) in self._conn().execute("SELECT chunk_id FROM vectors") if i not in ids]
            with self._conn() as db:
                db.executemany("DELETE FROM vectors WHERE chunk_id = ?", stale)

    def clear(self) -> None:
        with self._lock, self._conn() as db:
            db.execute("DELETE FROM vectors")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def where_filter(f: LibraryFilter | None) -> dict[str, Any] | None:
    """The Chroma metadata filter for a library filter (None: the whole library)."""
    if not f:
        return None
    clauses = [{k: v} for k, v in (("kind", f.kind), ("publisher", f.publisher), ("year", f.year)) if v not in (None, "")]
    return None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _with_compound_parts(docs: list[list[str]]) -> list[list[str]]:
    """Add the known parts of long compounds to each chunk's terms, so "Beteiligung" also finds
    "Bürgerbeteiligung" (parts are looked up in the corpus vocabulary itself)."""
    vocab = {t for d in docs for t in d}
    parts_of = {t: split_compound(t, vocab) for t in vocab}  # once per term, not per chunk
    out = []
    for d in docs:
        parts = [p for t in set(d) for p in parts_of[t]]
        out.append(d + parts or ["∅"])
    return out


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
