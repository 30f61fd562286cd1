"""The reader (assistant/e5/reader.py): its ONNX graph gives the fit's torch logits on fixed pairs,
it is built once and rebuilt when its weights change, the answer path runs without its file (and
without torch anywhere), and it tells the sentence that answers from the near miss beside it."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import assistant.e5.reader as reader_module
from assistant.core.settings import PROJECT_ROOT, Settings
from assistant.e5.reader import Reader, shared_reader
from assistant.e5.reader_file import READER_FILE, load_reader, save_reader
from tests.conftest import small_library

PARITY = PROJECT_ROOT / "evals" / "results" / "reader" / "parity.json"
# int8 moves a logit by quantising every projection; the bar holds on VNNI and AVX2 machines alike
# (7-bit weights, assistant/e5/graph.py), measured by `python -m benchmarks.reader`
INT8_LOGIT_TOLERANCE = 0.5


@pytest.fixture(scope="module")
def parity() -> dict:
    record = json.loads(PARITY.read_text(encoding="utf-8"))
    assert record["reader_digest"] == load_reader().digest, "parity.json was not made from the shipped reader file"
    return record


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_onnx_graph_gives_the_fits_torch_logits(precision, parity):
    reader = shared_reader(Settings().graph_dir, precision)
    assert reader is not None
    for pair in parity["pairs"]:
        ours = reader.score(pair["question"], pair["sentences"])
        torch_logits = np.asarray(pair["logits"])
        if precision == "fp32":
            np.testing.assert_allclose(ours, torch_logits, atol=2e-3)
        else:
            assert np.abs(ours - torch_logits).max() <= INT8_LOGIT_TOLERANCE
        assert int(np.argmax(ours)) == int(np.argmax(torch_logits))  # the same sentence chosen


def test_the_graph_is_built_once_and_again_when_the_weights_change(tmp_path: Path):
    shipped = load_reader()
    first = Reader(tmp_path / "graphs", "fp32", shipped)
    built = first.path.stat().st_mtime_ns
    again = Reader(tmp_path / "graphs", "fp32", shipped)
    assert again.path == first.path and again.path.stat().st_mtime_ns == built  # taken from the cache
    changed = dict(shipped.arrays)
    changed["head.b"] = changed["head.b"] + 1.0
    save_reader(tmp_path / "other.npz", changed, shipped.recipe)
    other = Reader(tmp_path / "graphs", "fp32", load_reader(tmp_path / "other.npz"))
    assert other.path != first.path and other.path.exists()
    question, sentences = "Wer berät Kommunen?", ["Die SKEW berät Kommunen.", "Es regnet."]
    np.testing.assert_allclose(other.score(question, sentences), first.score(question, sentences) + 1.0, atol=1e-4)
    assert not list((tmp_path / "graphs").glob("tmp*"))  # no half-written build left behind


def test_a_broken_reader_file_is_named(tmp_path: Path):
    bad = tmp_path / "reader.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="reader.npz"):
        load_reader(bad)


DOC = ("# Klimapartnerschaft Nordheim–Tamale\n\n"
       "Die Stadt Nordheim pflegt seit 1998 eine Klimapartnerschaft mit Tamale in Ghana. "
       "Gemeinsam pflanzen die Schulen beider Städte jedes Frühjahr Bäume am Flussufer. "
       "Der Partnerschaftsverein trifft sich jeden ersten Montag im Monat im Rathaus.\n")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    a = small_library(tmp_path_factory.mktemp("reader-lib"), {"nordheim.md": DOC})
    yield a
    a.close()


def test_the_reader_picks_the_answering_sentence_and_rejects_a_near_miss(library):
    reader = library.reader()
    assert reader is not None
    sentences = [s.strip() + "." for s in DOC.split("\n\n")[1].split(".") if s.strip()]
    when = reader.score("Seit wann besteht die Partnerschaft zwischen Nordheim und Tamale?", sentences)
    assert int(np.argmax(when)) == 0 and when[0] > 0  # likelier than "nothing here answers"
    meet = reader.score("Wann trifft sich der Partnerschaftsverein?", sentences)
    assert int(np.argmax(meet)) == 2
    money = reader.score("Wie viel Geld gibt Nordheim jährlich für die Partnerschaft aus?", sentences)
    assert money.max() < min(when.max(), meet.max())  # the same topic, no answer: the reader says so


def test_the_answer_path_uses_the_reader_and_refuses_the_near_miss(library):
    answered = library.ask("Seit wann besteht die Partnerschaft zwischen Nordheim und Tamale?")
    assert not answered.refused and "1998" in answered.lead
    missed = library.ask("Wie viel Geld gibt Nordheim jährlich für die Partnerschaft aus?")
    assert missed.refused, missed.answer


def test_without_its_file_the_answer_path_decides_without_the_reader(tmp_path: Path, monkeypatch, caplog, library):
    monkeypatch.setattr(reader_module, "READER_FILE", tmp_path / "missing.npz")
    monkeypatch.setattr(reader_module, "_READERS", {})
    with caplog.at_level(logging.WARNING, logger="kepol.models"):
        assert library.reader() is None
        assert library.reader() is None  # said once
        library._evidence_cache.clear()
        answer = library.ask("Wann trifft sich der Partnerschaftsverein?")
    said = [r.getMessage() for r in caplog.records if "reader" in r.getMessage()]
    assert len(said) == 1 and "missing.npz" in said[0], said
    assert not answer.refused and "Montag" in answer.answer
    library._evidence_cache.clear()


def test_answering_needs_no_torch(tmp_path: Path):
    """torch is the fit's extra: the reader, the answer path and the fit module's import run without it."""
    code = ("import sys\nsys.modules['torch'] = None\n"
            "from assistant.e5.reader import shared_reader\nimport evals.fit_reader\n"
            f"r = shared_reader(__import__('pathlib').Path({str(Settings().graph_dir)!r}), 'fp32')\n"
            "print(r.score('Wer berät Kommunen?', ['Die SKEW berät Kommunen.']).shape)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "(1,)", done.stderr[-2000:]


def test_the_shipped_file_holds_only_adapters_and_head():
    f = load_reader()
    assert READER_FILE.stat().st_size < 3_000_000  # never another copy of the backbone or its word table
    assert set(f.arrays) == {"head.w", "head.b"} | {f"l{n}.{p}.{m}" for n in range(f.recipe.frozen, 12)
                                                  for p in ("q", "k", "v", "ao", "fi", "fo") for m in "AB"}
