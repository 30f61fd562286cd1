"""The only module that touches storage: a Chroma collection (via llama-index), a bm25s keyword
index and the manifest of ingested documents, all under one settings-hashed directory."""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from assistant.errors import IndexMissingError
from assistant.settings import Settings
from assistant.text import keyword_terms
from assistant.types import DocumentInfo, Passage

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


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
        "publisher": p.publisher, "year": -1 if p.year is None else p.year,
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
        section=m.get("section", ""), publisher=m.get("publisher", ""), year=opt(m.get("year")), score=score)


class KepolIndex:
    """Vector store + keyword index + manifest for one settings fingerprint."""

    def __init__(self, settings: Settings) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.settings = settings
        self.dir = settings.index_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(settings.data_dir / "chroma"),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))
        # embedding_function=None: Chroma must never instantiate its downloading default model.
        self._collection = self._client.get_or_create_collection(
            name=f"kepol-{settings.index_fingerprint()}", embedding_function=None,
            metadata={"hnsw:space": "cosine"})
        self.store = ChromaVectorStore(chroma_collection=self._collection)
        self._bm25: Any = None
        self._bm25_ids: list[str] = []
        self._bm25_loaded_at = 0.0

    # ---------- manifest ----------
    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"documents": {}}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        _atomic_write(self.manifest_path, json.dumps(manifest, ensure_ascii=False, indent=1))

    def documents(self) -> list[DocumentInfo]:
        docs = self.manifest()["documents"]
        return [DocumentInfo(doc_id=k, title=v["title"], source=v["source"], kind=v.get("kind", ""),
                             publisher=v.get("publisher", ""), year=v.get("year"),
                             audience=tuple(v.get("audience", ()))) for k, v in docs.items()]

    def count(self) -> int:
        return self._collection.count()

    # ---------- writing ----------
    def replace_document(self, doc_id: str, passages: list[Passage], embeddings: list[list[float]]) -> None:
        """Add the new chunks first, then drop stale ones: a crash in between leaves a searchable index."""
        existing = set(self._collection.get(where={"document_id": doc_id}, include=[])["ids"])
        new_ids = {p.chunk_id for p in passages}
        nodes = [_to_node(p, e) for p, e in zip(passages, embeddings) if p.chunk_id not in existing]
        if nodes:
            self.store.add(nodes)
        stale = sorted(existing - new_ids)
        if stale:
            self.store.delete_nodes(node_ids=stale)

    def delete_document(self, doc_id: str) -> None:
        self.store.delete(ref_doc_id=doc_id)

    def all_passages(self) -> list[Passage]:
        got = self._collection.get(include=["documents", "metadatas"])
        return [_from_meta(i, d or "", m or {}) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def rebuild_keyword_index(self) -> None:
        """Rebuild the bm25s index from the stored chunks and swap it in atomically."""
        import bm25s

        passages = self.all_passages()
        target = self.dir / "bm25"
        tmp = Path(tempfile.mkdtemp(prefix="bm25-", dir=self.dir))
        if passages:
            retriever = bm25s.BM25()
            retriever.index([keyword_terms(search_text(p)) or ["∅"] for p in passages], show_progress=False)
            retriever.save(str(tmp / "index"))
        (tmp / "ids.json").write_text(json.dumps([p.chunk_id for p in passages]), encoding="utf-8")
        old = self.dir / "bm25.old"
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        self._bm25 = None

    # ---------- reading ----------
    def require_ready(self) -> None:
        if self.count() == 0:
            raise IndexMissingError(
                f"the index in {self.settings.data_dir} is empty",
                "run `kepol ingest` first (it reads the bundled corpus/ by default)")

    def dense_search(self, query_embedding: list[float], k: int, where: dict[str, Any] | None = None) -> list[Passage]:
        from llama_index.core.vector_stores.types import VectorStoreQuery

        n = min(k, self.count())
        if n == 0:
            return []
        kwargs = {"where": where} if where else {}
        res = self.store.query(VectorStoreQuery(query_embedding=query_embedding, similarity_top_k=n), **kwargs)
        out = []
        for node, sim in zip(res.nodes, res.similarities or []):
            cosine = 1.0 + math.log(max(sim, 1e-12))  # llama-index reports exp(-distance); distance = 1 - cos
            meta = dict(node.metadata)
            meta["document_id"] = node.ref_doc_id or meta.get("document_id")
            out.append(_from_meta(node.node_id, node.get_content(), meta, cosine))
        return out

    def _load_bm25(self) -> None:
        import bm25s

        path = self.dir / "bm25"
        stamp = path.stat().st_mtime if path.exists() else 0.0
        if self._bm25 is not None and stamp == self._bm25_loaded_at:
            return
        ids_file = path / "ids.json"
        if not ids_file.exists():
            self._bm25, self._bm25_ids = None, []
            return
        self._bm25_ids = json.loads(ids_file.read_text(encoding="utf-8"))
        self._bm25 = bm25s.BM25.load(str(path / "index")) if self._bm25_ids else None
        self._bm25_loaded_at = stamp

    def keyword_search(self, query: str, k: int) -> list[tuple[str, float]]:
        """(chunk_id, BM25 score) for the best keyword matches, German-stemmed."""
        self._load_bm25()
        if self._bm25 is None:
            return []
        vocab = self._bm25.vocab_dict
        terms = [t for t in keyword_terms(query) if t in vocab]
        if not terms:
            return []
        n = min(k, len(self._bm25_ids))
        docs, scores = self._bm25.retrieve([terms], k=n, show_progress=False, n_threads=1)
        return [(self._bm25_ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

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

    def get(self, chunk_ids: list[str], query_embedding: list[float] | None = None) -> dict[str, Passage]:
        """Passages by id; with a query embedding, `score` is their cosine similarity to it."""
        if not chunk_ids:
            return {}
        include = ["documents", "metadatas"] + (["embeddings"] if query_embedding is not None else [])
        got = self._collection.get(ids=list(chunk_ids), include=include)
        out = {}
        for j, (i, d, m) in enumerate(zip(got["ids"], got["documents"], got["metadatas"])):
            score = 0.0
            if query_embedding is not None:
                score = float(sum(a * b for a, b in zip(got["embeddings"][j], query_embedding)))
            out[i] = _from_meta(i, d or "", m or {}, score)
        return out

    def neighbours(self, p: Passage) -> list[Passage]:
        """The chunks right before and after `p` in its document (for list questions and context)."""
        got = self._collection.get(
            where={"$and": [{"document_id": p.doc_id}, {"ordinal": {"$in": [p.ordinal - 1, p.ordinal + 1]}}]},
            include=["documents", "metadatas"])
        out = [_from_meta(i, d or "", m or {}) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(out, key=lambda x: x.ordinal)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
