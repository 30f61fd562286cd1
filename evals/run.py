"""One evaluation run as `kepol eval` performs it: our system and the naive baseline on the same
questions, then the report. Kept apart from the harness so the harness stays plain functions."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from assistant.settings import PROJECT_ROOT
from evals import report
from evals.harness import load_questions, run, summarize

RESULTS = PROJECT_ROOT / "evals" / "results"


def evaluate_all(assistant: Any, fast: bool = False, k: int = 5, out: Path | None = None,
                 with_baseline: bool = True, command: str = "kepol eval") -> tuple[dict[str, Any], Path]:
    """Run everything and write the report; returns (our summary, report path)."""
    questions = load_questions(fast=fast)
    assistant.warm_up()
    t = time.perf_counter()
    ours_results = run(assistant, questions)
    ours = summarize(ours_results, k)
    seconds = time.perf_counter() - t
    baseline = baseline_results = None
    if with_baseline:
        from evals.baseline import NaiveBaseline

        naive = NaiveBaseline(assistant.settings, assistant.embedder)
        baseline_results = run(naive, questions)
        baseline = summarize(baseline_results, k)
    meta = {"questions": len(questions), "fast": fast, "k": k, "settings_hash": assistant.settings.index_fingerprint(),
            "commit": report.git_commit(PROJECT_ROOT), "command": command, "run_seconds": round(seconds, 1),
            "chunks": assistant.index.count()}
    path = report.write(out or RESULTS / ("fast" if fast else "full"), ours, ours_results, meta, baseline,
                        baseline_results)
    return ours, path
