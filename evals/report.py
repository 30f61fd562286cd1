"""Write an evaluation run: metrics.json (with settings hash and git commit), report.md with tables,
and PNG plots (matplotlib, headless)."""
from __future__ import annotations

import json
import math
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

from evals.harness import QuestionResult, as_dicts, worst

MAIN = ["hit@5", "recall@5", "mrr", "ndcg@10", "key_fact_recall", "citation_precision", "citation_recall",
        "refusal_accuracy", "false_refusal_rate"]
LEAD = ["fact_recall_50w", "key_fact_recall", "lead_contains_gold", "answer_contains_gold", "answer_words"]
LABELS = {"hit@5": "hit@5", "recall@5": "recall@5", "mrr": "MRR", "ndcg@10": "nDCG@10",
          "key_fact_recall": "key-fact recall", "citation_precision": "citation precision",
          "citation_recall": "citation recall", "refusal_accuracy": "refusal accuracy",
          "false_refusal_rate": "false refusals", "quote_validity": "quotes verbatim",
          "latency_p50_ms": "latency p50 (ms)", "latency_p95_ms": "latency p95 (ms)", "answer_words": "words per answer",
          "fact_recall_50w": "facts in first 50 words", "lead_contains_gold": "span in first 40 words",
          "answer_contains_gold": "span in answer", "hit@1": "hit@1"}


TARGETS = Path(__file__).with_name("targets.json")


def targets(sets: dict[str, dict[str, Any]], path: Path = TARGETS) -> list[dict[str, Any]]:
    """Each target of evals/targets.json with the figure measured now and whether it is met (None
    when this run did not measure it: a set or question type left out)."""
    if not path.exists():
        return []
    out = []
    for t in json.loads(path.read_text(encoding="utf-8"))["targets"]:
        ours = sets.get(t["set"], {})
        block = ours.get("overall") if t["scope"] == "overall" else ours.get("by_type", {}).get(t["scope"])
        value = (block or {}).get(t["metric"])
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append({**t, "measured": None, "met": None})
            continue
        out.append({**t, "measured": value, "met": value >= t["value"] if t["op"] == ">=" else value <= t["value"]})
    return out


def _target_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = ["## Targets of the open issues (evals/targets.json)", "",
             "| issue | set | scope | figure | measured | target | met |", "|---|---|---|---|---|---|---|"]
    for t in rows:
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['issue']} | {t['set']} | {t['scope']} | {LABELS.get(t['metric'], t['metric'])} | "
                     f"{_fmt(t['measured']) if t['measured'] is not None else '–'} | {t['op']} {t['value']} | {met} |")
    return lines + [""]


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


@dataclass
class SetResult:
    """One question set's run: our figures and results, and each baseline's."""

    name: str
    path: str
    ours: dict[str, Any]
    results: list[QuestionResult]
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline_results: dict[str, list[QuestionResult]] = field(default_factory=dict)


SET_TITLES = {"own": "our own set (evals/questions.jsonl, written while building: flatters us)",
              "dev": "independent dev set (../shared/evalsets/dev.jsonl, written by someone who never saw the assistant)",
              "xquad": "XQuAD-de, dev half (../shared/evalsets/xquad-de: 24 Wikipedia articles, another domain)",
              "mlqa": "MLQA-de, the questions the reader's fit held out (../shared/trainsets: Wikipedia paragraphs, "
                      "few words shared with the question)"}
GAP_KEYS = ["hit@5", "recall@5", "fact_recall_50w", "key_fact_recall", "citation_precision", "citation_recall",
            "refusal_accuracy", "false_refusal_rate", "answer_words"]
FIT_KEYS = ["hit@5", "fact_recall_50w", "key_fact_recall", "lead_contains_gold", "answer_contains_gold",
            "citation_precision", "citation_recall", "refusal_accuracy", "false_refusal_rate", "answer_words"]


