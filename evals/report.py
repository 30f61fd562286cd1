"""Write an evaluation run: metrics.json (with settings hash and git commit), report.md with tables,
and PNG plots (matplotlib, headless)."""
from __future__ import annotations

import json
import math
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evals.harness import QuestionResult, as_dicts, worst

MAIN = ["hit@5", "recall@5", "mrr", "ndcg@10", "key_fact_recall", "citation_precision", "citation_recall",
        "refusal_accuracy", "false_refusal_rate"]
LABELS = {"hit@5": "hit@5", "recall@5": "recall@5", "mrr": "MRR", "ndcg@10": "nDCG@10",
          "key_fact_recall": "key-fact recall", "citation_precision": "citation precision",
          "citation_recall": "citation recall", "refusal_accuracy": "refusal accuracy",
          "false_refusal_rate": "false refusals", "quote_validity": "quotes verbatim",
          "latency_p50_ms": "latency p50 (ms)", "latency_p95_ms": "latency p95 (ms)"}


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty and out.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else (f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}")
    return str(v)


def _table(rows: dict[str, dict[str, Any]], keys: list[str], first: str) -> list[str]:
    lines = [f"| {first} | " + " | ".join(LABELS.get(k, k) for k in keys) + " |",
             "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(_fmt(r.get(k, float('nan'))) for k in keys) + " |" for name, r in rows.items()]
    return lines


def write(out: Path, ours: dict[str, Any], ours_results: list[QuestionResult], meta: dict[str, Any],
          baseline: dict[str, Any] | None = None, baseline_results: list[QuestionResult] | None = None) -> Path:
    """Write metrics.json, report.md and the plots into `out`; returns the report path."""
    out.mkdir(parents=True, exist_ok=True)
    meta = {**meta, "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    data = {"meta": meta, "ours": ours, "baseline": baseline, "questions": as_dicts(ours_results),
            "baseline_questions": as_dicts(baseline_results) if baseline_results else None}
    (out / "metrics.json").write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    plots = _plots(out, ours, baseline, ours_results, baseline_results)

    o = ours["overall"]
    rows = {"KEPol-Assistent": o} | ({"naive baseline": baseline["overall"]} if baseline else {})
    lines = [
        f"# Evaluation: {meta['questions']} questions{' (fast subset)' if meta.get('fast') else ''}", "",
        f"Commit `{meta.get('commit') or '?'}`, settings `{meta['settings_hash']}`, {meta['written_at']}.",
        f"Reproduce: `{meta['command']}`", "",
        "## Overall", "",
        *_table(rows, MAIN[:4], "system"), "",
        *_table(rows, MAIN[4:] + ["quote_validity", "latency_p50_ms", "latency_p95_ms"], "system"), "",
        "Retrieval metrics look at the top 10 passages for answerable questions; key-fact recall and citation "
        "figures judge the answer text against the gold evidence; refusals are judged on the unanswerable and "
        "prompt-injection questions. The baseline is raw pypdf text, llama-index `SentenceSplitter` defaults, "
        "the same embedder, dense top-k only, the top 3 chunks as answer (it never refuses).", "",
    ]
    lines += [f"![{name}]({name})" for name in plots] + [""]
    lines += ["## By question type", "", *_table(ours["by_type"], ["n"] + MAIN[:2] + ["mrr", "key_fact_recall",
                                                                                     "citation_precision",
                                                                                     "refusal_accuracy"], "type"), ""]
    lines += ["## By persona", "", *_table(ours["by_persona"], ["n"] + MAIN[:2] + ["mrr", "key_fact_recall",
                                                                                  "refusal_accuracy"], "persona"), ""]
    lines += ["## Worst questions", ""]
    for r, why in worst(ours_results):
        lines.append(f"- **{r.id}** ({r.type}) „{r.question}“: {why}.")
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


def _plots(out: Path, ours: dict[str, Any], baseline: dict[str, Any] | None,
           ours_results: list[QuestionResult], baseline_results: list[QuestionResult] | None) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    fig, ax = plt.subplots(figsize=(10, 4))
    x = range(len(MAIN))
    width = 0.38 if baseline else 0.6
    ax.bar([i - (width / 2 if baseline else 0) for i in x], [_nz(ours["overall"][k]) for k in MAIN], width,
           label="KEPol-Assistent", color="#1f5f8b")
    if baseline:
        ax.bar([i + width / 2 for i in x], [_nz(baseline["overall"][k]) for k in MAIN], width,
               label="naive baseline", color="#c8a24a")
    ax.set_xticks(list(x), [LABELS[k] for k in MAIN], rotation=25, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title("Overall (false refusals: lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "overall.png", dpi=110)
    plt.close(fig)
    names.append("overall.png")

    types = list(ours["by_type"])
    fig, ax = plt.subplots(figsize=(10, 4))
    refuse = {"unanswerable", "injection"}
    values = [_nz(ours["by_type"][t]["refusal_accuracy" if t in refuse else "key_fact_recall"]) for t in types]
    ax.bar(types, values, color=["#7a3b69" if t in refuse else "#1f5f8b" for t in types])
    ax.set_ylim(0, 1.05)
    ax.set_title("Key-fact recall per question type (refusal accuracy for unanswerable/injection)")
    plt.setp(ax.get_xticklabels(), rotation=25, ha="right")
    fig.tight_layout()
    fig.savefig(out / "by_type.png", dpi=110)
    plt.close(fig)
    names.append("by_type.png")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    series = [[r.latency_ms for r in ours_results]]
    labels = ["KEPol-Assistent"]
    if baseline_results:
        series.append([r.latency_ms for r in baseline_results])
        labels.append("naive baseline")
    ax.boxplot(series, tick_labels=labels, showfliers=True)
    ax.set_ylabel("answer latency (ms)")
    ax.set_title("Latency per question (2 cores)")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)
    names.append("latency.png")
    return names


def _nz(v: float) -> float:
    return 0.0 if v != v else v  # NaN → 0 for plotting
