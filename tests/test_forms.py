"""Answers shaped by what is asked, on documents written for these tests (never the eval sets'
questions): several documents each speak under their own name, a stance is quoted in its
publisher's voice, a follow-up is read with what it asks now, an overview follows the headings.
Real files, a real store, the real embedder and reader."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.api import Assistant
from assistant.chat import condense
from assistant.core.text import words
from assistant.understand import document_names, understand
from tests.conftest import small_library

NORDLAND = """# Positionspapier zur Städtediplomatie

## Unsere Forderungen

Der Kommunalverband Nordland fordert eine feste Kontaktstelle für Kommunen im Landesministerium für Städtediplomatie.
Wir setzen uns dafür ein, dass Bürgermeisterinnen und Bürgermeister bei internationalen Verhandlungen mit am Tisch sitzen.

## Ein Beispiel aus der Praxis

Die Gemeinde Birkenau empfängt jedes Jahr eine Delegation aus ihrer Partnerstadt am Meer.
Zum Besuch richtet sie ein Sommerfest mit Musik und einem Markt im Schlosspark aus.
"""

SUEDLAND = """# Stellungnahme zur kommunalen Außenarbeit

## Finanzierung

Das Eine-Welt-Netz Südland fordert einen eigenen Landesfonds für Städtediplomatie und Partnerschaftsarbeit.
Vereine der Diaspora sollen an jeder neuen Städtepartnerschaft von Anfang an beteiligt werden.

## Bildung

Schulen im Land Südland tauschen Klassen mit Schulen in Partnerstädten aus.
Jedes Jahr reisen etwa zweihundert Jugendliche zu Begegnungen ins Ausland.
"""

LEITFADEN = """# Leitfaden Partnerschaft

## Vorbereitung

Eine Partnerschaft beginnt mit einem Beschluss des Gemeinderats, der Ziele und Zuständigkeiten festlegt.
Die Verwaltung benennt dafür eine Ansprechperson im Bürgermeisteramt.

## Finanzierung

Für erste Reisen und Begegnungen stehen Mittel aus dem Förderprogramm Nordlicht bereit.
Anträge nimmt die Landesstelle bis zum 30. September entgegen.

## Beteiligung

Vereine, Schulen und Kirchengemeinden gestalten das Programm der Begegnungen mit.
Ein jährliches Partnerschaftsfest macht die Verbindung in der Stadt sichtbar.
"""

META = {
    "nordland.md": {"doc_id": "nordland", "title": "Positionspapier zur Städtediplomatie",
                    "publisher": "Kommunalverband Nordland", "year": 2024, "kind": "position paper"},
    "suedland.md": {"doc_id": "suedland", "title": "Stellungnahme zur kommunalen Außenarbeit",
                    "publisher": "Eine-Welt-Netz Südland", "year": 2023, "kind": "position paper"},
    "leitfaden.md": {"doc_id": "leitfaden", "title": "Leitfaden Partnerschaft", "publisher": "Landesstelle Nordlicht",
                     "year": 2025, "kind": "service brochure"},
}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return small_library(tmp_path_factory.mktemp("forms"), {
        "nordland.md": NORDLAND, "suedland.md": SUEDLAND, "leitfaden.md": LEITFADEN,
        "metadata.json": json.dumps(META, ensure_ascii=False)})


def _lines_name_their_documents(ans) -> None:
    """Every answer line that starts with a document's name quotes that document."""
    by_n = {c.n: c for c in ans.citations}
    for line in ans.answer.splitlines():
        m = re.match(r"^(?:- )?(Kommunalverband Nordland|Eine-Welt-Netz Südland|Landesstelle Nordlicht) \((\d{4})\): "
                     r".*\[(\d+)\]$", line)
        if m:
            c = by_n[int(m.group(3))]
            assert c.year == int(m.group(2)) and META[c.source]["publisher"] == m.group(1), line


