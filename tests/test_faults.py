"""Faults injected into real parts: a write limit during ingest (as a full disk would), a deleted
manifest, truncated store files. Each ends in a clear message, the previous index keeps answering
where it can, and `kepol ingest --rebuild` repairs what cannot."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.api import Assistant
from assistant.faces.cli import main
from assistant.core.errors import IndexCorruptError
from assistant.core.settings import Settings

OLD = "Der Klimabeirat der Stadt Nordheim tagt viermal im Jahr und berät den Rat zur Energiewende."
QUESTION = "Wie oft tagt der Klimabeirat in Nordheim?"


@pytest.fixture()
def indexed(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "beirat.txt").write_text(OLD, encoding="utf-8")
    (folder / "laden.txt").write_text("Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden mit Mietzuschüssen.",
                                      encoding="utf-8")
    data = tmp_path / "data"
    a = Assistant(Settings(data_dir=data))
    assert a.ingest([folder]).usable
    a.close()
    return folder, data


def _cli(data: Path, *args: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, list(args), env={"KEPOL_DATA_DIR": str(data)})
    return out.exit_code, out.output


CHILD = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
    from assistant.faces.cli import main
    main(["ingest", "--quiet", sys.argv[2]])
""")


def test_a_write_failure_during_ingest_names_the_cause_and_keeps_the_index(indexed: tuple[Path, Path]):
    folder, data = indexed
    limit = max(f.stat().st_size for f in data.rglob("*") if f.is_file()) + 4096
    big = " ".join(f"Absatz {i}: Die Partnerschaft mit Tamale umfasst Schulen, Wasser und Energie." for i in range(400))
    (folder / "gross.txt").write_text(big, encoding="utf-8")
    (folder / "beirat.txt").write_text(OLD.replace("viermal", "monatlich"), encoding="utf-8")
    env = {**os.environ, "KEPOL_DATA_DIR": str(data), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    child = subprocess.run([sys.executable, "-c", CHILD, str(limit), str(folder)], env=env, capture_output=True,
                           text=True, timeout=600)
    assert child.returncode == 1, (child.returncode, child.stdout[-1500:], child.stderr[-3000:])
    # the cause as the failing layer reports it: EFBIG from Python, "disk I/O error" from SQLite
    assert "nothing was committed" in child.stderr and any(
        cause in child.stderr for cause in ("too large", "full", "disk I/O error")), child.stderr[-1500:]
    a = Assistant(Settings(data_dir=data))  # the previous index answers as before
    answer = a.ask(QUESTION)
    assert "viermal" in answer.answer and "monatlich" not in answer.answer
    report = a.ingest([folder])  # space again: the next run finishes the work
    assert {Path(r.path).name for r in report.by_status("ingested")} == {"gross.txt", "beirat.txt"}
    assert "monatlich" in a.ask(QUESTION).answer
    a.close()


def test_deleted_manifest_is_detected_and_rebuild_repairs_it(indexed: tuple[Path, Path]):
    folder, data = indexed
    next(data.glob("index-*/manifest.json")).unlink()
    code, out = _cli(data, "ask", QUESTION)
    assert code == 1 and "manifest" in out and "--rebuild" in out
    code, out = _cli(data, "ingest", "--quiet", "--rebuild", str(folder))
    assert code == 0, out
    code, out = _cli(data, "ask", QUESTION)
    assert code == 0 and "viermal" in out


def test_truncated_store_is_detected_at_start_and_rebuild_sets_it_aside(indexed: tuple[Path, Path]):
    folder, data = indexed
    db = data / "chroma" / "chroma.sqlite3"
    db.write_bytes(db.read_bytes()[:4096])
    with pytest.raises(IndexCorruptError) as err:
        Assistant(Settings(data_dir=data)).warm_up()
    assert "--rebuild" in str(err.value) and str(data / "chroma") in str(err.value)
    code, out = _cli(data, "ask", QUESTION)
    assert code == 1 and "--rebuild" in out
    code, out = _cli(data, "ingest", "--quiet", "--rebuild", str(folder))
    assert code == 0 and "moved to" in out, out
    assert list(data.glob("chroma.damaged-*"))  # kept for inspection, named in the output
    code, out = _cli(data, "ask", QUESTION)
    assert code == 0 and "viermal" in out


def test_truncated_vector_files_are_detected(indexed: tuple[Path, Path]):
    folder, data = indexed
    segments = [f for f in (data / "chroma").rglob("*") if f.is_file() and f.name != "chroma.sqlite3"]
    for f in segments:
        f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 3])
    try:
        a = Assistant(Settings(data_dir=data))
        a.warm_up()
        answer = a.ask(QUESTION)  # the vectors may live in the database rather than in segment files
        assert "viermal" in answer.answer
    except IndexCorruptError as exc:
        assert "--rebuild" in str(exc)
        code, out = _cli(data, "ingest", "--quiet", "--rebuild", str(folder))
        assert code == 0, out
        assert "viermal" in _cli(data, "ask", QUESTION)[1]
