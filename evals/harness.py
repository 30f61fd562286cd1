"""Score any system with `ask(question, history)` and `retrieve(question, k, history)` (our Assistant,
the naive baseline) on the question set: per-question results, then summaries overall, per type
and per persona. Dicts in, metrics out (after bm25s' `evaluate`)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evals.metrics import (answer_words, gold_ranks, hit_at, holds_span, key_fact_recall, lead_fact_recall,
                           lead_holds_span, mean, ndcg_at, normalize, percentile, recall_at, reciprocal_rank, supports)

QUESTIONS = Path(__file__).with_name("questions.jsonl")
# the independent development set: beside this checkout for developers and CI, absent on a user's clone
DEV_QUESTIONS = Path(__file__).resolve().parents[2] / "shared" / "evalsets" / "dev.jsonl"
RETRIEVAL_DEPTH = 10


class System(Protocol):
    def ask(self, question: str, history: list[str] | None = None) -> Any: ...
    def retrieve(self, question: str, k: int | None = None, history: list[str] | None = None) -> list[Any]: ...


def load_questions(path: Path = QUESTIONS, fast: bool = False, corpus: Path | None = None) -> list[dict[str, Any]]:
    """Questions in our format. The dev set's format (gold `doc` = seed file prefix, `answer_facts`)
    is adapted on the way in: its prefixes map to our doc ids through the `seed` field of the
    corpus's metadata.json."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if items and any("answer_facts" in q for q in items):
        items = [_from_dev(q, _seed_map(corpus)) for q in items]
    return [q for q in items if q.get("fast")] if fast else items


def _seed_map(corpus: Path | None) -> dict[str, str]:
    from assistant.core.settings import BUNDLED_CORPUS

    meta = json.loads(((corpus or BUNDLED_CORPUS) / "metadata.json").read_text(encoding="utf-8"))
    return {str(m["seed"])[:3]: m["doc_id"] for m in meta.values() if m.get("seed")}


def _from_dev(q: dict[str, Any], seeds: dict[str, str]) -> dict[str, Any]:
    # the dev set's own "fast" subset: every fourth question and every unanswerable one (cheap in CI)
    number = int("".join(ch for ch in q["id"] if ch.isdigit()) or 0)
    return {"id": q["id"], "persona": q["persona"], "type": q["type"], "question": q["question"],
            "history": q.get("history") or [], "key_facts": q.get("answer_facts") or [],
            "gold": [{"doc_id": seeds.get(g["doc"], g["doc"]), "quote": g["quote"]} for g in q.get("gold") or []],
            "fast": number % 4 == 0 or not q.get("gold")}


@dataclass
class QuestionResult:
    """Everything measured for one question (kept in the JSON report for inspection)."""

    id: str
    persona: str
    type: str
    question: str
    answerable: bool
    refused: bool
    answer: str
    latency_ms: float
    ranks: list[int | None] = field(default_factory=list)  # per gold quote, rank in the top 10
    key_fact_recall: float = 0.0
    citations: int = 0
    supporting_citations: int = 0
    cited_gold: float = 0.0  # share of gold quotes some citation supports
    quotes_verbatim: bool = True
    missing_facts: list[str] = field(default_factory=list)
    words: int = 0
    lead_fact_recall: float = 0.0  # key-fact recall in the first 50 words (a refusal scores 0)
    spans: bool = False  # judged by answer spans (XQuAD) instead of key facts and gold quotes
    lead_contains_gold: float = 0.0  # the answer span within the first 40 words
    answer_contains_gold: float = 0.0  # … anywhere in the answer


def answerable(q: dict[str, Any]) -> bool:
    """A question with gold quotes or answer spans; the others should be refused."""
    return bool(q.get("gold") or q.get("spans"))


def run(system: System, questions: list[dict[str, Any]]) -> list[QuestionResult]:
    """Ask and retrieve every question; judge with the dev set's rules (evals/metrics.py): a
    citation supports a gold quote when its quote and passage hold 60 % of the quote's words. A
    question with answer spans (XQuAD) is judged by its set's rules: the span in the lead, in the
    answer, and in a top passage of the right article."""
    out = []
    for q in questions:
        history = q.get("history") or []
        t = time.perf_counter()
        ans = system.ask(q["question"], history)
        latency = (time.perf_counter() - t) * 1000
        gold = q.get("gold") or []
        r = QuestionResult(q["id"], q["persona"], q["type"], q["question"], answerable(q), ans.refused, ans.answer,
                           latency, citations=len(ans.citations), words=answer_words(ans.answer),
                           quotes_verbatim=all(c.quote in c.passage for c in ans.citations))
        if q.get("spans"):
            spans = q["spans"]
            passages = system.retrieve(q["question"], k=RETRIEVAL_DEPTH, history=history)
            r.spans = True
            r.ranks = [next((i for i, p in enumerate(passages, 1) if p.source == q["source"]
                             and holds_span(p.text, spans)), None)]
            r.lead_contains_gold = float(not ans.refused and lead_holds_span(ans.answer, spans))
            r.answer_contains_gold = float(not ans.refused and holds_span(ans.answer, spans))
            r.key_fact_recall = r.answer_contains_gold
            r.lead_fact_recall = r.lead_contains_gold
            r.supporting_citations = sum(c.source == q["source"] and holds_span(c.passage, spans) for c in ans.citations)
            r.cited_gold = float(r.supporting_citations > 0)
        elif gold:
            passages = system.retrieve(q["question"], k=RETRIEVAL_DEPTH, history=history)
            r.ranks = gold_ranks([p.text for p in passages], gold)
            facts = q.get("key_facts") or []
            r.key_fact_recall = key_fact_recall(ans.answer, facts)  # a refusal's closest passage counts too
            r.lead_fact_recall = lead_fact_recall(ans.answer, facts, ans.refused)
            r.missing_facts = [f for f in facts if normalize(f) not in normalize(ans.answer)]
            cited = [f"{c.quote} {c.passage}" for c in ans.citations]
            r.supporting_citations = sum(any(supports(c, g["quote"]) for g in gold) for c in cited)
            r.cited_gold = mean([float(any(supports(c, g["quote"]) for c in cited)) for g in gold])
        out.append(r)
    return out