def test_a_question_naming_two_publishers_hears_each_under_its_name(library: Assistant):
    ans = library.ask("Was fordern der Kommunalverband Nordland und das Eine-Welt-Netz Südland zur Städtediplomatie?")
    assert not ans.refused, ans.answer
    assert {c.doc_id for c in ans.citations} >= {"nordland", "suedland"}
    assert re.match(r"^(Kommunalverband Nordland \(2024\)|Eine-Welt-Netz Südland \(2023\)): ", ans.lead), ans.lead
    # what each of them says comes first: the lead holds one named line per document
    lead_docs = {ans.citations[int(n) - 1].doc_id for n in re.findall(r"\[(\d+)\]$", ans.lead, re.M)}
    assert lead_docs >= {"nordland", "suedland"} and len(ans.lead.splitlines()) == len(lead_docs), ans.answer
    _lines_name_their_documents(ans)
    assert all(c.quote in c.passage for c in ans.citations)


def test_a_question_across_the_papers_hears_more_than_one_of_them(library: Assistant):
    ans = library.ask("Was fordern die Papiere zur Städtediplomatie?")  # no document named
    assert not ans.refused, ans.answer
    assert len({c.doc_id for c in ans.citations}) >= 2, ans.answer
    assert re.match(r"^[^:\n]+ \(\d{4}\): ", ans.lead), ans.lead
    _lines_name_their_documents(ans)


def test_a_single_document_question_is_not_labelled(library: Assistant):
    ans = library.ask("Bis wann nimmt die Landesstelle Anträge entgegen?")
    assert not ans.refused and "30. September" in ans.lead, ans.answer
    assert not re.match(r"^[^:\n]+ \(\d{4}\): ", ans.lead)


def test_a_stance_is_quoted_in_the_publishers_voice_not_from_its_example(library: Assistant):
    ans = library.ask("Was fordert der Kommunalverband Nordland?")
    assert not ans.refused, ans.answer
    assert ans.citations[0].doc_id == "nordland"
    assert "fordert" in ans.lead or "setzen uns" in ans.lead, ans.lead
    assert "Birkenau" not in ans.lead and "Sommerfest" not in ans.lead


def test_a_follow_up_is_read_with_what_it_asks_now_first(library: Assistant):
    """The reader keeps a question's first tokens: a long first turn before the follow-up pushed
    the follow-up itself out of what the reader read."""
    first = ("Ich bin neu im Büro für internationale Angelegenheiten unserer Gemeinde und lese gerade den Leitfaden "
             "der Landesstelle Nordlicht, weil unser Gemeinderat im Frühjahr über eine neue Partnerschaft mit einer "
             "Stadt in Ghana beraten will und ich die Vorlage dafür schreiben soll.")
    follow = "Und bis wann muss man dafür den Antrag stellen?"
    version = library.index.current()
    u = library.understand(version, follow, condense(follow, [first], 4))
    assert u.condensed.context and u.reading_text.startswith(follow)
    reader = library.reader()
    if reader is None:
        pytest.skip("no reader here (onnxruntime or the reader file missing)")
    from assistant.e5.reader import pair_tokens

    read = pair_tokens(reader.tokenizer, reader.weights.vocabulary, u.reading_text, ["x"], reader.file.recipe)[0]
    asked = reader.tokenizer.content_ids([follow])[0]
    assert all(t in read for t in asked)  # the follow-up's own words are read
    ans = library.ask(follow, history=[first])  # answered, or at least the deadline is what comes closest
    assert "30. September" in ans.lead and ans.citations[0].doc_id == "leitfaden", ans.answer


def test_an_overview_follows_the_documents_headings(library: Assistant):
    ans = library.ask("Worum geht es im Leitfaden Partnerschaft?")
    assert not ans.refused, ans.answer
    assert ans.answer.startswith("**Leitfaden Partnerschaft**") and ans.lead == ans.answer
    for heading in ("Vorbereitung", "Finanzierung", "Beteiligung"):
        assert heading in ans.answer, ans.answer
    assert ans.answer.index("Vorbereitung") < ans.answer.index("Finanzierung") < ans.answer.index("Beteiligung")
    assert {c.doc_id for c in ans.citations} == {"leitfaden"}
    assert all(c.quote in c.passage for c in ans.citations)
    assert len(words(ans.answer)) <= library.settings.retrieval.overview_words


