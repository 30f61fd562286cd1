"""What keeps large libraries working: reads past Chroma's per-query variable limit, keyword terms
kept across runs (and rebuilt for indexes that predate them), typo lookups without a vocabulary scan."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.models.Collection import Collection
from rapidfuzz.distance import Levenshtein

from assistant.api import Assistant
from assistant.embedding import HashEmbedding
from assistant.storage import DocumentRecord, KepolIndex, Manifest
from assistant.storage import chroma
from assistant.storage.chroma import ChromaStore
from assistant.core.vocabulary import Vocabulary, correct
from assistant.core.settings import Settings
from assistant.core.types import Passage


def _passages(n: int) -> list[Passage]:
    return [Passage(chunk_id=f"d{i // 10}:{i % 10:04d}:x{i}", doc_id=f"d{i // 10}", title="T", source="s.txt",
                    kind="unknown", text=f"Absatz {i} über Städtepartnerschaft Nummer{i}", ordinal=i % 10,
                    char_start=0, char_end=10) for i in range(n)]


# Chroma's SQLite refuses a statement with more than this many variables (SQLITE_MAX_VARIABLE_NUMBER)
SQLITE_VARIABLES = 32_766


def _variables(kwargs: dict[str, Any]) -> int:
    """How many values one Chroma call binds: its ids and every list inside its filter."""
    n = len(kwargs.get("ids") or [])

    def walk(x: Any) -> int:
        if isinstance(x, dict):
            return sum(walk(v) for v in x.values())
        if isinstance(x, list):
            return len(x) + sum(walk(v) for v in x if isinstance(v, (dict, list)))
        return 0

    return n + walk(kwargs.get("where"))


def test_commit_and_reads_stay_within_chromas_per_call_limits(tmp_path: Path, monkeypatch):
    """One Chroma get for all chunks of a large library fails ("too many SQL variables", found by
    the 100k benchmark). Every read and write must go in batches: with the batch sizes lowered
    tenfold, a library of 2,600 chunks (more than ten batches) is staged, committed and read while
    a spy on Chroma's collection checks that no call binds more values than a batch. Any call that
    passed all ids at once would bind 2,600 here. (The same library at full size, 33,000 chunks,
    spent 40-100 s in Chroma's own inserts; the 100k benchmark still runs at full size.)"""
    assert chroma.BATCH < SQLITE_VARIABLES and chroma.ADD_BATCH < SQLITE_VARIABLES
    monkeypatch.setattr(chroma, "BATCH", chroma.BATCH // 20)
    monkeypatch.setattr(chroma, "ADD_BATCH", chroma.ADD_BATCH // 20)
    limit = max(chroma.BATCH, chroma.ADD_BATCH)
    seen: list[tuple[str, int]] = []
    for name in ("get", "add", "upsert", "update", "delete", "query"):
        original = getattr(Collection, name)

        def spy(self: Any, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            assert not args, f"Collection.{_name} called with positional arguments"
            seen.append((_name, _variables(kwargs)))
            return _original(self, **kwargs)

        monkeypatch.setattr(Collection, name, spy)
    index = KepolIndex(Settings(data_dir=tmp_path))
    n = 2_600
    passages = _passages(n)
    vectors = np.random.default_rng(0).standard_normal((len(passages), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.writer.stage(passages, vectors.tolist())
    ids: dict[str, list[str]] = {}
    for p in passages:
        ids.setdefault(p.doc_id, []).append(p.chunk_id)
    docs = {d: DocumentRecord(d, "T", path=d, sha256=d, source="s.txt", chunk_ids=tuple(c)) for d, c in ids.items()}
    index.terms.clear()  # as if the chunks predated kept terms: the commit must read them back
    version = index.writer.commit(Manifest(docs)).version
    assert version is index.current() and version.count() == n
    assert len(version.all_passages()) == n
    hits = version.keyword_search([f"nummer{n - 1}"], 3)
    assert hits and hits[0][0] == passages[n - 1].chunk_id
    index.close()
    assert {name for name, _ in seen} >= {"get", "add"}  # the spy saw the reads and the writes
    assert sum(v for name, v in seen if name == "add") == n
    worst = max(seen, key=lambda x: x[1])
    assert worst[1] <= limit, f"Collection.{worst[0]} bound {worst[1]} values in one call (batch {limit})"


def test_keyword_terms_are_kept_so_a_commit_does_not_reread_chunks(tmp_path: Path, monkeypatch):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("Die Stadt Nordheim pflegt eine Klimapartnerschaft mit Tamale.", encoding="utf-8")
    a = Assistant(Settings(data_dir=tmp_path / "data", embed_model=HashEmbedding.MODEL))  # storage, not ranking
    a.ingest([folder])
    (folder / "b.txt").write_text("Die Gemeinde Osterfeld fördert Eine-Welt-Läden.", encoding="utf-8")

    def no_reads(*args, **kwargs):
        raise AssertionError("the commit re-read stored chunks")

    monkeypatch.setattr(ChromaStore, "get", no_reads)
    a.ingest([folder])
    monkeypatch.undo()
    assert a.retrieve("Klimapartnerschaft Tamale", k=1)[0].doc_id == "a"
    assert a.retrieve("Eine-Welt-Läden Osterfeld", k=1)[0].doc_id == "b"
    a.close()


def test_typo_candidates_match_a_full_scan():
    rng = random.Random(5)
    letters = "abcdefghiklmnoprstuw"
    vocab = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 14))) for _ in range(20_000)}
    v = Vocabulary(vocab)
    for _ in range(300):
        word = rng.choice(sorted(vocab))
        typo = word[:2] + rng.choice(letters) + word[3:] if len(word) > 5 else word + "x"
        if typo in vocab or len(typo) < 5:
            continue
        full = correct(typo, set(vocab))
        fast = correct(typo, v)
        if full is None or fast is None:
            assert full == fast, typo
        else:  # ties may resolve to another word at the same distance
            assert Levenshtein.distance(typo, fast) == Levenshtein.distance(typo, full)
