"""German retrieval parts: stemming, decompounding from the corpus vocabulary, typo correction,
synonyms and abbreviations from the data file, fusion and diversity — each on the real index."""
from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.api import Assistant
from assistant.query import SYNONYMS, analyze, correct
from assistant.evidence import Candidate, distinct
from assistant.retrieve import rrf, weighted
from assistant.core.text import keyword_terms, split_compound, units
from assistant.core.types import Passage


def test_german_stemming_and_stopwords():
    assert sorted(keyword_terms("Welche Angebote bietet die Servicestelle?")) == \
        sorted(keyword_terms("Angebot Servicestelle bietet"))
    assert "kommun" in keyword_terms("Kommunen") and keyword_terms("Kommune") == keyword_terms("Kommunen")
    assert not keyword_terms("Was ist das und wie viele sind es?")  # only question framing


def test_compounds_split_into_parts_the_corpus_knows():
    vocab = {"partnerschaft", "beteilig", "burg", "stadt", "klimapartnerschaft"}
    assert split_compound("stadtepartnerschaft", vocab) == ["partnerschaft"]
    assert split_compound("burgerbeteilig", vocab) == ["beteilig"]
    assert split_compound("partnerschaft", vocab) == []  # too short to be a compound worth splitting
    assert split_compound("xyzabcdefghij", vocab) == []


def test_keyword_index_finds_a_compound_by_its_part(corpus_assistant: Assistant):
    # "Beteiligung" occurs only inside compounds such as "Bürgerbeteiligung" in the Städtetag paper
    hits = corpus_assistant.index.current().keyword_search(keyword_terms("Beteiligung"), 5)
    texts = corpus_assistant.index.current().get([c for c, _ in hits])
    assert any("Bürgerbeteiligung" in p.text for p in texts.values())


def test_typos_are_corrected_to_corpus_words_but_real_words_are_left_alone(corpus_assistant: Assistant):
    vocab = corpus_assistant.index.current().vocabulary
    assert correct(keyword_terms("Komunen")[0], vocab) == keyword_terms("Kommunen")[0]
    assert correct(keyword_terms("Wetbewerb")[0], vocab) == keyword_terms("Wettbewerb")[0]
    assert correct(keyword_terms("verfolgt")[0], vocab) is None  # "erfolgt" is one edit away, but not a typo
    q = analyze("Wie oft wird der Wetbewerb Komune bewegt Welt vergeben?", vocab)
    assert keyword_terms("Wettbewerb")[0] in q.terms


def test_abbreviations_and_synonyms_come_from_the_data_file(corpus_assistant: Assistant):
    groups = json.loads(SYNONYMS.read_text(encoding="utf-8"))["groups"]
    assert ["AKEZ", "Ausschuss für Kommunale Entwicklungszusammenarbeit"] in groups
    q = analyze("Was ist der AKEZ?", corpus_assistant.index.current().vocabulary)
    assert "Ausschuss für Kommunale Entwicklungszusammenarbeit" in q.expansion
    assert frozenset(keyword_terms("Ausschuss für Kommunale Entwicklungszusammenarbeit")) in q.alternatives["akez"]
    money = analyze("Wie viel Geld geben Kommunen für Beschaffung aus?", corpus_assistant.index.current().vocabulary)
    assert frozenset(["euro"]) in money.alternatives["geld"]


def test_english_glossary_applies_to_english_questions_only(corpus_assistant: Assistant):
    vocab = corpus_assistant.index.current().vocabulary
    en = analyze("How large is the procurement volume of German municipalities?", vocab)
    assert "beschaff" in {t for alts in en.alternatives.values() for a in alts for t in a}
    de = analyze("Welche Städte sind Partner von Connective Cities?", vocab)
    assert not any("citi" in a for alts in de.alternatives.values() for a in alts if "connectiv" not in a)


def test_unknown_names_are_marked(corpus_assistant: Assistant):
    q = analyze("Welche Städtepartnerschaften hat die Stadt Würzburg?", corpus_assistant.index.current().vocabulary)
    assert q.unknown == frozenset(keyword_terms("Würzburg"))
    assert not analyze("Wie oft wird der Wettbewerb ausgelobt?", corpus_assistant.index.current().vocabulary).unknown


def test_fusion_functions():
    dense = [("a", 0.90), ("b", 0.85), ("c", 0.80)]
    keyword = [("c", 12.0), ("d", 6.0)]
    w = weighted(dense, keyword, dense_weight=0.4)
    assert w["c"] == pytest.approx(0.6) and w["a"] == pytest.approx(0.4) and w["d"] == pytest.approx(0.0)
    assert max(w, key=w.get) == "c"  # strong on keywords beats best-but-only-dense
    r = rrf([["a", "b", "c"], ["c", "d"]], 60)
    assert max(r, key=r.get) == "c" and r["a"] > r["d"]


def _c(cid: str, text: str) -> Candidate:
    spans = tuple(units(text))
    return Candidate(Passage(cid, "d", "T", "d.pdf", "", text, 0, 0, len(text)), 0.0, 0.0, spans,
                     np.zeros((len(spans), 4)))


def test_near_duplicate_passages_are_dropped():
    s1, s2, s3 = ("Erster langer Satz über Partnerschaften.", "Zweiter langer Satz über Förderung.",
                  "Dritter langer Satz über Beschaffung.")
    ranked = [(_c("1", f"{s1} {s2}"), 0.9), (_c("2", f"{s2} {s1}"), 0.8), (_c("3", f"{s2} {s3}"), 0.7)]
    assert [c.passage.chunk_id for c, _ in distinct(ranked)] == ["1", "3"]