def test_understanding_reads_the_forms_off_general_cues():
    cases = {
        "Was fordert der Verband zur Städtediplomatie?": ("wants_position",),
        "Wie steht die Stadt zu Partnerschaften?": ("wants_position",),
        "Was sagen die Papiere zur Finanzierung?": ("wants_position", "wants_documents"),
        "Vergleiche die beiden Erklärungen.": ("wants_documents",),
        # the wanted form may stand in a sentence that does not ask
        "Ich schreibe eine Rede. Warum zählen Partnerschaften? Ich hätte gern Belege aus mehreren Papieren.":
            ("wants_documents",),
        "Wann wurde die Partnerschaft gegründet?": (),
    }
    for question, forms in cases.items():
        u = understand(question, condense(question, [], 4), set())
        got = tuple(f for f in ("wants_position", "wants_documents") if getattr(u, f))
        assert got == forms, (question, got)
    # a list is asked for by the imperative of "nennen", not by saying where something is named
    lists = {"Nenne drei Beispiele für Partnerschaften.": True, "Nennen Sie mir drei Beispiele.": True,
             "Welches Instrument nennen die Leitfäden für die Prüfung?": False,
             "Wie nennen die Städte ihr Programm?": False}
    for question, wanted in lists.items():
        assert understand(question, condense(question, [], 4), set()).wants_list is wanted, question


def test_a_long_list_shows_its_first_items_and_how_many_follow(tmp_path: Path):
    from assistant.answer import MAX_LIST_ITEMS

    themes = ["Klimaschutz", "Wasser", "Bildung", "Gesundheit", "Kultur", "Sport", "Jugend", "Wirtschaft", "Energie",
              "Verkehr", "Abfall", "Wohnen", "Ernährung", "Digitales", "Frieden"]
    items = "\n".join(f"- {t} in den Partnerstädten fördern" for t in themes)
    a = small_library(tmp_path, {
        "programm.md": f"# Programm Ostwind\n\nDas Programm Ostwind fördert die folgenden Themen:\n\n{items}\n",
        "andere.md": "# Verein\n\nDer Partnerschaftsverein trifft sich jeden Monat im Rathaus.\n"})
    ans = a.ask("Welche Themen fördert das Programm Ostwind?")
    assert not ans.refused, ans.answer
    shown = [t for t in themes if f"- {t} in den Partnerstädten fördern" in ans.lead]
    assert shown == themes[:MAX_LIST_ITEMS], ans.lead
    assert f"- … und {len(themes) - MAX_LIST_ITEMS} weitere" in ans.lead
    c = ans.citations[0]
    assert c.quote in c.passage and themes[MAX_LIST_ITEMS] not in c.quote  # the quote is what is shown


def test_a_list_answers_by_its_introduction_or_by_two_lines_not_by_one_mention():
    """whole_lists: a table of contents whose one line names the asked topic does not outrank the list
    whose lead-in and items answer; a lead-in that introduces its list ("…:") speaks for it."""
    from assistant.answer import whole_lists
    from assistant.core.types import Passage
    from assistant.evidence import Sentence

    def listed(lines: list[tuple[str, float]]) -> list[Sentence]:
        text = "\n".join(t for t, _ in lines)
        p = Passage("c", "d", "T", "s", "md", text, 0, 0, len(text))
        out, at = [], 0
        for i, (t, prob) in enumerate(lines):
            out.append(Sentence(p, 0, i, at, at + len(t), t.startswith("- "), prob, prob))
            at += len(t) + 1
        return out

    contents = whole_lists(listed([("Inhalt", 0.05), ("- 1. Agenda 2030 und die Städte", 0.9),
                                   ("- 2. Städtediplomatie", 0.02), ("- 3. Partnerschaften", 0.02)]))
    benefits = whole_lists(listed([("Agenda 2030", 0.3), ("- Städte handeln ganzheitlich.", 0.5),
                                   ("- Städte übernehmen Verantwortung.", 0.45)]))
    offers = whole_lists(listed([("Was wir den Kommunen bieten:", 0.8), ("- Beratung", 0.05), ("- Netzwerke", 0.04)]))
    assert [len(x) for x in (contents, benefits, offers)] == [1, 1, 1]  # each list is one unit
    assert benefits[0].prob > contents[0].prob  # one matching line of a table of contents is a mention
    assert offers[0].prob == pytest.approx(0.8)  # the introducing lead-in speaks for its items
    assert contents[0].prob < 0.9