def summarize(results: list[QuestionResult], k: int = 5) -> dict[str, Any]:
    """Overall figures plus the same per question type and per persona."""
    def block(rs: list[QuestionResult]) -> dict[str, float | int]:
        ans = [r for r in rs if r.answerable]
        unans = [r for r in rs if not r.answerable]
        answered = [r for r in ans if not r.refused]
        cited = [r for r in ans if r.citations]
        spans = [r for r in ans if r.spans]
        nan = float("nan")  # a figure with nothing to measure (e.g. recall on unanswerable questions)
        m = lambda values, rows: mean(values) if rows else nan  # noqa: E731
        return {
            "n": len(rs),
            f"hit@{k}": m([hit_at(r.ranks, k) for r in ans], ans),
            f"recall@{k}": m([recall_at(r.ranks, k) for r in ans], ans),
            "mrr": m([reciprocal_rank(r.ranks) for r in ans], ans),
            "ndcg@10": m([ndcg_at(r.ranks, 10) for r in ans], ans),
            "key_fact_recall": m([r.key_fact_recall for r in ans], ans),
            "fact_recall_50w": m([r.lead_fact_recall for r in ans], ans),
            "lead_contains_gold": m([r.lead_contains_gold for r in spans], spans),
            "answer_contains_gold": m([r.answer_contains_gold for r in spans], spans),
            "hit@1": m([hit_at(r.ranks, 1) for r in ans], ans),
            # per answer, then averaged (as score.py does)
            "citation_precision": mean([r.supporting_citations / r.citations for r in cited]) if cited else nan,
            "citation_recall": m([r.cited_gold for r in ans], ans),
            "refusal_accuracy": m([float(r.refused) for r in unans], unans),
            "false_refusal_rate": m([float(r.refused) for r in ans], ans),
            "answer_words": m([float(r.words) for r in answered], answered),
            "quote_validity": mean([float(r.quotes_verbatim) for r in rs]),
            "latency_p50_ms": percentile([r.latency_ms for r in rs], 50),
            "latency_p95_ms": percentile([r.latency_ms for r in rs], 95),
        }

    by = lambda attr: {v: block([r for r in results if getattr(r, attr) == v])  # noqa: E731
                       for v in sorted({getattr(r, attr) for r in results})}
    return {"overall": block(results), "by_type": by("type"), "by_persona": by("persona")}


def evaluate(system: System, questions: list[dict[str, Any]], k: int = 5) -> dict[str, Any]:
    """Convenience: run and return the overall figures."""
    return summarize(run(system, questions), k)["overall"]


def worst(results: list[QuestionResult], n: int = 5, k: int = 5) -> list[tuple[QuestionResult, str]]:
    """The n questions that fail worst, each with the reason read off its measurements."""
    def badness(r: QuestionResult) -> float:
        if not r.answerable:
            return 3.0 if not r.refused else 0.0
        if r.refused:
            return 2.5
        return (1 - r.key_fact_recall) + (1 - reciprocal_rank(r.ranks)) + (1 - r.cited_gold) * 0.5

    def why(r: QuestionResult) -> str:
        if not r.answerable:
            return "answered a question the documents do not answer"
        parts = []
        if r.refused:
            parts.append("refused although the documents answer it")
        best = min((x for x in r.ranks if x is not None), default=None)
        if best is None:
            parts.append("gold evidence not in the top 10")
        elif best > k:
            parts.append(f"gold evidence only at rank {best}")
        elif best > 1:
            parts.append(f"gold evidence at rank {best}")
        if r.missing_facts and not r.refused:
            parts.append("answer lacks " + ", ".join(f"„{f}“" for f in r.missing_facts))
        if not r.refused and r.citations and r.supporting_citations < r.citations:
            parts.append(f"{r.citations - r.supporting_citations} of {r.citations} citations are not gold evidence")
        return "; ".join(parts) or "minor"

    ranked = sorted(results, key=badness, reverse=True)[:n]
    return [(r, why(r)) for r in ranked if badness(r) > 0]


def as_dicts(results: list[QuestionResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
