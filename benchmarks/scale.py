"""How cost grows with the library: an index grown through the real ingest pipeline from synthetic
documents (benchmarks.synthetic, proxy vectors) to each size in `levels`, and at every size the
incremental ingest, query latency and memory of our system and of the naive baseline (each in a
process of its own), index size on disk, and `kepol serve` start to first answer.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from assistant.api import Assistant
from assistant.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def dir_mb(path: Path, skip: tuple[str, ...] = ()) -> float:
    total = 0
    for f in path.rglob("*"):
        if f.is_file() and not any(s in f.name for s in skip):
            total += f.stat().st_size
    return round(total / 1024 / 1024, 1)


def _env(data: Path) -> dict[str, str]:
    return {**os.environ, "KEPOL_DATA_DIR": str(data), "GRADIO_ANALYTICS_ENABLED": "False",
            "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(ROOT)}


def run_probe(args: list[str], data: Path, timeout: float = 3600) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.probe", *args], capture_output=True, text=True,
                         cwd=ROOT, env=_env(data), timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"probe {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def serve_cold_start(data: Path, question: str = "Was ist kommunale Entwicklungspolitik?",
                     runtime: str | None = None) -> dict[str, Any]:
    """Seconds from starting `kepol serve` to the first answer received over HTTP, and the server's
    peak RSS then (with the given e5 runtime, else the environment's)."""
    from benchmarks import free_port

    port = free_port()
    kepol = Path(sys.executable).with_name("kepol")
    cmd = [str(kepol)] if kepol.exists() else [sys.executable, "-m", "assistant.faces.cli"]
    t0 = time.perf_counter()
    env = {**_env(data), **({"KEPOL_EMBED_RUNTIME": runtime} if runtime else {})}
    proc = subprocess.Popen([*cmd, "serve", "--no-ingest", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/gradio_api/call/ask"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("kepol serve exited: " + proc.stderr.read().decode(errors="replace")[-2000:])
            try:
                req = urllib.request.Request(base, data=json.dumps({"data": [question, []]}).encode(),
                                             headers={"Content-Type": "application/json"})
                event = json.loads(urllib.request.urlopen(req, timeout=5).read())["event_id"]
                break
            except OSError:
                if time.perf_counter() - t0 > 120:
                    raise
                time.sleep(0.05)
        body = urllib.request.urlopen(f"{base}/{event}", timeout=60).read().decode()
        seconds = time.perf_counter() - t0
        if "event: complete" not in body:
            raise RuntimeError(f"no answer from kepol serve: {body[:500]}")
        rss = 0.0
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
        return {"start_to_first_answer_s": round(seconds, 2), "serve_peak_rss_mb": round(rss, 1)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def grow(levels: list[int], work: Path, units_cache: Path, seed: int = 7, baseline_max: int = 100_000,
         log: Any = print, questions: int = 0) -> list[dict[str, Any]]:
    """Grow one index through the levels; measure at each (with the first `questions` evaluation
    questions, 0: all of them)."""
    from assistant.embedding import embedder_for
    from benchmarks.synthetic import ProxyEmbedder, documents, sentence_pool, unit_vectors, write

    settings = Settings(data_dir=work / "data")
    pool = sentence_pool()
    real = embedder_for(settings)[1]
    proxy = ProxyEmbedder(unit_vectors(pool, real, units_cache, settings.vector_space), real)
    docs_root = work / "docs"
    gen = documents(pool, 10**7, seed)
    results = []
    batch_no = 0
    chunks_per_doc = 6.0
    for target in levels:
        a = Assistant(settings, embedder=proxy)
        ingests = []
        while a.index.current().count() < target * 0.98:
            need = target - a.index.current().count()
            n_docs = max(1, math.ceil(need / chunks_per_doc))
            batch = docs_root / f"batch-{batch_no:03d}"
            batch_no += 1
            write([next(gen) for _ in range(n_docs)], batch)
            before = a.index.current().count()
            t = time.perf_counter()
            rep = a.ingest([batch])
            secs = time.perf_counter() - t
            added = a.index.current().count() - before
            chunks_per_doc = max(1.0, added / n_docs)
            ingests.append({"documents": n_docs, "chunks": added, "seconds": round(secs, 2),
                            "stages": {k: round(v, 2) for k, v in rep.stage_seconds.items()}})
            log(f"  +{n_docs} docs, +{added} chunks in {secs:.1f} s (index {a.index.current().count()})")
        # re-running ingest over an unchanged library: hashing only
        t = time.perf_counter()
        a.ingest([docs_root])
        unchanged_s = time.perf_counter() - t
        chunks = a.index.current().count()
        n_docs = len(a.index.current().manifest.documents)
        a.close()
        level: dict[str, Any] = {
            "target": target, "chunks": chunks, "documents": n_docs, "vectors": "proxy",
            "ingest_batches": ingests, "reingest_unchanged_s": round(unchanged_s, 2),
            "disk_mb": {"chroma": dir_mb(settings.store.data_dir / "chroma"),
                        "keyword_index_texts_manifest": dir_mb(settings.index_dir)},
        }
        log(f"level {target}: {chunks} chunks, {n_docs} documents; probing")
        asked = ["--questions", str(questions)]
        level["ours"] = run_probe(["ours", "--data", str(settings.store.data_dir), *asked], settings.store.data_dir)
        level["cold_start"] = serve_cold_start(settings.store.data_dir)
        if chunks <= baseline_max:
            level["baseline"] = run_probe(["baseline", "--folder", str(docs_root), "--units-cache",
                                           str(units_cache), *asked], settings.store.data_dir)
        log(json.dumps({k: level[k] for k in ("ours", "cold_start")}))
        results.append(level)
    return results


def million_dense(work: Path, units_cache: Path, n: int = 1_000_000, seed: int = 3,
                  log: Any = print) -> dict[str, Any]:
    """Dense retrieval alone over `n` synthetic vectors (perturbed proxy vectors, no texts) in an
    embedded Chroma collection: where one machine's embedded store stops being comfortable."""
    import numpy as np

    from assistant.embedding import embedder_for
    from benchmarks.synthetic import sentence_pool, unit_vectors
    from evals.harness import load_questions
    from evals.metrics import percentile

    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = Settings()
    real = embedder_for(settings)[1]
    base = np.stack(list(unit_vectors(sentence_pool(), real, units_cache, settings.vector_space).values()))
    rng = np.random.default_rng(seed)
    path = work / "million"
    shutil.rmtree(path, ignore_errors=True)
    client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    col = client.get_or_create_collection("kepol-million", embedding_function=None,
                                          metadata={"hnsw:space": "cosine"})
    t = time.perf_counter()
    step = 5000
    for i in range(0, n, step):
        # mixtures of 3-8 sentence vectors, as chunks are, plus noise
        k = rng.integers(3, 9)
        idx = rng.integers(0, len(base), size=(step, k))
        v = base[idx].mean(axis=1) + rng.standard_normal((step, base.shape[1])).astype(np.float32) * 0.01
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        col.add(ids=[f"v{j}" for j in range(i, i + step)], embeddings=v.astype(np.float32))
        if i % 100_000 == 0:
            log(f"  {i + step} vectors, {time.perf_counter() - t:.0f} s")
    insert_s = time.perf_counter() - t
    queries = [real.get_query_embedding(q["question"]) for q in load_questions()]
    col.query(query_embeddings=[queries[0]], n_results=30)
    ms = []
    for q in queries:
        t = time.perf_counter()
        col.query(query_embeddings=[q], n_results=30)
        ms.append((time.perf_counter() - t) * 1000)
    from benchmarks.probe import peak_rss_mb

    return {"vectors": n, "kind": "synthetic (perturbed mixtures of real e5 sentence vectors, no texts)",
            "insert_s": round(insert_s, 1), "insert_per_s": round(n / insert_s),
            "dense_query_ms": {"p50": round(float(np.median(ms)), 2), "p95": round(percentile(ms, 95), 2)},
            "disk_mb": dir_mb(path), "peak_rss_mb": peak_rss_mb()}
