"""The `kepol` CLI and its JSON contract, through click's CliRunner on the real corpus index."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from assistant.api import Assistant
from assistant.faces.cli import main

CITATION_KEYS = {"n", "doc_id", "title", "source", "page", "quote", "passage", "ocr", "superseded_by"}


def _run(assistant: Assistant, *args: str):
    """The CLI in this process; JSON is read from its stdout alone (what a script reads), so a log line
    or another thread's message on stderr cannot break the parse."""
    result = CliRunner().invoke(main, ["--data-dir", str(assistant.settings.store.data_dir), *args])
    return result


def test_ask_json_contract(corpus_assistant: Assistant):
    r = _run(corpus_assistant, "ask", "--json", "Was ist das Leitmotto des AKEZ?")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert set(obj) == {"id", "answer", "lead", "emphasis", "refused", "citations", "latency_ms", "mode", "notice"}
    assert obj["mode"] == "extractive" and obj["notice"] == ""
    assert obj["refused"] is False and isinstance(obj["latency_ms"], float)
    assert obj["citations"] and all(set(c) == CITATION_KEYS for c in obj["citations"])
    assert all(c["quote"] in c["passage"] for c in obj["citations"])


def test_ask_batch_keeps_order_ids_and_history(corpus_assistant: Assistant, tmp_path: Path):
    batch = tmp_path / "q.jsonl"
    lines = [
        {"id": "q1", "question": "Wie lautet die Telefonnummer der SKEW?", "history": []},
        {"id": "q2", "question": "Und welche Schwerpunkte hat das BMZ dabei?",
         "history": ["Wie unterstützt das BMZ Kommunen bei Partnerschaften mit Partnerkommunen?"]},
        {"id": 3, "question": "Was bietet die SKEW den Akteuren in den Kommunen?"},
    ]
    batch.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    r = _run(corpus_assistant, "ask", "--batch", str(batch))
    assert r.exit_code == 0, r.output
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["id"] for o in out] == ["q1", "q2", 3]
    assert out[0]["refused"] is True  # plainly, or showing the closest passage as such
    assert out[0]["citations"] == [] or out[0]["answer"].startswith("Dazu steht in den Dokumenten nichts")
    assert out[1]["refused"] is False
    assert any(c["doc_id"] == "bmz-lokal-handeln-2022" for c in out[1]["citations"])


def test_retrieve_batch_contract(corpus_assistant: Assistant, tmp_path: Path):
    batch = tmp_path / "r.jsonl"
    batch.write_text(json.dumps({"id": "r1", "question": "Leitmotto des AKEZ"}), encoding="utf-8")
    r = _run(corpus_assistant, "retrieve", "--batch", str(batch), "-k", "3")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert obj["id"] == "r1" and [p["rank"] for p in obj["passages"]] == [1, 2, 3]
    assert set(obj["passages"][0]) == {"rank", "doc_id", "title", "source", "page", "text", "score",
                                            "relevance"}
    assert obj["passages"][0]["doc_id"] == "rgre-akez-leitbild"


def test_bad_batch_line_is_reported_with_its_number(corpus_assistant: Assistant, tmp_path: Path):
    batch = tmp_path / "bad.jsonl"
    batch.write_text('{"id": 1, "question": "ok?"}\n{"id": 2, "frage": "falsch"}\n', encoding="utf-8")
    r = _run(corpus_assistant, "ask", "--batch", str(batch))
    assert r.exit_code == 1
    assert "bad.jsonl:2" in r.output and "question" in r.output


def test_asking_an_empty_index_says_what_to_do(tmp_path: Path):
    r = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "leer"), "ask", "Was ist KEPol?"])
    assert r.exit_code == 1
    assert "kepol ingest" in r.output


def test_ingest_command_reports_and_is_incremental(corpus_assistant: Assistant):
    r = _run(corpus_assistant, "ingest", "--quiet")
    assert r.exit_code == 0, r.output
    assert "5 unchanged" in r.stdout


def test_docs_lists_the_corpus(corpus_assistant: Assistant):
    r = _run(corpus_assistant, "docs")
    assert r.exit_code == 0 and len(r.stdout.strip().splitlines()) == 5
    assert "Servicebroschüre" in r.stdout


def test_metadata_filters_restrict_the_library(corpus_assistant):
    env = {"KEPOL_DATA_DIR": str(corpus_assistant.settings.store.data_dir)}
    out = CliRunner().invoke(main, ["retrieve", "Welche Angebote gibt es?", "--kind", "service brochure", "-k", "3"],
                             env=env)
    assert out.exit_code == 0, out.output
    docs = {p["doc_id"] for p in json.loads(out.stdout)["passages"]}
    assert docs == {"skew-migration-entwicklung"}
    out = CliRunner().invoke(main, ["ask", "--json", "Was fordert die Erklärung?", "--year", "2006"], env=env)
    obj = json.loads(out.stdout)
    assert obj["citations"] and {c["doc_id"] for c in obj["citations"]} == {"bukoko-2006-erklaerung"}


def test_a_process_that_only_answers_never_imports_llama_index(corpus_assistant: Assistant):
    """`kepol ask` in a process of its own: the same answer as in this process, the question embedded
    by the same engine, and llama-index (about 2 s to import) never loaded: only writing needs it."""
    import os
    import subprocess
    import sys

    question = "Was versteht man unter Städtediplomatie?"
    probe = ("import runpy, sys\nsys.argv = ['kepol', 'ask', '--json', sys.argv[1]]\n"
             "try:\n    runpy.run_module('assistant.faces.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'llama_index'), file=sys.stderr)\n")
    env = {**os.environ, "KEPOL_DATA_DIR": str(corpus_assistant.settings.store.data_dir),
           "KEPOL_CORPUS_DIR": str(corpus_assistant.settings.store.corpus_dir), "KEPOL_RATE_LIMIT_PER_MINUTE": "0"}
    done = subprocess.run([sys.executable, "-c", probe, question], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr  # no llama_index module at all
    there = json.loads(done.stdout)
    here = corpus_assistant.ask(question)
    assert there["answer"] == here.answer and not here.refused
