"""The Gradio app, started on a free loopback port and driven through gradio_client (real HTTP)."""
from __future__ import annotations

import re

import pytest
from gradio_client import Client

from assistant.api import Assistant
from assistant.core.types import Answer, Citation
from assistant.faces.server import launch
from assistant.faces.ui import sources_html
from tests.conftest import answer_text, chat_text, free_port


@pytest.fixture(scope="module")
def client(corpus_assistant: Assistant):
    port = free_port()
    app = launch(corpus_assistant, "127.0.0.1", port, block=False)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        app.close()


def test_ask_endpoint_speaks_the_contract(client: Client):
    obj = client.predict("Was ist das Leitmotto des AKEZ?", [], api_name="/ask")
    assert obj["refused"] is False
    assert obj["citations"][0]["doc_id"] == "rgre-akez-leitbild"


def test_chat_conversation_with_follow_up_and_refusal(client: Client):
    _, chat, sources = client.predict(
        "Wie unterstützt das BMZ Kommunen bei Partnerschaften mit Partnerkommunen?", api_name="/chat")
    assert chat[0]["role"] == "user" and all(m["role"] == "assistant" for m in chat[1:]) and len(chat) in (3, 4)
    assert chat[-1]["metadata"]["title"].startswith("Quellen")  # the answer's own sources, folded
    assert "bmz" in sources.lower() or "BMZ" in sources
    first = {int(n) for n in re.findall(r"\\\[(\d+)\\\]", chat_text(chat[-1]))}
    # the session keeps the turns: the follow-up is resolved against the first question
    _, chat, sources = client.predict("Und welche Schwerpunkte hat das BMZ dabei?", chat, api_name="/chat")
    assert sum(m["role"] == "user" for m in chat) == 2
    text = answer_text(chat)
    assert "Maghreb" in text or "Klimaschutz" in text
    later = {int(n) for n in re.findall(r"\\\[(\d+)\\\]", text)}
    assert first and later and min(later) > max(first)  # numbers go on across the conversation
    _, chat, sources = client.predict("Wie wird das Wetter morgen in Hamburg?", chat, api_name="/chat")
    text = answer_text(chat)
    assert "keine Angabe" in text and "Keine Belegstellen" in sources
    chat, sources, _, _ = client.predict(api_name="/reset")
    assert chat == []


def test_document_text_is_escaped_in_sources():
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    ans = Answer(question="q", answer="a [1]", refused=False, citations=(
        Citation(n=1, doc_id="d", title=f"Titel {evil}", source="d.pdf", page=3, quote=evil,
                 passage=f"Vorher {evil} nachher"),))
    out = sources_html(ans)
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;" in out and "S. 3" in out


def test_answers_stream_into_the_chat(client: Client):
    job = client.submit("Was ist das Leitmotto des AKEZ?", [], api_name="/chat")
    updates = [out for out in job]  # every yield of the generator reaches the browser
    assert len(updates) >= 2
    final_chat = job.result()[1]
    text = answer_text(final_chat)
    assert "Eine bessere Welt" in text


def test_feedback_export_and_library(client: Client, corpus_assistant: Assistant, tmp_path):
    from click.testing import CliRunner

    from assistant.faces.cli import main

    client.predict(api_name="/reset")
    client.predict("Was ist das Leitmotto des AKEZ?", [], api_name="/chat")
    status, _ = client.predict("Sehr hilfreich, danke!", api_name="/feedback_up")
    assert "Danke" in status
    data_dir = str(corpus_assistant.settings.store.data_dir)
    out = CliRunner().invoke(main, ["feedback", "export"], env={"KEPOL_DATA_DIR": data_dir})
    assert out.exit_code == 0
    assert "Sehr hilfreich, danke!" in out.output and "Was ist das Leitmotto des AKEZ?" in out.output
    assert corpus_assistant.settings.index_fingerprint() in out.output and ",1," in out.output
    path = client.predict(api_name="/export")
    md = open(path, encoding="utf-8").read()
    assert "## Frage 1" in md and "Kommunales Denken und Handeln für Eine bessere Welt." in md and "Quellen" in md
    table = client.predict(api_name="/library")
    rows = table["data"] if isinstance(table, dict) else table
    assert len(rows) == 5 and any("Städte in der Welt" in r[0] for r in rows)


def test_sources_link_the_original_and_show_context_and_filters_apply(client: Client, corpus_assistant: Assistant):
    import re
    import urllib.request

    client.predict(api_name="/reset")
    # gradio_client sees the visible inputs only: question, chat, kind filter, publisher filter
    _, _, sources = client.predict("Was versteht man unter Städtediplomatie?", [], "alle", "alle", api_name="/chat")
    assert "Im Zusammenhang lesen" in sources and 'class="ctx"' in sources
    url = re.search(r'href="([^"]+)"', sources).group(1).replace("&amp;", "&")
    assert url.startswith("/gradio_api/file=") and "#page=" in url
    with urllib.request.urlopen(client.src.rstrip("/") + url.split("#")[0]) as r:
        assert r.read(5) == b"%PDF-"  # the original, openable at the cited page
    assert "Städte in der Welt" in sources  # unfiltered, the Städtetag paper answers this
    client.predict(api_name="/reset")
    _, _, filtered = client.predict("Was versteht man unter Städtediplomatie?", [], "service brochure", "alle",
                                    api_name="/chat")
    assert "Städte in der Welt" not in filtered  # the filter keeps the position paper out
