"""One evaluation run as `kepol eval` performs it: our system and the naive baseline on the same
questions, for every question set (ours and, when present, the independent dev set), then the
report. Kept apart from the harness so the harness stays plain functions."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from assistant.core.settings import PROJECT_ROOT
from evals import report
from evals.harness import DEV_QUESTIONS, QUESTIONS, load_questions, run, summarize

RESULTS = PROJECT_ROOT / "evals" / "results"
FIT_REPORT = RESULTS / "fit" / "fit.json"


def default_sets() -> dict[str, Path]:
    """Our own set, and the dev set when this checkout sits beside it."""
    return {"own": QUESTIONS} | ({"dev": DEV_QUESTIONS} if DEV_QUESTIONS.exists() else {})


def evaluate_all(assistant: Any, fast: bool = False, k: int = 5, out: Path | None = None,
                 with_baseline: bool = True, command: str = "kepol eval",
                 sets: dict[str, Path] | None = None) -> tuple[dict[str, Any], Path]:
    """Run everything and write the report; returns (our summary per set, report path)."""
    sets = sets or default_sets()
    assistant.warm_up()
    naive = None
    if with_baseline:
        from evals.baseline import NaiveBaseline

        naive = NaiveBaseline(assistant.settings, assistant.embedder)
    results: dict[str, report.SetResult] = {}
    t = time.perf_counter()
    for name, path in sets.items():
        questions = load_questions(path, fast=fast, corpus=assistant.settings.store.corpus_dir)
        ours_results = run(assistant, questions)
        base_results = run(naive, questions) if naive is not None else None
        results[name] = report.SetResult(name, str(path), summarize(ours_results, k), ours_results,
                                         summarize(base_results, k) if base_results else None, base_results)
    meta = {"sets": {n: len(r.results) for n, r in results.items()}, "fast": fast, "k": k,
            "settings_hash": assistant.settings.index_fingerprint(), "commit": report.git_commit(PROJECT_ROOT),
            "command": command, "run_seconds": round(time.perf_counter() - t, 1),
            "chunks": assistant.index.current().count()}
    fit = json.loads(FIT_REPORT.read_text(encoding="utf-8")) if FIT_REPORT.exists() else None
    path = report.write(out or RESULTS / ("fast" if fast else "full"), results, meta, fit)
    return {n: r.ours for n, r in results.items()}, path
