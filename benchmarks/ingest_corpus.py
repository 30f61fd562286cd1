"""Ingest figures for a folder (default: the bundled corpus): cold, warm (nothing changed) and
rebuilt-from-cache times, and the chunk size distribution. Writes JSON and Markdown.

    python -m benchmarks.ingest_corpus [FOLDER] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from assistant.api import Assistant
from benchmarks import cpu
from assistant.core.settings import BUNDLED_CORPUS, Settings
from assistant.core.text import count_tokens


def _quantiles(values: list[int]) -> dict[str, float]:
    s = sorted(values)
    q = statistics.quantiles(s, n=10, method="inclusive") if len(s) > 1 else [s[0]] * 9
    return {"min": s[0], "p10": q[0], "p50": statistics.median(s), "p90": q[8], "max": s[-1],
            "mean": round(statistics.fmean(s), 1)}


def _histogram(values: list[int], width: int = 40) -> list[tuple[str, int]]:
    edges = list(range(0, max(values) + width, width))
    return [(f"{a}–{a + width - 1}", sum(a <= v < a + width for v in values)) for a in edges[:-1]]


def run(folder: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        a = Assistant(settings)
        a.warm_up()  # model loading is not ingest work
        t = time.perf_counter()
        cold = a.ingest([folder])
        cold_s = time.perf_counter() - t
        t = time.perf_counter()
        warm = a.ingest([folder])
        warm_s = time.perf_counter() - t
        t = time.perf_counter()
        rebuilt = a.ingest([folder], rebuild=True)
        rebuild_s = time.perf_counter() - t
        passages = a.index.current().all_passages()
        tokens = [count_tokens(p.text) for p in passages]
        per_doc: dict[str, int] = {}
        for p in passages:
            per_doc[p.source] = per_doc.get(p.source, 0) + 1
        pages = sum(d.pages or 0 for d in a.index.current().manifest.documents.values())
        a.close()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = ""
    return {
        "folder": str(folder), "commit": commit, "settings_hash": settings.index_fingerprint(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores", "cpu": cpu(),
        "documents": len(per_doc), "pages": pages, "chunks": len(passages), "chunks_per_document": per_doc,
        "chunk_tokens": _quantiles(tokens), "chunk_token_limit": settings.ingest.chunk_tokens,
        "histogram": _histogram(tokens),
        "cold_seconds": round(cold_s, 2), "cold_embed_seconds": round(cold.embed_seconds, 2),
        "cold_chunks_per_second": round(cold.embedded / max(cold_s, 1e-9), 2),
        "warm_seconds": round(warm_s, 3), "warm_unchanged": len(warm.by_status("unchanged")),
        "rebuild_from_cache_seconds": round(rebuild_s, 2), "rebuild_from_cache_hits": rebuilt.from_cache,
    }


def markdown(r: dict) -> str:
    q = r["chunk_tokens"]
    lines = [
        f"# Ingest: {r['documents']} documents, {r['pages']} pages → {r['chunks']} chunks",
        "", f"commit {r['commit']}, settings {r['settings_hash']}, {r['machine']}", "",
        "| figure | value |", "|---|---|",
        f"| cold ingest (model loaded) | {r['cold_seconds']} s (embedding {r['cold_embed_seconds']} s) |",
        f"| cold throughput | {r['cold_chunks_per_second']} chunks/s |",
        f"| warm ingest, nothing changed | {r['warm_seconds']} s ({r['warm_unchanged']} unchanged) |",
        f"| `--rebuild` with the embedding cache | {r['rebuild_from_cache_seconds']} s "
        f"({r['rebuild_from_cache_hits']} vectors from cache) |",
        f"| chunk size (tokens, limit {r['chunk_token_limit']}) | min {q['min']}, p10 {q['p10']:.0f}, "
        f"median {q['p50']:.0f}, p90 {q['p90']:.0f}, max {q['max']}, mean {q['mean']} |",
        "", "| tokens | chunks |", "|---|---|",
        *[f"| {b} | {n} |" for b, n in r["histogram"]],
        "", "| document | chunks |", "|---|---|",
        *[f"| {d} | {n} |" for d, n in r["chunks_per_document"].items()],
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folder", nargs="?", type=Path, default=BUNDLED_CORPUS)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    r = run(args.folder)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest_corpus.json").write_text(json.dumps(r, indent=1, ensure_ascii=False), encoding="utf-8")
    (args.out / "ingest_corpus.md").write_text(markdown(r), encoding="utf-8")
    print(markdown(r))


if __name__ == "__main__":
    main()