def test_an_overview_is_asked_of_a_whole_document_not_of_a_matter_in_it():
    names = document_names([(d["doc_id"], d["title"], d["publisher"]) for d in META.values()])
    cases = {
        "Worum geht es im Leitfaden Partnerschaft?": {"leitfaden"},  # by its title
        "Fasse das Papier des Kommunalverbands Nordland kurz zusammen.": {"nordland"},  # by its publisher
        "Was steht alles in der Stellungnahme zur kommunalen Außenarbeit?": {"suedland"},
        "Wovon handelt der Leitfaden Partnerschaft?": {"leitfaden"},
        "Worum ging es bei der Finanzierung?": None,  # a matter
        "Gib mir einen Überblick über die Dokumente.": set(),  # the library: no document in particular
        "Fasse zusammen.": set(),  # the document the conversation is about
        "Was steht im Leitfaden Partnerschaft zur Finanzierung?": None,  # a matter in it
        "Gib mir einen Überblick über Förderprogramme für Partnerschaften.": None,
        "Wie hoch sind die Mittel aus dem Förderprogramm?": None,  # no overview asked
    }
    for question, docs in cases.items():
        u = understand(question, condense(question, [], 4), set(), names)
        assert u.wants_overview == (docs is not None) and u.summed_up == frozenset(docs or ()), (question, u.summed_up)
    library = {"Welche Dokumente gibt es?": True, "Which documents do you have?": True,
               "Gib mir einen Überblick über die Dokumente.": True, "Fasse zusammen.": False,
               "Welche Dokumente sagen etwas zur Finanzierung?": False,  # a matter in them
               "Worum geht es im Leitfaden Partnerschaft?": False}
    for question, wanted in library.items():
        assert understand(question, condense(question, [], 4), set(), names).wants_library == wanted, question


def test_an_overview_of_the_documents_names_each_of_them(library: Assistant):
    for question in ("Gib mir einen Überblick über die Dokumente.", "Welche Dokumente gibt es?"):
        ans = library.ask(question)
        assert not ans.refused, ans.answer
        lines = ans.answer.splitlines()
        assert lines[0] == "Die Bibliothek umfasst 3 Dokumente:", ans.answer
        for meta in META.values():
            assert sum(f"**{meta['title']}**" in line for line in lines[1:]) == 1, ans.answer
        assert ans.citations and all(c.quote in c.passage for c in ans.citations)
    # a matter in one document is answered from that matter, not with the document's outline
    ans = library.ask("Was steht im Leitfaden Partnerschaft zur Finanzierung?")
    assert "Förderprogramm Nordlicht" in ans.answer and not ans.answer.startswith("**Leitfaden Partnerschaft**"), \
        ans.answer


