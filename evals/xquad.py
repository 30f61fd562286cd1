"""XQuAD-de as a second, out-of-domain question set: 24 German Wikipedia articles instead of our five
policy documents (../shared/evalsets/xquad-de, CC BY-SA 4.0; kept there, never copied here).

The articles are written out as Markdown, one file per article as the set's own `xquad.py corpus`
writes them, and ingested into a library of their own (`<data dir>/evalsets/xquad-de`), so the
bundled library is never mixed with them. Every question is answerable; its gold is the answer span
(`spans`) inside one paragraph of one article. Judged by the set's rules (evals/metrics.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.core.settings import Settings
from evals.harness import DEV_QUESTIONS

XQUAD = DEV_QUESTIONS.parent / "xquad-de" / "xquad-de.dev.json"
FAST_EVERY = 4  # the fast subset: every fourth article, about a quarter of the questions (for CI)


def articles(data: Path = XQUAD) -> list[dict[str, Any]]:
    return json.loads(data.read_text(encoding="utf-8"))["data"]


def source_name(i: int) -> str:
    """The file (and doc id stem) of the i-th article, as the set's own script names it."""
    return f"wiki-{i:02d}.md"


def article_text(article: dict[str, Any]) -> str:
    title = article["title"].replace("_", " ")
    return f"# {title}\n\n" + "\n\n".join(p["context"] for p in article["paragraphs"]) + "\n"


def write_corpus(folder: Path, data: Path = XQUAD, fast: bool = False) -> list[Path]:
    """The articles as Markdown files in `folder` (unchanged files are left as they are, so a
    second ingest finds nothing to do)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, a in enumerate(articles(data)):
        if fast and i % FAST_EVERY:
            continue
        path = folder / source_name(i)
        text = article_text(a)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        out.append(path)
    return out


def load_xquad(data: Path = XQUAD, fast: bool = False) -> list[dict[str, Any]]:
    """The questions in our harness's format, each with its answer spans, article and paragraph."""
    out = []
    for i, a in enumerate(articles(data)):
        if fast and i % FAST_EVERY:
            continue
        for p in a["paragraphs"]:
            for q in p["qas"]:
                out.append({"id": q["id"], "persona": "general", "type": "xquad", "question": q["question"],
                            "history": [], "gold": [], "key_facts": [],
                            "spans": [x["text"] for x in q["answers"]], "answer_start": q["answers"][0]["answer_start"],
                            "source": source_name(i), "article": i, "context": p["context"], "fast": i % FAST_EVERY == 0})
    return out


def evalset_settings(settings: Settings, name: str) -> Settings:
    """The settings of an eval set's own library (`<data dir>/evalsets/<name>`, its files in `corpus`):
    the same in everything but where it lives, so the bundled library is never mixed with it."""
    folder = settings.store.data_dir / "evalsets" / name
    return settings.replace(data_dir=folder, corpus_dir=folder / "corpus")


def xquad_settings(settings: Settings, fast: bool = False) -> Settings:
    """The settings of the XQuAD library."""
    return evalset_settings(settings, "xquad-de-fast" if fast else "xquad-de")


def xquad_assistant(settings: Settings, fast: bool = False, embedder: Any = None) -> Any:
    """An Assistant over the XQuAD articles, ingested first if they are not yet (idempotent)."""
    from assistant.api import Assistant

    s = xquad_settings(settings, fast)
    write_corpus(s.store.corpus_dir, fast=fast)
    a = Assistant(s, embedder=embedder)
    a.ingest([s.store.corpus_dir])
    return a
