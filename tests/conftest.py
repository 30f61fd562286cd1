"""Shared fixtures: a real Chroma store in a temp dir, filled once from the bundled corpus."""
from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# every test's data dir shares one built ONNX graph (built once, a few seconds), kept between runs
os.environ.setdefault("KEPOL_GRAPH_DIR", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "kepol-graphs"))

# the cores this test process was given, before a worker keeps to its share of them
PROCESS_CORES = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def _pin_worker() -> None:
    """Under pytest-xdist each worker keeps to cores of its own (worker n of N: every N-th core from
    n), and so do the processes it starts: ONNX Runtime sizes its thread pool by the cores a process
    may use, and two workers each spinning a pool over both cores of a 2-core machine waste them."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and count.isdigit()) or not hasattr(os, "sched_setaffinity"):
        return
    os.sched_setaffinity(0, worker_cores(int(worker[2:]), int(count), PROCESS_CORES))


def worker_cores(n: int, workers: int, cores: list[int]) -> list[int]:
    """The cores of worker n of `workers`: every workers-th core from the n-th (all of them shared out,
    none twice), or one core each, shared round-robin, when there are more workers than cores."""
    return cores[n::workers] if workers <= len(cores) else [cores[n % len(cores)]]


_pin_worker()

from assistant.api import Assistant  # noqa: E402
from assistant.core.settings import BUNDLED_CORPUS, Settings  # noqa: E402

if TYPE_CHECKING:
    from assistant.faces.server import Running
    from ingest.pipeline import IngestReport


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """xdist's worker name ("gw0", …), or "master" in a run without workers (xdist's own fixture
    takes over when it is installed; this one keeps the suite running without it)."""
    return getattr(request.config, "workerinput", {}).get("workerid", "master")



@pytest.fixture(scope="session")
def corpus_assistant(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Assistant:
    """The bundled corpus ingested once per test process (about 30 s of embedding on 2 cores). Under
    pytest-xdist the corpus is embedded once for all workers: the first worker to get here embeds it
    and leaves its embedding cache beside the workers' temp dirs; the others seed theirs from it and
    run every other stage of the ingest for real (as `seed_embeddings` does)."""
    data = tmp_path_factory.mktemp("corpus-data")
    # no per-session rate limit: one test client asks far more than a person would (tests/test_load.py
    # checks the limit itself)
    a = Assistant(Settings(data_dir=data, corpus_dir=BUNDLED_CORPUS, rate_limit_per_minute=0))
    if worker_id == "master":
        report = a.ingest()
    else:
        report = _ingest_shared(a, tmp_path_factory.getbasetemp().parent)
    assert report.usable, report.summary()
    assert len(report.by_status("ingested")) == 5, report.summary()
    return a


def _ingest_shared(a: Assistant, run_dir: Path) -> IngestReport:
    """Ingest with the corpus's vectors computed by one worker only (a lock in the run's temp dir,
    which every xdist worker of this run shares)."""
    import fcntl

    cache, mine = run_dir / "corpus-embeddings.sqlite3", a.settings.store.data_dir / EMBEDDING_CACHE
    with open(run_dir / "corpus-embeddings.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cache.exists():
            copy_sqlite(cache, mine)
            return a.ingest()
        report = a.ingest()
        part = run_dir / "corpus-embeddings.part"
        copy_sqlite(mine, part)
        part.replace(cache)  # whole or absent: a worker never reads a half-written copy
        return report


EMBEDDING_CACHE = "embedding-cache.sqlite3"


def copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite file, by SQLite's backup API (safe while another process reads it)."""
    import sqlite3

    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def small_library(root: Path, files: dict[str, str]) -> Assistant:
    """A library of its own from a few short texts (name → text), ingested with the real embedder:
    tokens, uploads and limits set on it never touch the shared corpus index."""
    (root / "corpus").mkdir()
    for name, text in files.items():
        (root / "corpus" / name).write_text(text, encoding="utf-8")
    a = Assistant(Settings(data_dir=root / "data", corpus_dir=root / "corpus", rate_limit_per_minute=0))
    assert a.ingest().usable
    return a


def seed_embeddings(corpus: Assistant, data_dir: Path) -> Path:
    """A new data dir whose embedding cache already holds the bundled corpus's vectors (a consistent
    copy, by SQLite's backup API): a test that ingests the corpus again in a process of its own skips
    the half minute of embedding and still runs every other stage of the ingest for real."""
    data_dir.mkdir(parents=True, exist_ok=True)
    copy_sqlite(corpus.settings.store.data_dir / EMBEDDING_CACHE, data_dir / EMBEDDING_CACHE)
    return data_dir


@pytest.fixture()
def fresh_assistant(tmp_path: Path) -> Assistant:
    """An assistant over an empty store of its own (small chunks so tiny files give several chunks)."""
    return Assistant(Settings(data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus", chunk_tokens=120,
                              chunk_overlap_tokens=20))


def chat_text(message: dict) -> str:
    content = message["content"]
    return content[0]["text"] if isinstance(content, list) else content


def answer_text(chat: list[dict]) -> str:
    """The last answer in a chat as the reader sees it: its lead and its folded Belege."""
    last_user = max(i for i, m in enumerate(chat) if m["role"] == "user")
    return "\n".join(chat_text(m) for m in chat[last_user + 1:] if m["role"] == "assistant")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(a: Assistant) -> Iterator["Running"]:
    """The whole server (every door and the UI) on a free loopback port, closed afterwards."""
    from assistant.faces.server import launch

    running = launch(a, "127.0.0.1", free_port(), block=False)
    assert running is not None
    try:
        yield running
    finally:
        running.close()
