"""What keeps large libraries working: reads past Chroma's per-query variable limit, keyword terms
kept across runs (and rebuilt for indexes that predate them), typo lookups without a vocabulary scan."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Levenshtein

from assistant.api import Assistant
from assistant.embedding import HashEmbedding
from assistant.storage import DocumentRecord, KepolIndex, Manifest
from assistant.storage.chroma import ChromaStore
from assistant.core.vocabulary import Vocabulary, correct
from assistant.core.settings import Settings
from assistant.core.types import Passage


def _passages(n: int) -> list[Passage]:
    return [Passage(chunk_id=f"d{i // 10}:{i % 10:04d}:x{i}", doc_id=f"d{i // 10}", title="T", source="s.txt",
                    kind="unknown", text=f"Absatz {i} über Städtepartnerschaft Nummer{i}", ordinal=i % 10,
                    char_start=0, char_end=10) for i in range(n)]


def test_commit_and_reads_beyond_chromas_sql_variable_limit(tmp_path: Path):
    """33,000 chunks: one Chroma get for all of them fails ("too many SQL variables", found by the
    100k benchmark); staging, committing and reading must still work."""
    index = KepolIndex(Settings(data_dir=tmp_path))
    passages = _passages(33_000)
    vectors = np.random.default_rng(0).standard_normal((len(passages), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.writer.stage(passages, vectors.tolist())
    ids: dict[str, list[str]] = {}
    for p in passages:
        ids.setdefault(p.doc_id, []).append(p.chunk_id)
    docs = {d: DocumentRecord(d, "T", path=d, sha256=d, source="s.txt", chunk_ids=tuple(c)) for d, c in ids.items()}
    index.terms.clear()  # as if the chunks predated kept terms: the commit must read them back
    version = index.writer.commit(Manifest(docs)).version
    assert version is index.current() and version.count() == 33_000
    assert len(version.all_passages()) == 33_000
    hits = version.keyword_search(["nummer32999"], 3)
    assert hits and hits[0][0] == passages[32_999].chunk_id
    index.close()


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
