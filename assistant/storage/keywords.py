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
COLLECTIONS_FILE = "collections.json"  # collection → sub-directory of its index
ANY = "*"  # the one part of a keyword index written before collections existed


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
    def build(cls, folder: Path, ordered_ids: list[str], terms: list[list[str]]) -> KeywordIndex:
        """A new bm25s index over the chunks `ordered_ids` (with their `terms`), saved in `folder` and
        returned as built: the commit that made it need not read it back."""
        bm25s = _bm25s()

        folder.mkdir(parents=True, exist_ok=True)
        retriever = None
        if ordered_ids:
            retriever = bm25s.BM25()
            docs = _with_compound_parts(terms)
            # term ids in sorted order, not in bm25s's own order of discovery (a set's, which varies
            # with the process's hash seed): the same chunks give the same index, and the same ties
            vocab = {t: i for i, t in enumerate(sorted({t for d in docs for t in d}))}
            retriever.index(([[vocab[t] for t in d] for d in docs], vocab), show_progress=False)
            retriever.save(str(folder / "index"))
        (folder / "ids.json").write_text(json.dumps(ordered_ids), encoding="utf-8")
        return cls(folder.name, retriever, ordered_ids)

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

    def df(self, term: str) -> int:
        """How many of its chunks hold the stemmed `term`."""
        if self._bm25 is None or term not in self._bm25.vocab_dict:
            return 0
        tid = self._bm25.vocab_dict[term]
        indptr = self._bm25.scores["indptr"]
        return int(indptr[tid + 1] - indptr[tid])

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25 idf of stemmed terms over the chunk collection; unseen terms get the maximum."""
        return bm25_idf(len(self._ids), {t: self.df(t) for t in terms})


def bm25_idf(n: int, df: dict[str, int]) -> dict[str, float]:
    return {t: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}


class Keywords:
    """The keyword indexes of one commit, one per collection, in one directory (`name`). A caller's
    view (`seen_by`) searches only its collections' indexes, so a document it may not read shapes
    neither its matches nor their scores, idf or typo corrections (one index over every collection
    would leak through its statistics). An index written before collections existed is one part,
    ANY, holding public documents only; results are always limited to the view's chunks as well."""

    def __init__(self, name: str = "", parts: dict[str, KeywordIndex] | None = None) -> None:
        self.name = name
        self.parts = parts or {}
        self._views: dict[frozenset[str], Keywords] = {}
        self._vocabulary: Vocabulary | None = None

    @classmethod
    def load(cls, root: Path, name: str) -> Keywords:
        if not name:
            return cls()
        folder = root / name
        try:
            listing = json.loads((folder / COLLECTIONS_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            if not (folder / "ids.json").exists():
                raise KeywordIndexGone(name) from None
            return cls(name, {ANY: KeywordIndex.load(root, name)})
        return cls(name, {c: KeywordIndex.load(folder, sub) for c, sub in listing.items()})

    @classmethod
    def build(cls, root: Path, by_collection: dict[str, tuple[list[str], list[list[str]]]]) -> Keywords:
        """One index per collection (chunk ids in order, their terms) in a fresh directory under `root`."""
        tmp = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
        listing = {c: f"c{n}" for n, c in enumerate(sorted(by_collection))}
        parts = {c: KeywordIndex.build(tmp / listing[c], *by_collection[c]) for c in listing}
        (tmp / COLLECTIONS_FILE).write_text(json.dumps(listing, ensure_ascii=False), encoding="utf-8")
        return cls(tmp.name, parts)

    def seen_by(self, collections: frozenset[str] | None) -> Keywords:
        """The indexes of these collections only (None: all), as one."""
        if collections is None:
            return self
        if collections not in self._views:
            self._views[collections] = Keywords(self.name, {c: k for c, k in self.parts.items()
                                                            if c in collections or c == ANY})
        return self._views[collections]

    def __len__(self) -> int:
        return sum(len(k) for k in self.parts.values())

    @property
    def vocabulary(self) -> Vocabulary:
        """Every term of these indexes (stems and compound parts): what queries are mapped onto."""
        if self._vocabulary is None:
            parts = list(self.parts.values())
            self._vocabulary = parts[0].vocabulary if len(parts) == 1 else \
                Vocabulary(frozenset(t for k in parts for t in k.vocabulary))
        return self._vocabulary

    def search(self, query_terms: list[str], k: int) -> list[tuple[str, float]]:
        """The best `k` matches over these indexes (each part scored by its own statistics)."""
        found = [hit for part in self.parts.values() for hit in part.search(query_terms, k)]
        return sorted(found, key=lambda h: -h[1])[:k] if len(self.parts) > 1 else found

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25 idf over exactly the chunks of these indexes."""
        return bm25_idf(len(self), {t: sum(k.df(t) for k in self.parts.values()) for t in terms})


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