def test_an_overview_opens_where_the_document_says_what_it_is_for(tmp_path: Path):
    text = ("# Handreichung Südwind\n\nDie Sonne schien, als der Arbeitskreis zum ersten Mal tagte.\n\n"
            "Das vorliegende Papier zeigt, wie Gemeinden ihre Partnerschaften mit Städten im Süden stärken können.\n\n"
            "Die Handreichung nennt dafür die folgenden Schritte:\n\n- einen Ratsbeschluss fassen\n"
            "- eine Ansprechperson benennen\n- Vereine beteiligen\n")
    a = small_library(tmp_path, {"suedwind.md": text,
                                 "andere.md": "# Verein\n\nDer Partnerschaftsverein trifft sich jeden Monat.\n"})
    ans = a.ask("Fasse die Handreichung Südwind zusammen.")
    assert not ans.refused, ans.answer
    first = ans.answer.splitlines()[0]
    assert first.startswith("**Handreichung Südwind**") and "Das vorliegende Papier zeigt" in first, first
    assert "Die Sonne schien" not in ans.answer
    assert "- einen Ratsbeschluss fassen" in ans.answer  # its list follows


def test_a_question_across_documents_reads_each_where_it_speaks_best():
    """The passages read take turns among the documents asked about, each by its own best passages
    in relevance order, however low the second document's passages rank overall."""
    from dataclasses import replace

    import numpy as np

    from assistant.core.types import Passage
    from assistant.evidence import Candidate, reading_order

    def cand(doc: str, i: int) -> tuple[Candidate, float]:
        p = Passage(f"{doc}-{i}", doc, doc, f"{doc}.md", "position paper", "Text.", i, 0, 5)
        return Candidate(p, 0.0, 0.0, (), np.zeros((0, 4))), 0.0

    ranked = [cand("a", i) for i in range(6)] + [cand("b", i) for i in range(3)] + [cand("c", 0)]
    q = "Was sagen A und B?"
    u = understand(q, condense(q, [], 4), set())
    order, n = reading_order(replace(u, named=frozenset({"a", "b"})), ranked, 5)
    read = [c.passage.chunk_id for c, _ in order[:n]]
    assert read == ["a-0", "a-1", "a-2", "b-0", "b-1", "b-2"]  # five plus one for the second document
    assert sorted(c.passage.chunk_id for c, _ in order) == sorted(c.passage.chunk_id for c, _ in ranked)
    single, n1 = reading_order(u, ranked, 5)  # a question about one document reads as ranked
    assert single == ranked and n1 == 5


def test_across_documents_the_reader_reads_each_documents_likeliest_sentences():
    """Each speaking document's line is its likeliest unit, so the reader reads each document's
    likeliest sentences too (an equal share of half of what it reads), not only those of the document
    the first stage prefers; a question about one matter reads the likeliest overall."""
    import numpy as np

    from assistant.core.types import Passage
    from assistant.evidence import ReaderScores, Sentence, reader_matrix

    def sentence(doc: str, i: int) -> Sentence:
        text = f"Satz {i} aus {doc}."
        return Sentence(Passage(f"{doc}-{i}", doc, doc, f"{doc}.md", "position paper", text, i, 0, len(text)),
                        0, 0, 0, len(text), False, 0.5)

    sents = [sentence("a", i) for i in range(6)] + [sentence("b", i) for i in range(4)]
    first = np.linspace(1.0, 0.1, len(sents))  # the first stage prefers every sentence of a to any of b
    asked: list[str] = []

    def score(question: str, texts: list[str]) -> np.ndarray:
        asked.extend(texts)
        return np.arange(len(texts), dtype=np.float64)

    across = reader_matrix(sents, first, ReaderScores("Was sagen A und B?", score), 4, ["a", "b"])
    # the likeliest half overall, then each document's likeliest unread one
    assert sorted(asked) == sorted(["Satz 0 aus a.", "Satz 1 aus a.", "Satz 2 aus a.", "Satz 0 aus b."])
    unread = across[:, 0] == across[:, 0].min()
    assert unread.sum() == len(sents) - 4 and not unread[6] and unread[3] and unread[7]
    asked.clear()
    reader_matrix(sents, first, ReaderScores("Was sagt A?", score), 4)
    assert asked == [f"Satz {i} aus a." for i in range(4)]
