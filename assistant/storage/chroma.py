"""The Chroma adapter: an embedded store or a server, Chroma's failures translated into ours, and
requests batched within Chroma's limits. Passages go in as llama-index nodes (the required vector
store integration) and come out as our `Passage`."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.core.errors import IndexCorruptError, KepolError, StoreUnavailableError
from assistant.core.settings import Settings
from assistant.core.types import LibraryFilter, Passage

BATCH = 5000  # ids per Chroma get: its SQLite refuses queries with too many variables (>32k)
ADD_BATCH = 2000  # Chroma caps the batch size of one add


def search_text(p: Passage) -> str:
    """What both retrievers see: title, publisher and section give context the chunk text alone
    lacks (a list of offers rarely names who offers them)."""
    head = " – ".join(x for x in (p.title, p.publisher) if x)
    return "\n".join(x for x in (head, p.section, p.text) if x)


def where_filter(f: LibraryFilter | None) -> dict[str, Any] | None:
    """The Chroma metadata filter for a library filter (None: the whole library)."""
    if not f:
        return None
    clauses = [{k: v} for k, v in (("kind", f.kind), ("publisher", f.publisher), ("year", f.year)) if v not in (None, "")]
    return None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}


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


class ChromaStore:
    """One Chroma collection per settings fingerprint. Knows nothing of versions: what is visible
    is decided by the manifest (see IndexVersion)."""

    def __init__(self, settings: Settings, repair: bool = False) -> None:
        """`repair` (for `kepol ingest --rebuild`): an embedded store that cannot be opened is moved
        aside and a fresh one started; the embedding cache makes rebuilding it cheap."""
        self.settings = settings
        self.set_aside: Path | None = None  # where a damaged store was moved by a repair
        try:
            self._open()
        except IndexCorruptError:
            if not repair:
                raise
            from chromadb.api.shared_system_client import SharedSystemClient

            chroma = settings.store.data_dir / "chroma"
            aside = chroma.with_name(f"chroma.damaged-{int(time.time())}")
            chroma.rename(aside)
            self.set_aside = aside
            SharedSystemClient.clear_system_cache()  # chromadb keeps the failed system per path
            self._open()

    @property
    def server(self) -> bool:
        return bool(self.settings.store.chroma_host)

    def _open(self) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        s, store = self.settings, self.settings.store
        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if store.chroma_host:
            # one server shared by ingest jobs and UI workers; see README "Scaling out"
            headers = {"Authorization": f"Bearer {store.chroma_token.get_secret_value()}"} if store.chroma_token else None
            try:
                self._client = chromadb.HttpClient(host=store.chroma_host, port=store.chroma_port, ssl=store.chroma_ssl,
                                                   headers=headers, settings=chroma_settings,
                                                   tenant=store.chroma_tenant, database=store.chroma_database)
            except Exception as exc:  # chromadb raises plain ValueError/ConnectionError subclasses here
                raise StoreUnavailableError(
                    f"cannot use the Chroma server at {s.chroma_server} "
                    f"(tenant {store.chroma_tenant}, database {store.chroma_database}): {exc}",
                    "start it (`chroma run --path DIR --host 127.0.0.1 --port PORT`), check KEPOL_CHROMA_HOST/"
                    "_PORT/_TOKEN, or unset KEPOL_CHROMA_HOST to use the embedded store") from exc
        with self.errors("open"):
            if not store.chroma_host:
                self._client = chromadb.PersistentClient(path=str(store.data_dir / "chroma"), settings=chroma_settings)
            self._attach(f"kepol-{s.index_fingerprint()}")
            if not store.chroma_host:
                self._collection.count()  # touches the segment files: damage shows now, not mid-answer

    def _attach(self, name: str) -> None:
        # embedding_function=None: Chroma must never instantiate its downloading default model.
        self._collection = self._client.get_or_create_collection(name=name, embedding_function=None,
                                                                 metadata={"hnsw:space": "cosine"})
        self._vectors_of: Any = None  # llama-index's store on it, made at the first write

    @property
    def _vectors(self) -> Any:
        """llama-index's vector store on the collection: only writing needs it (and llama-index, whose
        import costs about 2 s), so a process that only answers never loads it."""
        if self._vectors_of is None:  # _attach resets it with every collection it opens
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vectors_of = ChromaVectorStore(chroma_collection=self._collection)
        return self._vectors_of

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Chroma's failures as our errors: an unreachable server (retried on the next call: HTTP
        needs no reconnect) or a damaged embedded store (repaired by `kepol ingest --rebuild`)."""
        try:
            yield
        except KepolError:
            raise
        except Exception as exc:  # chromadb, httpx and OS errors: the store is the problem either way
            s = self.settings
            if s.store.chroma_host:
                raise StoreUnavailableError(
                    f"the Chroma server at {s.chroma_server} failed ({doing}: {type(exc).__name__}: {exc})",
                    "check that the server runs and KEPOL_CHROMA_* are right; the next question retries") from exc
            raise IndexCorruptError(
                f"the vector store in {s.store.data_dir / 'chroma'} is damaged ({doing}: {type(exc).__name__}: {exc})",
                "run `kepol ingest --rebuild` to rebuild it from the documents (the embedding cache is kept)") from exc

    def close(self) -> None:
        """Release the client (the last client of a path stops its in-process system)."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def reopen(self) -> None:
        """Another process committed: the embedded Chroma system holds its vector index in memory,
        so open it afresh to see the new vectors (works when this is the only client of the path
        in this process, as in `kepol serve`)."""
        self.close()
        self._open()

    # ---------- writing ----------
    def add(self, passages: list[Passage], embeddings: list[list[float]]) -> None:
        """Add chunks not stored yet. Chunk ids hash text and metadata, so an id already stored
        holds exactly this chunk and is skipped."""
        present: set[str] = set()
        for i in range(0, len(passages), BATCH):
            present |= set(self._collection.get(ids=[p.chunk_id for p in passages[i:i + BATCH]], include=[])["ids"])
        nodes = [_to_node(p, e) for p, e in zip(passages, embeddings) if p.chunk_id not in present]
        for i in range(0, len(nodes), ADD_BATCH):
            self._vectors.add(nodes[i:i + ADD_BATCH])

    def delete(self, ids: list[str]) -> None:
        for i in range(0, len(ids), ADD_BATCH):
            self._collection.delete(ids=ids[i:i + ADD_BATCH])

    def reset(self) -> None:
        """Drop every chunk: the collection is deleted and created again."""
        name = self._collection.name
        self._client.delete_collection(name)
        self._attach(name)

    # ---------- reading ----------
    def ids(self) -> list[str]:
        return list(self._collection.get(include=[])["ids"])

    def count(self) -> int:
        with self.errors("count"):
            return int(self._collection.count())

    def query(self, vector: list[float], n: int, only: LibraryFilter | None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the `n` nearest stored chunks, visible or not."""
        with self.errors("search"):
            query: Any = [vector]  # chromadb's stubs want arrays; a list of floats is accepted
            res = self._collection.query(query_embeddings=query, n_results=n, where=where_filter(only),
                                         include=["distances"])
        ids, dists = res["ids"][0], (res["distances"] or [[]])[0]
        return [(i, 1.0 - float(d)) for i, d in zip(ids, dists)]  # cosine distance = 1 - cos

    def get(self, ids: list[str], query_embedding: list[float] | None = None) -> dict[str, Passage]:
        """Passages by id; with a query embedding, `score` is their cosine similarity to it."""
        include: list[Any] = ["documents", "metadatas"] + (["embeddings"] if query_embedding is not None else [])
        out = {}
        for k in range(0, len(ids), BATCH):
            with self.errors("read"):
                got = self._collection.get(ids=ids[k:k + BATCH], include=include)
            vectors: Any = got["embeddings"]
            for j, (i, d, m) in enumerate(zip(got["ids"], got["documents"] or [], got["metadatas"] or [])):
                score = 0.0
                if query_embedding is not None:
                    score = float(sum(a * b for a, b in zip(vectors[j], query_embedding)))
                out[i] = _from_meta(i, d or "", dict(m or {}), score)
        return out
