"""Query latency and memory of one system over one index, measured in a process of its own (so peak
RSS is that system's alone). Prints one JSON object. Run by benchmarks.scale, not by hand:

    python -m benchmarks.probe ours --data DIR
    python -m benchmarks.probe baseline --folder DOCS --units-cache FILE
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from evals.harness import load_questions
from evals.metrics import percentile


def _summary(ms: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(ms), 2), "p95": round(percentile(ms, 95), 2),
            "max": round(max(ms), 2), "n": len(ms)}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _timed(fn: Any, items: list[str]) -> list[float]:
    out = []
    for x in items:
        t = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t) * 1000)
    return out


def probe_ours(data: Path, questions: list[str]) -> dict[str, Any]:
    from assistant.api import Assistant
    from assistant.core.settings import Settings

    t = time.perf_counter()
    a = Assistant(Settings(data_dir=data))
    a.warm_up()
    open_s = time.perf_counter() - t
    chunks = a.index.current().count()
    for q in questions[:3]:
        a.ask(q)  # first-use costs (page cache, lazy imports) are the cold-start figure, not latency
    embed = _timed(a.embedder.get_query_embedding, questions)
    retrieval = _timed(lambda q: a.retrieve(q), questions)
    answer = _timed(lambda q: a.ask(q), questions)
    return {"system": "ours", "chunks": chunks, "open_and_warm_s": round(open_s, 2),
            "query_embedding_ms": _summary(embed), "retrieval_ms": _summary(retrieval),
            "answer_ms": _summary(answer), "peak_rss_mb": peak_rss_mb()}


def probe_baseline(folder: Path, units_cache: Path, questions: list[str]) -> dict[str, Any]:
    """The naive llama-index pipeline over the same documents (SentenceSplitter defaults, in-memory
    VectorStoreIndex, dense only), with proxy vectors like ours at this scale."""
    import tempfile

    from assistant.core.settings import Settings
    from assistant.embedding import embedder_for
    from benchmarks.synthetic import ProxyEmbedder, sentence_pool, unit_vectors
    from evals.baseline import NaiveBaseline

    settings = Settings()
    real = embedder_for(settings)[1]
    proxy = ProxyEmbedder(unit_vectors(sentence_pool(), real, units_cache, settings.vector_space), real)
    proxy.get_query_embedding("warm-up")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        b = NaiveBaseline(Settings(data_dir=Path(tmp)), proxy, folder)
        build_s = time.perf_counter() - t
    for q in questions[:3]:
        b.ask(q)
    retrieval = _timed(lambda q: b.retrieve(q, 6), questions)
    answer = _timed(b.ask, questions)
    return {"system": "baseline", "chunks": b.chunks, "build_s": round(build_s, 2),
            "retrieval_ms": _summary(retrieval), "answer_ms": _summary(answer), "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("system", choices=["ours", "baseline"])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--units-cache", type=Path)
    ap.add_argument("--repeat", type=int, default=1, help="run the question set this many times")
    ap.add_argument("--questions", type=int, default=0, help="time only the first N questions (0: all)")
    args = ap.parse_args()
    questions = [q["question"] for q in load_questions()]
    questions = (questions[:args.questions] if args.questions else questions) * args.repeat
    if args.system == "ours":
        r = probe_ours(args.data, questions)
    else:
        r = probe_baseline(args.folder, args.units_cache, questions)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
