"""What a question asks for, and which sentences can answer it (assistant/lexical.py)."""
from __future__ import annotations

import pytest

from assistant.lexical import answer_in, answer_type, asks_beyond


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
    ("Wie heißt die Leiterin der Servicestelle mit Namen?", "person"),
    ("Was macht die Leiterin der Servicestelle?", None),
    ("Und gibt es dafür Geld?", "funding"),
    ("Mit wie viel Euro wird die Partnerschaft gefördert?", "money"),
    ("Wer bezahlt das eigentlich?", "funding"),
])
def test_the_kind_of_answer_a_question_asks_for(question: str, kind: str | None):
    found = answer_type(question)
    assert (found[0] if found else None) == kind


def test_questions_about_now_or_a_later_year_ask_beyond_dated_documents():
    assert asks_beyond("Wer ist derzeit Vorsitzender?", 2021)
    assert asks_beyond("Was wurde 2023 beschlossen?", 2022)
    assert not asks_beyond("Was wurde 2019 beschlossen?", 2022)
    assert asks_beyond("Wer leitet aktuell die Servicestelle?", None)
    # "heute" sets the present against a past the text tells of: no question beyond the documents
    assert not asks_beyond("Warum ist das heute wichtiger als früher?", 2021)
    assert not asks_beyond("Wer bewohnte das heute als Jacksonville bekannte Gebiet?", None)


def test_a_publishers_voice_is_found_in_its_verbs_participles_and_we_but_not_in_a_report():
    from assistant.lexical import VOICE

    for stated in ("Der Städtetag fordert mehr Mittel.", "Die Kontaktstelle – wie vom Städtetag gefordert – hilft.",
                   "Die Städte werden aufgefordert, Stellung zu nehmen.", "Er setzt sich für faire Beschaffung ein.",
                   "Wir begrüßen die Initiative."):
        assert VOICE.search(stated), stated
    for told in ("Die Stadt Leipzig liegt an der Pleiße.", "Das Netzwerk wurde 1913 gegründet."):
        assert not VOICE.search(told), told


@pytest.mark.parametrize("question, text, found", [
    ("Wie viele Mitglieder hat der Ausschuss?", "Der Ausschuss zählt 38 Mitglieder.", "38"),
    ("Wie viele Mitglieder hat der Ausschuss?", "1. Der Ausschuss berät den Vorstand.", None),  # numbering
    ("Wie viele Mitglieder hat der Ausschuss?", "Leitsätze\n 2) Der Ausschuss tagt im Rathaus.", None),
    ("Wie viele Mitglieder hat der Ausschuss?", "Die Schule wurde fertiggestellt.19", None),  # a footnote mark
    ("Wie viele Ziele hat die Agenda 2030?", "Die Agenda 2030 ist ein Rahmen.", None),  # the question's own number
    ("Wie viele Ziele hat die Agenda 2030?", "Die Agenda 2030 hat 17 Ziele.", "17"),
    ("Wie heißt der Koordinator für Partnerschaften mit Namen?", "Der Koordinator für Partnerschaften berät.", None),
    ("Wie heißt der Koordinator für Partnerschaften mit Namen?", "Ihn leitet Dr. Anna Berg.", "Dr. A"),
    ("Gibt es dafür Geld?", "Geld gibt es aus dem Förderprogramm des Landes.", "Geld"),  # its own word may answer
    ("Gibt es dafür Geld?", "Die Broschüren sind kostenfrei.", None),
])
def test_what_a_typed_question_asks_for_is_something_it_does_not_already_say(question: str, text: str,
                                                                            found: str | None):
    """A sentence that repeats the role or the number the question names, or an item's numbering,
    does not give the asked-for kind; a new number or a titled name does."""
    kind = answer_type(question)
    assert kind is not None
    m = answer_in(kind, text, question)
    assert (m.group(0) if m else None) == found
