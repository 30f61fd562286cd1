"""The German BM25 keyword index (bm25s): built by a commit into a fresh directory over exactly the
committed chunks, loaded once per committed version, never changed after."""
from __future__ import annotations

import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.vocabulary import Vocabulary
from assistant.core.text import split_compound

PREFIX = "bm25-"


def _bm25s() -> Any:
    """bm25s, with its logger back at WARNING: it sets DEBUG on import, so every upload would log
    "Building index from IDs" wherever a handler exists."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def keyword_dirs(root: Path) -> list[Path]:
    """Every keyword index directory under `root`, committed or left over."""
    return [d for d in root.glob(PREFIX.rstrip("-") + "*") if d.is_dir()]


class KeywordIndexGone(Exception):
    """The directory a manifest names was collected by a newer commit meanwhile: read the manifest again."""


class KeywordIndex:
    """Search, idf and the vocabulary (with its typo buckets) of one committed keyword index."""

    def __init__(self, name: str = "", bm25: Any = None, ids: list[str] | None = None) -> None:
        self.name = name
        self._bm25 = bm25
        self._ids = ids or []
        # built once here, not per question: typo correction buckets it on first use
        self.vocabulary = Vocabulary(bm25.vocab_dict.keys() if bm25 is not None else ())

    @classmethod
    def load(cls, root: Path, name: str) -> KeywordIndex:
        """The index `name` under `root` ("" : no keyword index, as before the first commit)."""
        if not name:
            return cls()
        ids_file = root / name / "ids.json"
        try:
            ids = json.loads(ids_file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise KeywordIndexGone(name) from exc
        bm25s = _bm25s()

        return cls(name, bm25s.BM25.load(str(root / name / "index")) if ids else None, ids)

    @classmethod
    def build(cls, root: Path, ordered_ids: list[str], terms: list[list[str]]) -> KeywordIndex:
        """A new bm25s index over the chunks `ordered_ids` (with their `terms`), saved in a fresh
        directory under `root` (its `name`) and returned as built: the commit that made it need
        not read it back."""
        bm25s = _bm25s()

        tmp = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
        retriever = None
        if ordered_ids:
            retriever = bm25s.BM25()
            docs = _with_compound_parts(terms)
            # term ids in sorted order, not in bm25s's own order of discovery (a set's, which varies
            # with the process's hash seed): the same chunks give the same index, and the same ties
            vocab = {t: i for i, t in enumerate(sorted({t for d in docs for t in d}))}
            retriever.index(([[vocab[t] for t in d] for d in docs], vocab), show_progress=False)
            retriever.save(str(tmp / "index"))
        (tmp / "ids.json").write_text(json.dumps(ordered_ids), encoding="utf-8")
        return cls(tmp.name, retriever, ordered_ids)

    def __len__(self) -> int:
        return len(self._ids)

    def search(self, query_terms: list[str], k: int) -> list[tuple[str, float]]:
        """(chunk_id, BM25 score) for the best keyword matches of stemmed `query_terms`."""
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
        return [(self._ids[int(d)], float(scores[d])) for d in top if scores[d] > 0]

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25 idf of stemmed terms over the chunk collection; unseen terms get the maximum."""
        n = len(self._ids)
        out: dict[str, float] = {}
        for t in terms:
            df = 0
            if self._bm25 is not None and t in self._bm25.vocab_dict:
                tid = self._bm25.vocab_dict[t]
                indptr = self._bm25.scores["indptr"]
                df = int(indptr[tid + 1] - indptr[tid])
            out[t] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return out


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
