"""The chat's handlers called directly, without a browser: what each event does to the session."""
from __future__ import annotations

from pathlib import Path

from assistant.api import Assistant
from assistant.core.settings import Settings
from assistant.faces.ui import ALL, ChatHandlers
from assistant.core.types import Answer


def test_respond_streams_then_keeps_the_turn_and_shows_sources(corpus_assistant: Assistant):
    h = ChatHandlers(corpus_assistant)
    updates = list(h.respond("Was ist das Leitmotto des AKEZ?", [], [], []))
    box, chat, turns, answers, sources = updates[-1]
    assert box == "" and turns == ["Was ist das Leitmotto des AKEZ?"]
    assert len(answers) == 1 and isinstance(answers[0], Answer) and answers[0].citations
    assert chat[-1]["role"] == "assistant" and chat[-1]["content"] not in ("", "…")
    assert 'class="kepol-src"' in sources and "Im Zusammenhang lesen" in sources
    # a follow-up carries the session's turns
    *_, (_, _, turns2, answers2, _) = h.respond("Und wer gehört dazu?", chat, turns, answers)
    assert turns2 == turns + ["Und wer gehört dazu?"] and len(answers2) == 2


def test_empty_message_changes_nothing_and_rating_needs_an_answer(corpus_assistant: Assistant):
    h = ChatHandlers(corpus_assistant)
    assert list(h.respond("   ", [], [], []))[-1][:4] == ("", [], [], [])
    assert h.rate(1, "gut", []) == ("Noch keine Antwort zum Bewerten.", "gut")
    assert h.export([]) is None
    chat, turns, answers, sources, box, status = h.reset()
    assert (chat, turns, answers, box, status) == ([], [], [], "", "")


def test_filters_list_what_is_indexed_in_german(corpus_assistant: Assistant):
    kinds, publishers = ChatHandlers(corpus_assistant).filter_choices()
    labels = dict(kinds)
    assert labels[ALL] == ALL and "Positionspapier" in labels and labels["Positionspapier"] == "position paper"
    assert publishers[0] == ALL and len(publishers) > 2


def test_upload_is_refused_without_rights_and_ingests_with_them(tmp_path: Path):
    doc = tmp_path / "notiz.md"
    doc.write_text("# Notiz\n\nDie Stadt Nordheim pflegt eine Klimapartnerschaft mit Tamale.\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-trigrams-384", admin_password="geheim-7",
                        host="0.0.0.0")
    h = ChatHandlers(Assistant(settings))
    assert "Notiz" not in str(h.library())
    refused = h.upload([str(doc)], "falsch")
    assert refused.startswith("**") and "eingelesen" not in refused
    table = h.upload([str(doc)], "geheim-7")
    assert "| notiz.md | eingelesen |" in table
    assert any(row[0] == "Notiz" for row in h.library())


def test_a_skipped_upload_says_why_in_german(tmp_path: Path):
    empty, broken = tmp_path / "leer.txt", tmp_path / "kaputt.pdf"
    empty.write_bytes(b"")
    broken.write_bytes(b"%PDF-1.7\n1 0 obj <<")
    h = ChatHandlers(Assistant(Settings(data_dir=tmp_path / "data", embed_model="hash-trigrams-384")))
    table = h.upload([str(empty), str(broken)], "")
    assert "| leer.txt | übersprungen: Die Datei ist leer. |" in table, table
    assert "| kaputt.pdf | übersprungen: Das PDF ist beschädigt" in table, table
    assert "file is empty" not in table and "corrupt" not in table


def test_nested_belege_keep_their_indentation_through_gradios_chatbot():
    """Gradio's Chatbot runs inspect.cleandoc over a message's text: Belege that are one list nested
    under its lead-in lost their indentation (and rendered as a flat list)."""
    import inspect

    import gradio as gr

    from assistant.faces.ui import _kept

    belege = "- Städtediplomatie \\[6\\]\n  - Städte setzen sich ein. \\[6\\]\n  - … und 1 weitere \\[6\\]"
    shown = gr.Chatbot().postprocess([{"role": "assistant", "content": _kept(belege)}]).root[0].content[0].text
    assert shown == belege
    assert inspect.cleandoc(belege) != belege  # without it, the items would be flattened
    assert _kept("Eine Zeile.\n- Punkt") == "Eine Zeile.\n- Punkt"  # nothing indented: left as it is


def test_verwaltung_edits_deletes_and_shows_the_audit_log_to_administrators(tmp_path: Path):
    (tmp_path / "corpus").mkdir()
    for name, text in (("beirat.txt", "Der Klimabeirat der Stadt Nordheim tagt viermal im Jahr."),
                       ("laden.txt", "Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden mit Mietzuschüssen.")):
        (tmp_path / "corpus" / name).write_text(text, encoding="utf-8")
    a = Assistant(Settings(data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus", admin_password="geheim-7"))
    assert a.ingest().usable
    h = ChatHandlers(a)
    assert {v for _, v in h.document_choices()["choices"]} == {"beirat", "laden"}
    assert h.delete_document("laden", "falsch").startswith("**Falsches Passwort")
    assert "Kein Dokument ausgewählt" in h.delete_document("", "geheim-7")
    assert h.edit_document("laden", "", ALL, "", "", "", "geheim-7") == "Keine Änderung angegeben."
    done = h.edit_document("laden", "Förderrichtlinie Läden", ALL, "", "2024", "rat-intern", "geheim-7")
    assert done.startswith("„Förderrichtlinie Läden“ gespeichert.") and "neu eingebettet" in done
    assert "nicht erlaubt" in h.edit_document("laden", "", ALL, "", "", "rat intern", "geheim-7")
    assert h.delete_document("beirat", "geheim-7") == "„Der Klimabeirat der Stadt Nordheim tagt viermal im Jahr.“ gelöscht."
    assert h.delete_document("beirat", "geheim-7") == "**Kein Dokument „beirat“ in der Bibliothek.**"
    assert [r[8] for r in h.library()] == ["rat-intern"]  # the Sammlung column
    newer = tmp_path / "laden-2025.txt"
    newer.write_text("Die Gemeinde Osterfeld unterstützt Eine-Welt-Läden ab 2025 mit 300 Euro im Monat.", encoding="utf-8")
    assert h.replace_document("laden", str(newer), False, "falsch").startswith("**Falsches Passwort")
    assert h.replace_document("laden", str(newer), True, "geheim-7") == "„laden-2025.txt“: eingelesen"
    assert [r[8] for r in h.library()] == ["rat-intern"] and "300 Euro" in a.ask("Wie viel Geld gibt Osterfeld?").answer
    assert h.audit_html("falsch").startswith("**Falsches Passwort")
    log = h.audit_html("geheim-7")
    assert log.index("ersetzt") < log.index("bearbeitet") and "rat-intern" in log  # newest first
