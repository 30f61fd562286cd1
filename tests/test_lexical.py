"""What a question asks for, and which sentences can answer it (assistant/lexical.py)."""
from __future__ import annotations

import pytest

from assistant.lexical import answer_type, asks_beyond


@pytest.mark.parametrize("question, kind", [
    ("Wer ist die aktuelle Präsidentin des Städtetags?", "person"),
    ("Wie hoch ist der Eigenanteil der Kommune?", "money"),
    ("Wie heißt das Programm für Klimapartnerschaften?", None),
    ("Wie oft tagt der Ausschuss?", "frequency"),
    ("Bis wann läuft die Frist?", "date"),
    ("Wie viele Mitgliedsstädte gibt es?", "count"),
    ("Wie lautet die E-Mail-Adresse der Servicestelle?", "contact"),
    ("Wie groß ist das Beschaffungsvolumen?", "count"),
    ("In welcher Stadt fand die Konferenz statt?", "place"),
])
def test_the_kind_of_answer_a_question_asks_for(question: str, kind: str | None):
    found = answer_type(question)
    assert (found[0] if found else None) == kind


def test_questions_about_now_or_a_later_year_ask_beyond_dated_documents():
    assert asks_beyond("Wer ist derzeit Vorsitzender?", 2021)
    assert asks_beyond("Was wurde 2023 beschlossen?", 2022)
    assert not asks_beyond("Was wurde 2019 beschlossen?", 2022)


def test_a_publishers_voice_is_found_in_its_verbs_participles_and_we_but_not_in_a_report():
    from assistant.lexical import VOICE

    for stated in ("Der Städtetag fordert mehr Mittel.", "Die Kontaktstelle – wie vom Städtetag gefordert – hilft.",
                   "Die Städte werden aufgefordert, Stellung zu nehmen.", "Er setzt sich für faire Beschaffung ein.",
                   "Wir begrüßen die Initiative."):
        assert VOICE.search(stated), stated
    for told in ("Die Stadt Leipzig liegt an der Pleiße.", "Das Netzwerk wurde 1913 gegründet."):
        assert not VOICE.search(told), told
