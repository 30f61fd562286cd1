"""What the sentence ranking costs: the same answer path, the same retrieval, gate and composer, but
the sentences that answer (a gold quote, or the answer span in its paragraph: `evals.fit.sentence_label`)
rated likeliest among the sentences read. The gap between these figures and `kepol eval`'s is what a
better ranker (the reader) could gain; what stays below them is retrieval (no answering sentence among
those read) and the answer's form. A diagnostic, never a way to answer.

    python -m evals.ceiling [--set dev|own|xquad|mlqa] [--json]
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import Any

from assistant.api import Assistant
from assistant.evidence import Evidence
from evals.fit import sentence_label
from evals.harness import DEV_QUESTIONS, QUESTIONS, load_questions, run, summarize

FIGURES = ("fact_recall_50w", "key_fact_recall", "lead_contains_gold", "answer_contains_gold", "citation_precision",
           "citation_recall", "false_refusal_rate", "answer_words")


class _Asked:
    """The question as `sentence_label` reads it (its gold quotes or answer spans)."""

    def __init__(self, q: dict[str, Any]) -> None:
        self.q = q

    @property
    def gold(self) -> list[dict[str, str]]:
        return self.q.get("gold") or []


class Ceiling(Assistant):
    """An Assistant that knows the answer of the question it is asked (set `question` first)."""

    question: dict[str, Any] | None = None

    def _evidence(self, version: Any, u: Any, only: Any, include_superseded: bool = False) -> Evidence:
        ev = super()._evidence(version, u, only, include_superseded)
        q = self.question
        if q is None or not (q.get("gold") or q.get("spans")):
            return ev
        asked = _Asked(q)
        # answering sentences above every other, each kept in the model's order among its kind
        return replace(ev, sentences=tuple(
            replace(s, prob=0.9 + 0.09 * s.prob if sentence_label(s.text, asked) else 0.5 * s.prob)
            for s in ev.sentences))


def ceiling(name: str) -> dict[str, Any]:
    """The ceiling's summary (overall and by type) for one question set."""
    base = Assistant()
    if name == "xquad":
        from evals.xquad import XQUAD, load_xquad, xquad_assistant

        x = xquad_assistant(base.settings, embedder=base.embedder)
        questions = load_xquad(XQUAD)
    elif name == "mlqa":
        from evals.mlqa import mlqa_assistant

        x, questions = mlqa_assistant(base.settings, embedder=base.embedder)
    else:
        x = base
        questions = load_questions(DEV_QUESTIONS if name == "dev" else QUESTIONS, corpus=base.settings.store.corpus_dir)
    system = Ceiling(x.settings, embedder=x.embedder)
    system.warm_up()
    results = []
    for q in questions:
        system.question = q
        results += run(system, [q])
    return summarize(results)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="dev", choices=("dev", "own", "xquad", "mlqa"))
    ap.add_argument("--json", action="store_true", help="the whole summary as JSON")
    args = ap.parse_args()
    s = ceiling(args.set)
    if args.json:
        print(json.dumps(s, indent=1, default=float))
        return 0
    o = s["overall"]
    print(args.set, " ".join(f"{f}={o[f]:.3f}" for f in FIGURES if o.get(f) == o.get(f)))
    for t, b in s["by_type"].items():
        if b["key_fact_recall"] == b["key_fact_recall"]:
            print(f"  {t}: first 50 words {b['fact_recall_50w']:.2f}, key facts {b['key_fact_recall']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
