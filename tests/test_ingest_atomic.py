"""Ingest runs are atomic (killed or failing runs leave the previous index usable), cached, and
report clearly: real processes killed with SIGKILL, a real Chroma store, real PDFs."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.api import Assistant
from assistant.faces.cli import main
from assistant.core.errors import IndexCorruptError
from assistant.core.settings import BUNDLED_CORPUS, Settings
from tests.test_ingest import make_pdf

OLD = "Der Klimabeirat der Stadt Nordheim tagt viermal im Jahr und berät den Rat zur Energiewende."
NEW = "Der Klimabeirat der Stadt Nordheim tagt jetzt monatlich und berät den Rat zur Wärmeplanung."


def _settings(data: Path) -> Settings:
    # small embedding batches: a run has several, so a failure can come after some were cached
    return Settings(data_dir=data, chunk_tokens=120, chunk_overlap_tokens=20, embed_batch=1)


@pytest.fixture()
def two_versions(tmp_path: Path) -> tuple[Path, Path]:
    """A folder ingested once (v1), then edited (v2): one file changed, one added, one deleted."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "beirat.txt").write_text(OLD, encoding="utf-8")
    (folder / "bleibt.txt").write_text("Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden mit Mietzuschüssen.",
                                       encoding="utf-8")
    (folder / "geht.txt").write_text("Die Stadt Westheim hat eine Schulpartnerschaft mit Accra.", encoding="utf-8")
    data = tmp_path / "data"
    first = Assistant(_settings(data))
    report = first.ingest([folder])
    first.close()  # the test process must not hold the store while the child writes to it
    assert len(report.by_status("ingested")) == 3
    (folder / "beirat.txt").write_text(NEW, encoding="utf-8")
    (folder / "geht.txt").unlink()
    make_pdf(folder / "neu.pdf", ["Die Stadt Südheim richtet eine Fairtrade-Steuerungsgruppe ein. " * 3,
                                  "Die Steuerungsgruppe trifft sich im Rathaus. " * 3])
    return folder, data


# The child process runs a real ingest and SIGKILLs itself at a chosen point of the run.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from assistant.api import Assistant
    from assistant.storage import IndexWriter
    import assistant.storage.writer as writer_module
    from tests.test_ingest_atomic import _settings

    point, folder, data = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if point == "after-first-document":
        original = IndexWriter.stage
        def stage(self, *args):
            original(self, *args)
            die()
        IndexWriter.stage = stage
    elif point == "before-manifest-swap":
        original_write = writer_module.atomic_write
        def write(path, text):
            if path.name == "manifest.json":
                die()
            original_write(path, text)
        writer_module.atomic_write = write
    elif point == "before-garbage-collection":
        IndexWriter.collect_garbage = die
    Assistant(_settings(data)).ingest([folder])
    print("not killed")
