"""The question set is sound (gold quotes really are in the documents) and the system clears a floor on it."""
from __future__ import annotations

import json

from assistant.api import Assistant
from assistant.settings import BUNDLED_CORPUS
from evals.harness import evaluate, load_questions, normalize
from ingest.clean import clean_pages
from ingest.loaders import load


def test_every_gold_quote_is_in_its_document():
    meta = json.loads((BUNDLED_CORPUS / "metadata.json").read_text(encoding="utf-8"))
    texts = {}
    for name, m in meta.items():
        raw = load(BUNDLED_CORPUS / name)
        texts[m["doc_id"]] = normalize(" ".join(b.text for b in clean_pages(list(raw.pages))))
    questions = load_questions()
    assert len({q["id"] for q in questions}) == len(questions)
    for q in questions:
        for g in q["gold"]:
            assert normalize(g["quote"]) in texts[g["doc_id"]], (q["id"], g["quote"])


def test_regression_floor_on_the_question_set(corpus_assistant: Assistant):
    m = evaluate(corpus_assistant, load_questions(), k=5)
    assert m["hit@5"] >= 0.9, m
    assert m["refusal_accuracy"] >= 0.75, m
    assert m["false_refusal_rate"] <= 0.1, m
    assert m["quote_validity"] == 1.0, m
