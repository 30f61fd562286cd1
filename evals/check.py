"""Checks of the question set itself: schema, coverage of the required kinds of question, and that
every gold quote and key fact really stands in its document (after whitespace normalisation)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from evals.metrics import normalize
from ingest.chunk import document_text
from ingest.pipeline import discover, read_document

PERSONAS = {"staff", "council", "migrant"}
TYPES = {"factoid", "list", "definition", "how-to", "position", "comparison", "multi-document", "follow-up",
         "unanswerable", "injection", "keyword", "typo", "english"}
# what the set must contain (issue 4): minimum counts
REQUIRED = {"questions": 80, "unanswerable": 10, "injection": 2, "follow-up": 10, "multi-document": 10,
            "keyword": 3, "typo": 2, "english": 2}


def document_texts(folder: Path) -> dict[str, str]:
    """doc_id → normalised cleaned text, exactly as ingestion produces it."""
    texts = {}
    for path in discover([folder])[0]:
        info, blocks = read_document(path)
        texts[info.doc_id] = normalize(document_text(blocks)[0])
    return texts


def check_questions(questions: list[dict[str, Any]], folder: Path) -> list[str]:
    """Every problem found, as a readable line; an empty list means the set is sound."""
    problems: list[str] = []
    texts = document_texts(folder)
    ids = Counter(q.get("id") for q in questions)
    problems += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    for q in questions:
        qid = q.get("id", "?")
        for key in ("id", "persona", "type", "question", "history", "gold", "key_facts"):
            if key not in q:
                problems.append(f"{qid}: missing field '{key}'")
        if q.get("persona") not in PERSONAS:
            problems.append(f"{qid}: persona '{q.get('persona')}' not in {sorted(PERSONAS)}")
        if q.get("type") not in TYPES:
            problems.append(f"{qid}: type '{q.get('type')}' not in {sorted(TYPES)}")
        gold = q.get("gold") or []
        refuse = q.get("type") in ("unanswerable", "injection")
        if refuse and gold:
            problems.append(f"{qid}: an {q['type']} question must have no gold evidence")
        if not refuse and not gold:
            problems.append(f"{qid}: an answerable question needs gold evidence")
        if q.get("type") == "follow-up" and not q.get("history"):
            problems.append(f"{qid}: a follow-up needs its earlier turns in 'history'")
        if q.get("type") == "multi-document" and len({g["doc_id"] for g in gold}) < 2:
            problems.append(f"{qid}: a multi-document question needs gold evidence from two documents")
        for g in gold:
            if g.get("doc_id") not in texts:
                problems.append(f"{qid}: unknown document '{g.get('doc_id')}'")
            elif normalize(g.get("quote", "")) not in texts[g["doc_id"]]:
                problems.append(f"{qid}: gold quote not in {g['doc_id']}: „{g.get('quote', '')[:60]}…“")
        gold_text = " ".join(texts.get(g.get("doc_id"), "") for g in gold)
        for fact in q.get("key_facts") or []:
            if normalize(fact) not in gold_text:
                problems.append(f"{qid}: key fact „{fact}“ is not in the gold documents")
    kinds = Counter(q.get("type") for q in questions)
    for kind, minimum in REQUIRED.items():
        have = len(questions) if kind == "questions" else kinds.get(kind, 0)
        if have < minimum:
            problems.append(f"the set has {have} {kind} questions, needs at least {minimum}")
    return problems
