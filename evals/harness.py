"""Score the Assistant on evals/questions.jsonl: retrieval hit@k and MRR, refusal accuracy, and
whether every citation quote is verbatim in its passage. Dicts in, metrics out (after bm25s' evaluate)."""
from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

QUESTIONS = Path(__file__).with_name("questions.jsonl")


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def normalize(text: str) -> str:
    """Whitespace- and hyphenation-insensitive form used to match gold quotes to passages."""
    return re.sub(r"\s+", " ", text.replace("\u00ad", "")).strip().lower()


def evaluate(assistant: Any, questions: list[dict[str, Any]], k: int = 5) -> dict[str, float]:
    """hit@k / MRR over answerable questions, refusal accuracy, false refusals, quote validity, latency."""
    hits, rr, refusal_ok, false_ref, latencies, quotes_ok = [], [], [], [], [], []
    for q in questions:
        ans = assistant.ask(q["question"], q.get("history", []))
        latencies.append(ans.latency_ms)
        quotes_ok += [c.quote in c.passage for c in ans.citations]
        if not q["gold"]:
            refusal_ok.append(ans.refused)
            continue
        false_ref.append(ans.refused)
        passages = assistant.retrieve(q["question"], k=k, history=q.get("history", []))
        rank = next((i for i, p in enumerate(passages, 1) if any(
            g["doc_id"] == p.doc_id and normalize(g["quote"]) in normalize(p.text) for g in q["gold"])), None)
        hits.append(rank is not None)
        rr.append(1.0 / rank if rank else 0.0)
    return {
        f"hit@{k}": statistics.fmean(hits) if hits else 0.0,
        "mrr": statistics.fmean(rr) if rr else 0.0,
        "refusal_accuracy": statistics.fmean(refusal_ok) if refusal_ok else 0.0,
        "false_refusal_rate": statistics.fmean(false_ref) if false_ref else 0.0,
        "quote_validity": statistics.fmean(quotes_ok) if quotes_ok else 1.0,
        "latency_p50_ms": statistics.median(latencies) if latencies else 0.0,
        "latency_max_ms": max(latencies) if latencies else 0.0,
    }
