"""Concurrency: sessions of the real Gradio app answered in parallel (also while documents are
ingested) give exactly the answers each conversation gets alone; per-session rate limit; queueing."""
from __future__ import annotations

from pathlib import Path

from gradio_client import Client

from assistant.api import Assistant
from assistant.faces.ratelimit import RateLimiter
from assistant.faces.server import launch
from benchmarks.load import run
from tests.conftest import free_port, seed_embeddings


def test_concurrent_sessions_during_ingest_see_no_cross_talk_and_no_partial_index(corpus_assistant: Assistant,
                                                                                 tmp_path: Path):
    data = seed_embeddings(corpus_assistant, tmp_path / "data")  # the corpus's vectors: no re-embedding
    r = run(sessions=8, during_ingest=True, timeout_s=240, data_dir=data)
    assert r["errors"] == [] and r["mismatches"] == [], r
    assert r["conversations_changed_by_ingest"] >= 2  # the check can tell the old index from the new one
    assert r["turns"] >= 20 and r["latency_ms"]["p95"] > 0


def test_rate_limit_per_session(corpus_assistant: Assistant):
    a = Assistant(corpus_assistant.settings.replace(rate_limit_per_minute=2))
    port = free_port()
    app = launch(a, "127.0.0.1", port, block=False)
    try:
        one, two = Client(f"http://127.0.0.1:{port}/", verbose=False), Client(f"http://127.0.0.1:{port}/", verbose=False)
        chat: list = []
        for q in ("Was ist der AKEZ?", "Und wie lautet sein Leitmotto?"):
            _, chat, _ = one.predict(q, chat, api_name="/chat")
        box, chat, _ = one.predict("Und wer gehört dazu?", chat, api_name="/chat")
        text = chat[-1]["content"][0]["text"] if isinstance(chat[-1]["content"], list) else chat[-1]["content"]
        assert "Bitte warten Sie" in text and box == "Und wer gehört dazu?"  # the question is kept for later
        _, other, _ = two.predict("Was ist der AKEZ?", [], api_name="/chat")  # another session is not affected
        text = other[-1]["content"][0]["text"] if isinstance(other[-1]["content"], list) else other[-1]["content"]
        assert "Bitte warten" not in text
        assert two.predict("Was ist der AKEZ?", [], api_name="/ask")["citations"]
        assert two.predict("Was ist der AKEZ?", [], api_name="/ask")["error"] == "rate_limited"
    finally:
        app.close()


def test_rate_limiter_window_and_memory_bound():
    now = [0.0]
    r = RateLimiter(3, window=60, max_keys=100, clock=lambda: now[0])
    assert [r.wait_seconds("s") for _ in range(3)] == [0, 0, 0]
    assert r.wait_seconds("s") == 60
    now[0] = 30
    assert r.wait_seconds("s") == 30
    now[0] = 60.5
    assert r.wait_seconds("s") == 0  # the first three left the window
    for i in range(500):
        r.wait_seconds(f"k{i}")
    assert len(r._hits) <= 101
    assert RateLimiter(0).wait_seconds("x") == 0  # 0 switches it off



def test_sessions_of_two_collections_at_once_see_only_their_own(corpus_assistant: Assistant, tmp_path: Path):
    data = seed_embeddings(corpus_assistant, tmp_path / "data")
    r = run(sessions=6, timeout_s=240, data_dir=data, door="ui", intern=True, collections=True)
    assert r["errors"] == [] and r["mismatches"] == [] and r["cross_collection_leaks"] == 0, r
    assert r["collections"] and r["turns"] >= 18
