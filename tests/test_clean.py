"""Cleaning rules, each on real snippets from ../shared/seeds."""
from __future__ import annotations

from ingest.clean import clean_pages, join_lines, normalize_chars


def _texts(raw: str, markup: str = "plain") -> list[str]:
    return [b.text for b in clean_pages([(1, raw)], markup)]


def test_dehyphenates_words_split_across_lines():
    assert join_lines("Erfolgreiche Integration ist zugleich erfolgrei-", "che kommunale Arbeit") == \
        "Erfolgreiche Integration ist zugleich erfolgreiche kommunale Arbeit"
    assert join_lines("Dabei nehmen zivilgesell-", "schaftliche Akteure") == "Dabei nehmen zivilgesellschaftliche Akteure"


def test_keeps_real_hyphens_before_conjunctions_and_capitals():
    assert join_lines("3. Städte-", "und Projektpartnerschaften") == "3. Städte- und Projektpartnerschaften"
    assert join_lines("für strategische Partner-", "Schaften") == "für strategische Partner- Schaften"


def test_bullet_glyphs_become_list_items():
    raw = ("Was wir den Akteuren in den Kommunen bieten:\n"
           "ÆÆ Beratung zu möglichen Projekten und Fachvorträge\n"
           "ÆÆ Zugang zu Netzwerken und kollegialer Beratung\n"
           " ●  Städte leisten einen zentralen Beitrag zur Völkerverständigung.\n")
    texts = _texts(raw)
    assert "• Beratung zu möglichen Projekten und Fachvorträge" in texts
    assert "• Zugang zu Netzwerken und kollegialer Beratung" in texts
    assert "• Städte leisten einen zentralen Beitrag zur Völkerverständigung." in texts
    assert not any("ÆÆ" in t or "●" in t for t in texts)


def test_footnote_markers_and_lines_and_urls_removed():
    raw = ("Bis zum Jahr 2050 wird sich dieser Anteil voraussichtlich auf rund 68 Prozent erhöhen.2 80 Prozent "
           "der Weltwirtschaftsleistung wird in den Städten erbracht.\n"
           "2 United Nations – Department of Economic and Social Affairs, Population Division (2018)\n"
           "https://skew.engagement-global.de/global-nachhaltige-kommune.html\n"
           "Die Agenda 2030 definiert 17 Ziele.\n")
    text = " ".join(_texts(raw))
    assert "erhöhen. 80 Prozent" in text
    assert "Städtefreundschaften organisieren" in " ".join(
        _texts("sowie Städtefreundschaften11 organisieren Städte Reisen.\n"))
    assert "United Nations" not in text
    assert "https://" not in text
    assert "Agenda 2030 definiert 17 Ziele" in text  # numbers that are not footnotes stay


def test_running_headers_and_page_numbers_removed():
    pages = [(i, f"Städte in der Welt\nInhalt der Seite {i} mit einem Satz.\n{i}") for i in range(1, 6)]
    blocks = clean_pages(pages)
    joined = " ".join(b.text for b in blocks)
    assert "Städte in der Welt" not in joined
    assert "Inhalt der Seite 3 mit einem Satz." in joined
    assert [p for b in blocks for _, p in b.page_breaks] == [1, 2, 3, 4, 5]


def test_ligatures_soft_hyphens_and_odd_spaces():
    assert normalize_chars("Ein\u00a0Beruf\u00adlicher ﬁnaler Ab\u200bschluss") == "Ein Beruflicher finaler Abschluss"


def test_comma_spacing_repaired():
    assert "Kooperation, Vernetzung und Austausch" in " ".join(
        _texts("Kooperation,Vernetzung und Austausch in und zwischen Kommunen bilden das Fundament.\n"))


def test_headings_become_sections():
    raw = ("Kommunen gewinnen an Bedeutung für die internationale Zusammenarbeit.\n"
           "Anerkennung und Förderung\n"
           "Kommunen und Initiativen gestalten Globalisierung. Sie sind wichtige Partner.\n")
    blocks = clean_pages([(1, raw)])
    heading = [b for b in blocks if b.kind == "heading"]
    assert [b.text for b in heading] == ["Anerkennung und Förderung"]
    assert blocks[-1].section == "Anerkennung und Förderung"


def test_markdown_headings_and_bold():
    blocks = clean_pages([(None, "## **Aufgaben und Ziele:**\n\nDer AKEZ **widmet** sich der KEZ.\n")], "markdown")
    assert blocks[0].kind == "heading" and blocks[0].text == "Aufgaben und Ziele"
    assert blocks[1].text == "Der AKEZ widmet sich der KEZ."
