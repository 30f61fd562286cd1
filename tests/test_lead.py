"""Answers lead with what was asked: the lead first (a sentence, its answering clauses, or a list),
the asked-for span marked for bold, then the Belege; an overview shows a document's structure.
Real documents in a real store, the real embedder."""
from __future__ import annotations

import re
from pathlib import Path


from assistant.answer import EVIDENCE_HEADING, LEAD_WORDS
from assistant.api import Assistant
from assistant.core.settings import Settings
from assistant.core.text import words
from assistant.faces.ui import answer_messages, emphasised

LONG = ("Nach einem langen Beteiligungsverfahren, an dem sich Vereine, Schulen, Kirchengemeinden, die "
        "Volkshochschule, mehrere Migrantenorganisationen, der Seniorenbeirat, der Jugendrat und zahlreiche "
        "Bürgerinnen und Bürger aus allen Stadtteilen mit eigenen Vorschlägen, Stellungnahmen und Projektideen "
        "beteiligt hatten, beschloss der Rat der Stadt Nordheim im Herbst einstimmig, dass die neue "
        "Klimapartnerschaft mit der Stadt Tamale in Ghana ab dem kommenden Jahr mit jährlich 40.000 Euro aus dem "
        "städtischen Haushalt gefördert wird, wobei die Mittel vor allem für Solaranlagen an Schulen, den "
        "Austausch von Fachleuten und gemeinsame Bildungsprojekte verwendet werden sollen.")


def _lead_words(text: str) -> int:
    return len(words(re.sub(r"\[\d+\]", " ", text)))


def test_the_answer_leads_and_the_belege_follow(corpus_assistant: Assistant):
    ans = corpus_assistant.ask("Was versteht man unter Städtediplomatie?")
    assert not ans.refused and ans.lead and ans.answer.startswith(ans.lead)
    assert "Städtediplomatie meint die Pflege von Außenbeziehungen" in ans.lead
    assert _lead_words(ans.lead) <= LEAD_WORDS
    rest = ans.answer[len(ans.lead):].strip()
    if rest:  # every line of the Belege is a cited, verbatim excerpt
        assert rest.startswith(EVIDENCE_HEADING)
        for line in rest.splitlines()[1:]:
            assert re.search(r"\[\d+\]$", line), line
    assert "[1]" in ans.lead and all(c.quote in c.passage for c in ans.citations)
    contract = ans.to_contract()
    assert contract["lead"] == ans.lead and contract["answer"] == ans.answer


def test_a_typed_question_marks_the_span_it_asks_for(corpus_assistant: Assistant):
    ans = corpus_assistant.ask("Wie groß ist das Beschaffungsvolumen der Kommunen?")
    assert ans.emphasis, ans.answer
    (a, e), = ans.emphasis
    assert e <= len(ans.lead) and "Milliarden" in ans.answer[a:e] or "250" in ans.answer[a:e], ans.answer[a:e]
    shown = answer_messages(ans)[0]["content"]
    assert "**" in shown and shown.count("**") == 2
    # the bold marks stay out of the text itself: quotes and facts match the documents exactly
    assert "**" not in ans.answer
    assert emphasised("a 5 b", ((2, 3),)) == "a **5** b"


def test_a_long_sentence_is_cut_to_its_answering_clauses(tmp_path: Path):
    folder = tmp_path / "rat"
    folder.mkdir()
    (folder / "beschluss.md").write_text(f"# Ratsbeschluss\n\n{LONG}\n\nDer Rat tagt im großen Saal des Rathauses.\n",
                                         encoding="utf-8")
    (folder / "verein.md").write_text(  # a library of one passage would leave the ranking nothing to compare
        "# Partnerschaftsverein\n\nDer Partnerschaftsverein Nordheim organisiert jedes Jahr einen Schüleraustausch "
        "mit Tamale. Die Mitglieder treffen sich monatlich im Bürgerhaus.\n\n# Eine-Welt-Laden\n\nDer Eine-Welt-"
        "Laden verkauft fair gehandelten Kaffee und Schokolade.\n", encoding="utf-8")
    a = Assistant(Settings(data_dir=tmp_path / "data", corpus_dir=folder))  # default chunks: the sentence stays whole
    a.ingest([folder])
    ans = a.ask("Mit wie viel Euro wird die Klimapartnerschaft mit Tamale jährlich gefördert?")
    assert not ans.refused, ans.answer
    assert len(words(LONG)) > LEAD_WORDS and _lead_words(ans.lead) <= LEAD_WORDS + 2  # + the "…" marks
    assert "40.000 Euro" in ans.lead and "…" in ans.lead
    quote = ans.citations[0].quote
    assert quote in ans.citations[0].passage and quote in LONG and len(quote) < len(LONG)


def test_a_list_question_leads_with_the_list(corpus_assistant: Assistant):
    ans = corpus_assistant.ask("Welche Handlungsfelder umfasst die internationale Arbeit der Städte?")
    lines = ans.lead.splitlines()
    assert lines[0].startswith("Die internationale Arbeit der Städte umfasst die folgenden Handlungsfelder:")
    assert sum(ln.startswith("- ") for ln in lines) == 11


def test_an_overview_shows_what_the_document_is_and_its_structure(corpus_assistant: Assistant):
    ans = corpus_assistant.ask("Fasse das Positionspapier des Städtetags kurz zusammen.")
    assert not ans.refused
    first = ans.answer.splitlines()[0]
    assert first.startswith("**Städte in der Welt") and "Positionspapier" in first and "2021" in first
    assert "folgenden Handlungsfelder:" in ans.answer and "- 2. Städtediplomatie" in ans.answer
    assert ans.lead == ans.answer  # the outline is the answer: the chat shows it whole, nothing folded
    assert {c.doc_id for c in ans.citations} == {"dst-staedte-in-der-welt-2021"}
    assert all(c.quote in c.passage for c in ans.citations)
    assert len(words(ans.answer)) <= corpus_assistant.settings.retrieval.overview_words + 40  # lists stay whole


def test_a_near_miss_leads_with_its_refusal(corpus_assistant: Assistant):
    ans = corpus_assistant.ask("Wie hoch ist das Budget der SKEW im Jahr 2025?")
    assert ans.refused and ans.lead == ans.answer