def write(out: Path, sets: dict[str, SetResult], meta: dict[str, Any], fit: dict[str, Any] | None = None) -> Path:
    """Write metrics.json, report.md and the plots into `out`; returns the report path."""
    out.mkdir(parents=True, exist_ok=True)
    meta = {**meta, "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    checked = targets({n: r.ours for n, r in sets.items()})
    data = {"meta": meta, "sets": {n: {"path": r.path, "ours": r.ours, "baselines": r.baselines,
                                       "questions": as_dicts(r.results),
                                       "baseline_questions": {b: as_dicts(x) for b, x in r.baseline_results.items()}}
                                   for n, r in sets.items()},
            "fit": fit.get("figures") if fit else None,
            "targets": checked}
    (out / "metrics.json").write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    lines = [
        f"# Evaluation{' (fast subsets)' if meta.get('fast') else ''}: "
        + ", ".join(f"{n} ({k} questions)" for n, k in meta["sets"].items()), "",
        f"Commit `{meta.get('commit') or '?'}`, settings `{meta['settings_hash']}`, {meta['written_at']}.",
        f"Reproduce: `{meta['command']}` (the weights: `python -m evals.fit`)", "",
        "Judged with the dev set's rules (../shared/evalsets/README.md): a citation or passage supports a gold quote "
        "when it holds 60 % of its words; a fact counts when it stands in the answer (in its first 50 words for the "
        "lead figure); refusals are judged on the unanswerable questions. XQuAD-de and MLQA-de are judged by "
        "XQuAD's rules: the answer span in the first 40 words, anywhere in the answer, in a top passage of the right "
        "article (file). "
        "The naive baseline is raw pypdf text, llama-index `SentenceSplitter` defaults, the same embedder, dense "
        "top-k only, the top 3 chunks as answer; the untuned probe takes our fused top 4 passages and their "
        "sentences by e5 cosine until 50 words. Neither refuses.", "",
    ]
    overall = {n: r.ours["overall"] for n, r in sets.items()}
    if len(overall) > 1:
        lines += ["## The sets side by side (the gap between them is how much a set flatters us)", "",
                  *_table(overall, GAP_KEYS + ["lead_contains_gold", "answer_contains_gold"], "set"), ""]
    lines += _target_lines(checked)
    if fit:
        rows = {}
        for n, f in fit.get("figures", {}).items():
            rows[f"{n}, cross-validated"] = f["cross_validated"]
            rows[f"{n}, full fit (in-sample)"] = f["full_fit"]
        lines += [f"## Fitted weights: cross-validated against full-fit figures ({len(fit.get('folds', []))} folds)", "",
                  "Each question is answered by weights fitted without it (cross-validated; XQuAD by whole "
                  "articles) and by the weights fitted on everything (full fit, what ships). Written by "
                  f"`python -m evals.fit` on the index `{fit.get('weights', {}).get('fitted', {}).get('index', '?')}`.",
                  "", *_table(rows, FIT_KEYS, "figures"), ""]
    for n, r in sets.items():
        lines += [f"## {SET_TITLES.get(n, n)}", ""]
        rows = {"KEPol-Assistent": r.ours["overall"]} | {b: x["overall"] for b, x in r.baselines.items()}
        lines += [*_table(rows, LEAD + ["hit@1"], "system"), "", *_table(rows, MAIN[:4], "system"), "",
                  *_table(rows, MAIN[4:] + ["quote_validity", "latency_p50_ms", "latency_p95_ms"], "system"), ""]
        plots = _plots(out, n, r.ours, r.baselines.get("naive baseline"), r.results,
                       r.baseline_results.get("naive baseline"))
        lines += [f"![{name}]({name})" for name in plots] + [""]
        if r.ours["by_type"]:
            lines += [f"### By question type ({n})", "",
                      *_table(r.ours["by_type"], ["n"] + MAIN[:2] + ["fact_recall_50w", "key_fact_recall",
                                                                     "citation_precision", "citation_recall",
                                                                     "refusal_accuracy", "false_refusal_rate",
                                                                     "answer_words"], "type"), ""]
        if len(r.ours["by_persona"]) > 1:
            lines += [f"### By persona ({n})", "",
                      *_table(r.ours["by_persona"], ["n"] + MAIN[:2] + ["fact_recall_50w", "key_fact_recall",
                                                                        "citation_precision", "refusal_accuracy",
                                                                        "false_refusal_rate"], "persona"), ""]
        lines += [f"### Worst questions ({n})", ""]
        for q, why in worst(r.results):
            lines.append(f"- **{q.id}** ({q.type}) „{q.question}“: {why}.")
        lines.append("")
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


def _plots(out: Path, name: str, ours: dict[str, Any], baseline: dict[str, Any] | None,
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
    ax.set_title(f"Overall, {name} set (false refusals: lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{name}-overall.png", dpi=110)
    plt.close(fig)
    names.append(f"{name}-overall.png")

    types = list(ours["by_type"])
    fig, ax = plt.subplots(figsize=(10, 4))
    refuse = {"unanswerable", "injection"}
    values = [_nz(ours["by_type"][t]["refusal_accuracy" if t in refuse else "key_fact_recall"]) for t in types]
    ax.bar(types, values, color=["#7a3b69" if t in refuse else "#1f5f8b" for t in types])
    ax.set_ylim(0, 1.05)
    ax.set_title("Key-fact recall per question type (refusal accuracy for unanswerable/injection)")
    plt.setp(ax.get_xticklabels(), rotation=25, ha="right")
    fig.tight_layout()
    fig.savefig(out / f"{name}-by_type.png", dpi=110)
    plt.close(fig)
    names.append(f"{name}-by_type.png")

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
    fig.savefig(out / f"{name}-latency.png", dpi=110)
    plt.close(fig)
    names.append(f"{name}-latency.png")
    return names


def _nz(v: float) -> float:
    return 0.0 if v != v else v  # NaN → 0 for plotting
