"""MLQA-de questions the reader never trained on, as a third check beside dev and XQuAD-de: MLQA's
questions share few words with their paragraphs, so what only works where words overlap shows here.

The reader's fit (evals/fit_reader.py) holds out 5 % of the trainsets' articles; the MLQA-de
questions among them (about 120, dev and test part) are asked here of a library of their
paragraphs and as many other MLQA-de paragraphs as distractors (DISTRACTORS), written as Markdown
files of PARAGRAPHS_PER_FILE paragraphs each into `<data dir>/evalsets/mlqa-de-heldout` (never into
the checkout: the data stays in ../shared/trainsets). Every question is answerable; it is judged by
its answer span as XQuAD-de is (evals/metrics.py). The hidden review set takes other questions from
MLQA-de's test split, so this is a diagnostic of the same kind, not that set."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from assistant.core.settings import Settings
from evals.harness import DEV_QUESTIONS

TRAINSETS = DEV_QUESTIONS.parent.parent / "trainsets"
FILES = ("de/mlqa-de-dev.jsonl", "de/mlqa-de-test-part.jsonl")
PARAGRAPHS_PER_FILE = 10  # about a Wikipedia article's worth of text per file
DISTRACTORS = 300  # other MLQA-de paragraphs in the library: retrieval must find the right one among them
SEED = 13
FAST_EVERY = 4  # the fast subset: every fourth question


def held_out_ids(data: Path = TRAINSETS, cache: Path | None = None) -> set[str]:
    """The ids of the groups the reader's fit held out (its own split, same seed); kept in `cache`
    beside the data's hashes, since finding them re-reads every training set (half a minute)."""
    from evals.fit_reader import HOLDOUT, SEED as READER_SEED
    from evals.reader_data import file_hashes, load_groups, split_holdout

    key = {"hashes": file_hashes(data), "holdout": HOLDOUT, "seed": READER_SEED}
    if cache is not None and cache.exists():
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if kept.get("key") == key:
            return set(kept["ids"])
    _, held = split_holdout(load_groups(data, READER_SEED), HOLDOUT, READER_SEED)
    ids = sorted(g.id for g in held if g.set.startswith("mlqa"))
    if cache is not None:
        cache.write_text(json.dumps({"key": key, "ids": ids}), encoding="utf-8")
    return set(ids)


def _rows(data: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in FILES if (data / f).exists()
            for line in (data / f).read_text(encoding="utf-8").splitlines() if line.strip()]


def build(folder: Path, data: Path = TRAINSETS) -> list[dict[str, Any]]:
    """Write the library into `folder` (unchanged files are left alone) and return the questions in
    the harness's format."""
    rows = _rows(data)
    folder.mkdir(parents=True, exist_ok=True)
    held = held_out_ids(data, folder.parent / "held-out-ids.json")
    asked = [r for r in rows if r["id"] in held and r["answers"]]
    paragraphs = list(dict.fromkeys(r["context"] for r in asked))
    others = sorted({r["context"] for r in rows if r["id"] not in held} - set(paragraphs))
    paragraphs += random.Random(SEED).sample(others, min(DISTRACTORS, len(others)))
    random.Random(SEED).shuffle(paragraphs)
    folder.mkdir(parents=True, exist_ok=True)
    where: dict[str, tuple[str, int]] = {}
    for n in range(0, len(paragraphs), PARAGRAPHS_PER_FILE):
        name = f"mlqa-{n // PARAGRAPHS_PER_FILE:03d}.md"
        part = paragraphs[n:n + PARAGRAPHS_PER_FILE]
        text = f"# MLQA-de {n // PARAGRAPHS_PER_FILE + 1}\n\n" + "\n\n".join(part) + "\n"
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        for p in part:
            where[p] = (name, n // PARAGRAPHS_PER_FILE)
    return [{"id": r["id"], "persona": "general", "type": "mlqa", "question": r["question"], "history": [],
             "gold": [], "key_facts": [], "spans": [a["text"] for a in r["answers"]],
             "answer_start": r["answers"][0]["start"], "source": where[r["context"]][0],
             "article": f"mlqa-{where[r['context']][1]:03d}", "context": r["context"]} for r in asked]


def mlqa_assistant(settings: Settings, embedder: Any = None, data: Path = TRAINSETS) -> tuple[Any, list[dict[str, Any]]]:
    """An Assistant over the held-out MLQA-de library (ingested first if needed) and its questions."""
    from assistant.api import Assistant
    from evals.xquad import evalset_settings

    s = evalset_settings(settings, "mlqa-de-heldout")
    questions = build(s.store.corpus_dir, data)
    a = Assistant(s, embedder=embedder)
    a.ingest([s.store.corpus_dir])
    return a, questions


if __name__ == "__main__":
    from assistant.api import Assistant
    from evals.harness import run, summarize

    base = Assistant(Settings())
    system, qs = mlqa_assistant(base.settings, base.embedder)
    summary = summarize(run(system, qs))["overall"]
    print(json.dumps({k: summary[k] for k in ("questions", "hit@1", "hit@5", "lead_contains_gold",
                                              "answer_contains_gold", "false_refusal_rate", "answer_words")
                      if k in summary}, indent=1))
