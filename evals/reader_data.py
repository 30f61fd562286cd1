"""Training groups for the reader, from the public QA sets in ../shared/trainsets (README there):
one question with its answering sentence and the sentences that do not answer it.

A group holds the sentence that contains the answer's start, two sentences of the same paragraph
and two of other paragraphs of the same article (GermanDPR: of its hard-negative passages), the
negatives the ones sharing most words with the question (the near misses a reader must tell apart).
A quarter of the groups lose their answering sentence: "no sentence here answers" is then the right
reading, which teaches the answerability the gate needs. Sentences are cut as ingest cuts them
(assistant.core.text.units), so the reader learns on the units it will read."""
from __future__ import annotations

import hashlib
import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from assistant.core.text import units

FILES = ("de/germanquad-test.jsonl", "de/germanquad-train-part.jsonl", "de/mlqa-de-dev.jsonl",
         "de/mlqa-de-test-part.jsonl", "de/germandpr-train-part.jsonl", "en/selqa.jsonl", "en/qed-dev.jsonl")
SAME_PARAGRAPH = 2  # negatives from the answer's paragraph
OTHER_PARAGRAPHS = 2  # negatives from other paragraphs of the same article
NO_ANSWER = 0.25  # share of groups whose answering sentence is removed
MIN_WORDS = 4  # shorter units (headings, captions) are not negatives: they say nothing to rank
_HEADER = re.compile(r"\A[^\n]*\n\n(=+ [^\n]* =+\n)?")  # GermanQuAD: "Title\n\n=== Section ===\n"
_WORD = re.compile(r"\w{4,}")


@dataclass(frozen=True)
class Group:
    """One question, its candidate sentences and which of them answers (-1: none does)."""

    id: str
    set: str
    lang: str
    article: str
    question: str
    sentences: tuple[str, ...]
    gold: int


@dataclass
class _Paragraph:
    article: str
    sentences: list[str]


def file_hashes(data: Path) -> dict[str, str]:
    return {f: hashlib.sha256((data / f).read_bytes()).hexdigest() for f in FILES if (data / f).exists()}


def _terms(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _split(context: str, start: int) -> tuple[list[str], int] | None:
    """The paragraph's units (header lines left out) and the index of the one holding `start`."""
    m = _HEADER.match(context) if "\n\n" in context[:200] and context.split("\n\n", 1)[1][:1] == "=" else None
    body_at = m.end() if m else 0
    if start < body_at:
        return None
    body = context[body_at:]
    spans = units(body)
    s = start - body_at
    for i, (a, e, _) in enumerate(spans):
        if a <= s < e:
            return [body[x:y] for x, y, _ in spans], i
    return None


def _closest(question: set[str], pool: list[str], k: int, rng: random.Random) -> list[str]:
    """The k sentences sharing most words with the question (ties broken at random)."""
    scored = [(len(question & _terms(t)), rng.random(), t) for t in pool if len(t.split()) >= MIN_WORDS]
    return [t for *_, t in sorted(scored, reverse=True)[:k]]


def load_groups(data: Path, seed: int) -> list[Group]:
    rng = random.Random(seed)
    rows: list[dict] = []
    paragraphs: dict[str, list[_Paragraph]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for name in FILES:
        path = data / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if "positive" in r:  # GermanDPR: a passage that answers and passages that do not
                start = r["positive"].find(r["answer"])
                split = _split(r["positive"], start) if start >= 0 else None
                if split is None:
                    continue
                negatives = [s for p in r["negatives"] for s in (_split(p, len(p) - 1) or ([], 0))[0]]
                rows.append({**r, "lang": "de", "article": r["id"], "split": split, "others": negatives})
                continue
            if not r["answers"]:
                continue
            split = _split(r["context"], r["answers"][0]["start"])
            if split is None:
                continue
            article = f"{r['set']}:{r['title']}" if r["title"] else f"{r['set']}:{r['context'][:80]}"
            rows.append({**r, "article": article, "split": split})
            if (article, r["context"]) not in seen:
                seen.add((article, r["context"]))
                paragraphs[article].append(_Paragraph(article, split[0]))
    by_set: dict[str, list[str]] = defaultdict(list)  # for paragraphs without an article (MLQA)
    for art, ps in paragraphs.items():
        by_set[art.split(":", 1)[0]].extend(s for p in ps for s in p.sentences)
    groups = []
    for r in rows:
        sentences, gold = r["split"]
        q = _terms(r["question"])
        same = _closest(q, [s for i, s in enumerate(sentences) if i != gold], SAME_PARAGRAPH, rng)
        others = r.get("others") or [s for p in paragraphs[r["article"]] if p.sentences is not sentences
                                     and sentences[gold] not in p.sentences for s in p.sentences]
        if not others and by_set[r["set"]]:  # no article known: the closest of other paragraphs' sentences
            others = [s for s in rng.sample(by_set[r["set"]], min(400, len(by_set[r["set"]])))
                      if s not in sentences]
        other = _closest(q, others, OTHER_PARAGRAPHS, rng)
        cands = [sentences[gold], *same, *other]
        if len(cands) < 3:
            continue
        answerable = rng.random() >= NO_ANSWER
        if not answerable:
            cands = cands[1:]
        order = list(range(len(cands)))
        rng.shuffle(order)
        groups.append(Group(r["id"], r["set"], r["lang"], r["article"], r["question"],
                            tuple(cands[i] for i in order), order.index(0) if answerable else -1))
    return groups


def split_holdout(groups: list[Group], share: float, seed: int) -> tuple[list[Group], list[Group]]:
    """Held-out groups by whole article (questions on one article share its sentences)."""
    articles = sorted({g.article for g in groups})
    random.Random(seed).shuffle(articles)
    held = set(articles[:int(len(articles) * share)])
    return [g for g in groups if g.article not in held], [g for g in groups if g.article in held]
