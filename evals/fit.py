"""Fit every weight of the answer path on data, with k-fold cross-validation, and write them to
assistant/data/weights.json:

1. passage relevance (logistic, PASSAGE_FEATURES): does a fused candidate support a gold quote?
2. sentence relevance (logistic, SENTENCE_FEATURES): is a sentence of the best passages part of a
   gold quote?
3. the gate (logistic, GATE_FEATURES, and its threshold): is the question answerable at all?
4. the composer's thresholds (grid search): how close another passage must come to the lead, how
   likely a neighbour must be, how many passages an answer draws on.

Questions come from our own set and, when it is present, the independent dev set. Folds keep each
question whole and spread both sets and the unanswerable questions evenly. The cross-validated
figures come from the real `Assistant.ask`/`retrieve` with each fold's weights on its held-out
questions; the full-fit figures from the weights fitted on everything (in-sample, so flattering).

    python -m evals.fit                       # fit, cross-validate, write weights and report
    python -m evals.fit --no-dev              # our own set only
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answer import compose
from assistant.api import Assistant, clean_question
from assistant.chat import condense
from assistant.evidence import (GATE_FEATURES, PASSAGE_FEATURES, SENTENCE_FEATURES, Pool, distinct, gather,
                                passage_matrix, rank_passages, sentence_matrix)
from assistant.core.settings import PROJECT_ROOT, Settings
from assistant.understand import Understood
from assistant.weights import WEIGHTS, Linear, Weights
from evals.harness import DEV_QUESTIONS, QUESTIONS, QuestionResult, load_questions, run, summarize
from evals.metrics import coverage, key_fact_recall, normalize, supports, _TOKEN

FOLDS = 5  # five folds: every question is held out once, each fold still trains on 80 % of the data
SEED = 13
L2 = 1.0  # ridge penalty on standardised features: keeps coefficients finite when a feature separates
GRID = {"lead_ratio": (0.2, 0.35, 0.5, 0.7, 0.9), "neighbour_floor": (0.0, 0.02, 0.05, 0.1, 0.2),
        "max_passages": (1, 2, 3), "contiguous": (0.0, 1.0)}
RESULTS = PROJECT_ROOT / "evals" / "results" / "fit"


@dataclass
class Item:
    """One question with everything retrieval found for it (computed once, reused by every fit)."""

    q: dict[str, Any]
    set: str
    u: Understood
    pool: Pool

    @property
    def gold(self) -> list[dict[str, str]]:
        return self.q.get("gold") or []


def collect(a: Assistant, questions: list[tuple[str, dict[str, Any]]]) -> list[Item]:
    index = a.index.current()
    index.require_ready()
    out = []
    for name, q in questions:
        text = clean_question(q["question"], a.settings.retrieval.max_question_chars)
        u = a.understand(index, text, condense(text, q.get("history") or [], a.settings.retrieval.max_history_turns))
        out.append(Item(q, name, u, a.pool(index, u)))
    return out


def sentence_label(text: str, gold: list[dict[str, str]]) -> float:
    """1 when the sentence is (mostly) part of a gold quote or holds most of one."""
    s = set(_TOKEN.findall(normalize(text)))
    for g in gold:
        gt = set(_TOKEN.findall(normalize(g["quote"])))
        if s and len(s & gt) >= 4 and len(s & gt) / len(s) >= 0.6 or coverage(g["quote"], text) >= 0.6:
            return 1.0
    return 0.0


def _ranked(item: Item, passage: Linear) -> list:
    p = item.pool
    return distinct(rank_passages(p.candidates, passage.prob(passage_matrix(item.u, p.candidates, p.qvec, p.idf))))


def fit_weights(items: list[Item], settings: Settings, grid: dict[str, tuple[float, ...]] = GRID) -> Weights:
    """All weights from `items` alone (one fold's training questions, or all of them)."""
    answerable = [it for it in items if it.gold]
    # 1. passages
    x, y = [], []
    for it in answerable:
        p = it.pool
        x.append(passage_matrix(it.u, p.candidates, p.qvec, p.idf))
        y += [float(any(supports(c.passage.text, g["quote"]) for g in it.gold)) for c in p.candidates]
    passage = Linear.fit(PASSAGE_FEATURES, np.vstack(x), np.asarray(y), L2)
    # 2. sentences of the best passages, as the composer will see them
    x, y = [], []
    for it in answerable:
        sents, m = sentence_matrix(it.u, _ranked(it, passage)[:settings.retrieval.read_passages], it.pool)
        x.append(m)
        y += [sentence_label(s.text, it.gold) for s in sents]
    sentence = Linear.fit(SENTENCE_FEATURES, np.vstack(x), np.asarray(y), L2)
    # 3. the gate: answerable or not, one row per question; the threshold that makes the fewest
    # mistakes (a false refusal costs as much as a wrong answer)
    rows, labels, evs = [], [], []
    draft = Weights(passage, sentence, Linear(GATE_FEATURES, (0.0,) * len(GATE_FEATURES), 0.0), 0.5,
                    {"lead_ratio": 0.5, "neighbour_floor": 0.05, "max_passages": 3, "contiguous": 1.0})
    for it in items:
        ev = _evidence(it, draft, settings)
        evs.append(ev)
        rows.append(ev.gate_features)
        labels.append(float(bool(it.gold)))
    gx, gy = np.vstack(rows), np.asarray(labels)
    gate = Linear.fit(GATE_FEATURES, gx, gy, L2)
    probs = gate.prob(gx)
    allowed = np.asarray([not it.u.instruction for it in items])
    candidates = sorted(set(np.round(probs, 4)))
    errors = lambda t: int(((probs >= t) & allowed & (gy == 0)).sum() + ((probs < t) & (gy == 1)).sum())  # noqa: E731
    threshold = float(min(candidates, key=lambda t: (errors(t), abs(t - 0.5)))) if candidates else 0.5
    # 4. the composer's thresholds, judged on the answerable questions by the answer figures
    best, best_utility = None, -1.0
    for combo in itertools.product(*grid.values()):
        w = replace(draft, compose=dict(zip(grid.keys(), map(float, combo))))
        utility = 0.0
        for it, ev in zip(items, evs):
            if it.gold:
                utility += _answer_utility(it, w, ev, settings)
        if utility > best_utility:
            best, best_utility = w.compose, utility
    assert best is not None
    return Weights(passage, sentence, gate, threshold, best)


def _evidence(it: Item, w: Weights, settings: Settings) -> Any:
    r = settings.retrieval
    return gather(it.u, it.pool, w, max(r.top_k, r.read_passages), r.read_passages)


def _answer_utility(it: Item, w: Weights, ev: Any, settings: Settings) -> float:
    """Key-fact recall + citation precision + citation recall of the composed answer: each of the
    three answer figures counts alike."""
    text, cits = compose(it.u, ev, w, settings.retrieval.answer_words)
    facts = it.q.get("key_facts") or []
    cited = [f"{c.quote} {c.passage}" for c in cits]
    precision = np.mean([any(supports(c, g["quote"]) for g in it.gold) for c in cited]) if cited else 0.0
    recall = np.mean([any(supports(c, g["quote"]) for c in cited) for g in it.gold])
    return (key_fact_recall(text, facts) if facts else 0.0) + float(precision) + float(recall)


def folds_of(items: list[Item], k: int = FOLDS, seed: int = SEED) -> list[int]:
    """A fold per item: shuffled within (set, answerable) groups, then dealt round-robin."""
    rng = random.Random(seed)
    fold = [0] * len(items)
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault((it.set, bool(it.gold)), []).append(i)
    at = 0
    for key in sorted(groups):
        members = groups[key]
        rng.shuffle(members)
        for i in members:
            fold[i] = at % k
            at += 1
    return fold


def evaluate(a: Assistant, w: Weights, items: list[Item]) -> list[QuestionResult]:
    """The real ask/retrieve path with weights `w` on these questions."""
    fold = copy.copy(a)
    fold.weights = w
    return run(fold, [it.q for it in items])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-dev", action="store_true", help="fit on our own question set only")
    ap.add_argument("--dev", type=Path, default=DEV_QUESTIONS, help="the dev set (its format is adapted)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    args = ap.parse_args()
    a = Assistant(Settings())
    a.warm_up()
    sets = [("own", q) for q in load_questions(QUESTIONS)]
    if not args.no_dev and args.dev.exists():
        sets += [("dev", q) for q in load_questions(args.dev)]
    t0 = time.perf_counter()
    items = collect(a, sets)
    fold = folds_of(items)
    held: dict[str, QuestionResult] = {}
    per_fold = []
    for k in range(FOLDS):
        train = [it for it, f in zip(items, fold) if f != k]
        test = [it for it, f in zip(items, fold) if f == k]
        w = fit_weights(train, a.settings)
        per_fold.append({"fold": k, "gate_threshold": w.gate_threshold, **w.compose})
        held.update({r.id: r for r in evaluate(a, w, test)})
    full = fit_weights(items, a.settings)
    in_sample = {r.id: r for r in evaluate(a, full, items)}
    from evals.report import git_commit

    figures: dict[str, Any] = {}
    for name in dict.fromkeys(it.set for it in items):
        ids = [it.q["id"] for it in items if it.set == name]
        figures[name] = {"cross_validated": summarize([held[i] for i in ids])["overall"],
                         "full_fit": summarize([in_sample[i] for i in ids])["overall"]}
    full = replace(full, fitted={
        "by": "python -m evals.fit", "commit": git_commit(PROJECT_ROOT), "folds": FOLDS, "seed": SEED, "l2": L2,
        "questions": {n: sum(it.set == n for it in items) for n in figures},
        "index": a.settings.index_fingerprint(),
        "cross_validated": {n: _short(f["cross_validated"]) for n, f in figures.items()},
        "full_fit": {n: _short(f["full_fit"]) for n, f in figures.items()}})
    full.save(args.weights)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit.json").write_text(json.dumps({"figures": figures, "folds": per_fold,
                                                  "weights": json.loads(full.to_json()),
                                                  "seconds": round(time.perf_counter() - t0, 1)},
                                                 ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    print(json.dumps({n: {"cv": _short(f["cross_validated"]), "full": _short(f["full_fit"])}
                      for n, f in figures.items()}, indent=1))
    return 0


_KEYS = ("hit@5", "recall@5", "mrr", "key_fact_recall", "citation_precision", "citation_recall",
         "refusal_accuracy", "false_refusal_rate", "answer_words")


def _short(o: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(o[k]), 3) for k in _KEYS if k in o}


if __name__ == "__main__":
    raise SystemExit(main())