""")


def _run_child(point: str, folder: Path, data: Path) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parent.parent
    return subprocess.run([sys.executable, "-c", CHILD, point, str(folder), str(data)], cwd=root,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})


def _texts(a: Assistant) -> str:
    return "\n".join(p.text for p in a.index.current().all_passages())


def _assert_consistent(a: Assistant) -> None:
    """Every listed chunk is stored and every search result is a listed chunk."""
    active = a.index.current().active_ids
    assert set(a.index.current().get(sorted(active))) == set(active)
    for q in ("Klimabeirat Nordheim", "Eine-Welt-Läden Osterfeld", "Fairtrade Südheim", "Schulpartnerschaft Accra"):
        assert all(p.chunk_id in active for p in a.retrieve(q, k=5))


@pytest.mark.parametrize("point", ["after-first-document", "before-manifest-swap"])
def test_killed_run_leaves_the_previous_index_and_the_next_run_completes(two_versions, point):
    folder, data = two_versions
    child = _run_child(point, folder, data)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr

    before = Assistant(_settings(data))
    _assert_consistent(before)
    assert {d.source for d in before.documents()} == {"beirat.txt", "bleibt.txt", "geht.txt"}
    assert "viermal" in _texts(before) and "monatlich" not in _texts(before)
    assert not before.ask("Wie oft tagt der Klimabeirat in Nordheim?").refused
    assert before.index.writer.orphan_count() > 0  # staged chunks of the killed run exist but are not visible

    after = Assistant(_settings(data))
    report = after.ingest([folder])
    assert {Path(r.path).name for r in report.by_status("ingested")} == {"beirat.txt", "neu.pdf"}
    assert report.from_cache > 0  # what the killed run had embedded is not embedded again
    _assert_consistent(after)
    assert {d.source for d in after.documents()} == {"beirat.txt", "bleibt.txt", "neu.pdf"}
    assert "monatlich" in _texts(after) and "viermal" not in _texts(after) and "Accra" not in _texts(after)
    assert after.index.writer.orphan_count() == 0


def test_killed_after_the_commit_shows_the_new_index_and_cleans_up_next_time(two_versions):
    folder, data = two_versions
    child = _run_child("before-garbage-collection", folder, data)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    a = Assistant(_settings(data))
    _assert_consistent(a)
    assert "monatlich" in _texts(a) and "viermal" not in _texts(a)
    assert a.index.writer.orphan_count() > 0  # the replaced chunks are still stored, but invisible
    report = a.ingest([folder])
    assert not report.by_status("ingested")
    assert a.index.writer.orphan_count() == 0


def test_cli_ingest_of_the_seed_pdfs_killed_midway(tmp_path: Path):
    """SIGKILL a real `kepol ingest` of the five seed PDFs while it embeds; then resume."""
    seeds = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "pdf"
    source = seeds if seeds.is_dir() else BUNDLED_CORPUS  # the bundled PDFs are the seed renderings
    folder = tmp_path / "pdfs"
    folder.mkdir()
    for f in sorted(source.glob("*.pdf")):
        shutil.copy(f, folder / f.name)
    data = tmp_path / "data"
    env = {**os.environ, "KEPOL_DATA_DIR": str(data)}
    proc = subprocess.Popen([sys.executable, "-m", "assistant.faces.cli", "ingest", "--quiet", str(folder)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cache = data / "embedding-cache.sqlite3"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:  # wait until some chunks are embedded
        if cache.exists() and _cached_rows(cache) >= 8:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    a = Assistant(Settings(data_dir=data))
    assert a.index.current().count() == 0 and a.documents() == []  # nothing half-written became visible
    report = a.ingest([folder])
    assert len(report.by_status("ingested")) == 5, report.summary()
    assert report.from_cache >= 8
    assert a.index.writer.orphan_count() == 0
    assert not a.ask("Was versteht man unter Städtediplomatie?").refused


def _cached_rows(path: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(str(path), timeout=1) as db:
            return db.execute("SELECT count(*) FROM vectors").fetchone()[0]
    except sqlite3.Error:
        return 0


class _FailingEmbedder:
    """The real embedder, failing on the n-th batch (an out-of-memory kill, a broken model file …)."""

    def __init__(self, real, fail_on: int) -> None:
        self.real, self.calls, self.fail_on = real, 0, fail_on

    def get_text_embedding_batch(self, texts):
        self.calls += 1
        if self.calls == self.fail_on:
            raise MemoryError("simulated failure while embedding")
        return self.real.get_text_embedding_batch(texts)


def test_failing_run_changes_nothing_and_keeps_its_embeddings(two_versions):
    folder, data = two_versions
    a = Assistant(_settings(data))
    before = a.index.current().manifest
    from ingest.pipeline import ingest

    with pytest.raises(MemoryError):
        ingest([folder], a.settings, a.index, _FailingEmbedder(a.embedder, fail_on=2), dry_run=False)
    assert a.index.current().manifest == before
    assert "viermal" in _texts(a)
    report = a.ingest([folder])
    assert report.from_cache >= 1 and {Path(r.path).name for r in report.by_status("ingested")} == {
        "beirat.txt", "neu.pdf"}


def test_metadata_edit_reingests_without_reembedding(two_versions):
    folder, data = two_versions
    a = Assistant(_settings(data))
    a.ingest([folder])
    (folder / "metadata.json").write_text(json.dumps({"bleibt.txt": {"year": 2025, "kind": "web article"}}),
                                          encoding="utf-8")
    report = a.ingest([folder])
    assert [Path(r.path).name for r in report.by_status("ingested")] == ["bleibt.txt"]
    assert report.embedded == 0 and report.from_cache > 0  # year and kind are not part of the embedded text
    doc = next(d for d in a.documents() if d.source == "bleibt.txt")
    assert doc.year == 2025 and doc.kind == "web article"
    assert all(p.year == 2025 for p in a.index.current().all_passages() if p.doc_id == doc.doc_id)
    assert a.index.writer.orphan_count() == 0


def test_new_chunk_settings_build_a_new_index_and_reuse_unchanged_text(two_versions):
    folder, data = two_versions
    first = Assistant(_settings(data))
    first.ingest([folder])
    other = Assistant(Settings(data_dir=data, chunk_tokens=200, chunk_overlap_tokens=20))
    assert other.settings.index_dir != first.settings.index_dir
    report = other.ingest([folder])
    assert other.index.current().count() > 0 and first.index.current().count() > 0  # two indexes, never mixed
    assert report.from_cache > 0  # the short files chunk the same way: their vectors are reused


def test_oversized_files_are_skipped_with_the_limit_named(tmp_path: Path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "klein.txt").write_text("Die Stadt Osterfeld fördert Eine-Welt-Läden.", encoding="utf-8")
    (folder / "riesig.txt").write_text("Wort " * 4000, encoding="utf-8")
    a = Assistant(Settings(data_dir=tmp_path / "data", max_file_mb=0.01))
    report = a.ingest([folder])
    (skipped,) = report.by_status("skipped")
    assert Path(skipped.path).name == "riesig.txt" and "over the limit of 0.01 MB" in skipped.reason
    assert "KEPOL_MAX_FILE_MB" in skipped.reason
    assert [Path(r.path).name for r in report.by_status("ingested")] == ["klein.txt"]


def test_exit_codes_and_summary(tmp_path: Path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "kaputt.pdf").write_bytes(b"%PDF-1.4 garbage")
    env = {"KEPOL_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    nothing = runner.invoke(main, ["ingest", "--quiet", str(folder)], env=env)
    assert nothing.exit_code == 2 and "kaputt.pdf" in nothing.output  # nothing usable at all
    (folder / "gut.txt").write_text("Die Stadt Nordheim hat einen Klimabeirat.", encoding="utf-8")
    some = runner.invoke(main, ["ingest", "--quiet", str(folder)], env=env)
    assert some.exit_code == 0, some.output
    assert "1 ingested" in some.output and "1 skipped" in some.output and "corrupt" in some.output
    strict = runner.invoke(main, ["ingest", "--quiet", "--strict", str(folder)], env=env)
    assert strict.exit_code == 2 and "1 unchanged" in strict.output


def test_damaged_manifest_is_reported_and_rebuild_repairs_it(tmp_path: Path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "gut.txt").write_text("Die Stadt Nordheim hat einen Klimabeirat für die Energiewende.",
                                    encoding="utf-8")
    env = {"KEPOL_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", "--quiet", str(folder)], env=env).exit_code == 0
    manifest = next((tmp_path / "data").glob("index-*/manifest.json"))
    manifest.write_text(manifest.read_text(encoding="utf-8")[:40], encoding="utf-8")  # truncated
    with pytest.raises(IndexCorruptError):
        Assistant(Settings(data_dir=tmp_path / "data")).ask("Klimabeirat?")
    broken = runner.invoke(main, ["ask", "Hat Nordheim einen Klimabeirat?"], env=env)
    assert broken.exit_code == 1 and "damaged" in broken.output and "--rebuild" in broken.output
    fixed = runner.invoke(main, ["ingest", "--quiet", "--rebuild", str(folder)], env=env)
    assert fixed.exit_code == 0 and "1 ingested" in fixed.output
    assert "taken from the embedding cache" in fixed.output
    assert not Assistant(Settings(data_dir=tmp_path / "data")).ask("Hat Nordheim einen Klimabeirat?").refused


def test_progress_bar_reports_documents_and_chunks_per_second(tmp_path: Path, capsys):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(3):
        (folder / f"d{i}.txt").write_text(f"Die Stadt Nummer {i} pflegt eine Partnerschaft.", encoding="utf-8")
    Assistant(Settings(data_dir=tmp_path / "data")).ingest([folder], progress=True)
    err = capsys.readouterr().err
    assert "doc/s" in err or "s/doc" in err
    assert "chunks/s" in err and "3/3" in err
