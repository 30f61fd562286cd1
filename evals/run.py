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


XQUAD_SET = "xquad"  # the name `--questions` cannot give: XQuAD is asked of its own library
MLQA_SET = "mlqa"  # likewise: the MLQA-de questions the reader held out, asked of their own library


def default_sets() -> dict[str, Path]:
    """Our own set, and beside this checkout the dev set, XQuAD-de and the held-out MLQA-de questions
    (each when present)."""
    from evals.mlqa import TRAINSETS
    from evals.xquad import XQUAD

    return {"own": QUESTIONS} | ({"dev": DEV_QUESTIONS} if DEV_QUESTIONS.exists() else {}) \
        | ({XQUAD_SET: XQUAD} if XQUAD.exists() else {}) | ({MLQA_SET: TRAINSETS} if TRAINSETS.exists() else {})


def _set(assistant: Any, name: str, path: Path, fast: bool) -> tuple[Any, list[dict[str, Any]], Path]:
    """The assistant that answers a set, its questions, and the folder its naive baseline reads."""
    if name == XQUAD_SET:
        from evals.xquad import load_xquad, xquad_assistant

        x = xquad_assistant(assistant.settings, fast=fast, embedder=assistant.embedder)
        x.warm_up()
        return x, load_xquad(path, fast=fast), x.settings.store.corpus_dir
    if name == MLQA_SET:
        from evals.mlqa import FAST_EVERY, mlqa_assistant

        m, questions = mlqa_assistant(assistant.settings, embedder=assistant.embedder, data=path)
        m.warm_up()
        return m, questions[::FAST_EVERY] if fast else questions, m.settings.store.corpus_dir
    questions = load_questions(path, fast=fast, corpus=assistant.settings.store.corpus_dir)
    return assistant, questions, assistant.settings.store.corpus_dir


def evaluate_all(assistant: Any, fast: bool = False, k: int = 5, out: Path | None = None,
                 with_baseline: bool = True, command: str = "kepol eval",
                 sets: dict[str, Path] | None = None) -> tuple[dict[str, Any], Path]:
    """Run everything and write the report; returns (our summary per set, report path). Each set
    is also answered by the naive baseline and by the untuned probe (evals/baseline.py)."""
    from evals.baseline import NaiveBaseline, ProbeBaseline

    sets = sets or default_sets()
    assistant.warm_up()
    results: dict[str, report.SetResult] = {}
    t = time.perf_counter()
    for name, path in sets.items():
        system, questions, folder = _set(assistant, name, path, fast)
        ours_results = run(system, questions)
        baselines: dict[str, Any] = {}
        if with_baseline:
            naive = NaiveBaseline(system.settings, system.embedder, folder)
            baselines = {"naive baseline": run(naive, questions), "untuned probe": run(ProbeBaseline(system), questions)}
        results[name] = report.SetResult(name, str(path), summarize(ours_results, k), ours_results,
                                         {b: summarize(r, k) for b, r in baselines.items()}, baselines)
    meta = {"sets": {n: len(r.results) for n, r in results.items()}, "fast": fast, "k": k,
            "settings_hash": assistant.settings.index_fingerprint(), "commit": report.git_commit(PROJECT_ROOT),
            "command": command, "run_seconds": round(time.perf_counter() - t, 1),
            "chunks": assistant.index.current().count()}
    fit = json.loads(FIT_REPORT.read_text(encoding="utf-8")) if FIT_REPORT.exists() else None
    path = report.write(out or RESULTS / ("fast" if fast else "full"), results, meta, fit)
    return {n: r.ours for n, r in results.items()}, path
