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
    assert join_lines("im Vorfeld der UN-", "Klimakonferenzen") == "im Vorfeld der UN-Klimakonferenzen"
    assert join_lines("im Sinne der Multilevel-", "Governance") == "im Sinne der Multilevel-Governance"
    assert join_lines("Lokale-Agenda-21-", "Prozesse") == "Lokale-Agenda-21-Prozesse"
    assert join_lines("Ost-", "oder Westdeutschland") == "Ost- oder Westdeutschland"


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


def test_footnotes_leave_the_body_and_become_blocks_of_their_own():
    raw = ("Bis zum Jahr 2050 wird sich dieser Anteil voraussichtlich auf rund 68 Prozent erhöhen.2 80 Prozent "
           "der Weltwirtschaftsleistung wird in den Städten erbracht.\n"
           "2 United Nations – Department of Economic and Social Affairs, Population Division (2018)\n"
           "https://skew.engagement-global.de/global-nachhaltige-kommune.html\n"
           "Die Agenda 2030 definiert 17 Ziele.\n")
    blocks = clean_pages([(4, raw)])
    body = " ".join(b.text for b in blocks if b.kind != "footnote")
    notes = [b for b in blocks if b.kind == "footnote"]
    assert "erhöhen. 80 Prozent" in body
    assert "Städtefreundschaften organisieren" in " ".join(
        _texts("sowie Städtefreundschaften11 organisieren Städte Reisen.\n"))
    assert "United Nations" not in body and "https://" not in body
    assert "Agenda 2030 definiert 17 Ziele" in body  # numbers that are not footnotes stay
    assert notes[0].text.startswith("Fußnote 2: United Nations – Department of Economic and Social Affairs")
    assert notes[0].page_breaks == ((0, 4),)
    assert 2 in next(b for b in blocks if "erhöhen" in b.text).footnotes  # the marker stays linked


def test_a_footnote_goes_on_over_capitalised_lines_and_a_page_break():
    page7 = ("Der Ausschuss berät den Rat.\n"
             "1  Förmliche Städtepartnerschaften beruhen auf einer schriftlichen Vereinbarung\n"
             "Vereinbarung, sind jedoch zeitlich begrenzt.\n"
             "Projektpartnerschaften werden eingegangen, um ein Vorhaben umzusetzen.\n\n"
             "Weiter im Text.\n"
             "2  Vgl. Beschluss des Ausschusses vom 7.\n")
    page8 = "Juni 2010 zur Umsetzung des Beschlusses.\n\nDer Text geht weiter.\n"
    blocks = clean_pages([(7, page7), (8, page8)])
    body = " ".join(b.text for b in blocks if b.kind != "footnote")
    notes = {b.text.split(":")[0]: b for b in blocks if b.kind == "footnote"}
    assert "Projektpartnerschaften werden eingegangen" in notes["Fußnote 1"].text
    assert notes["Fußnote 2"].text.endswith("vom 7. Juni 2010 zur Umsetzung des Beschlusses.")
    assert "Juni 2010" not in body and "Projektpartnerschaften" not in body
    assert "Weiter im Text." in body and "Der Text geht weiter." in body


def test_a_caption_never_runs_into_the_next_sentence():
    raw = ("Die Partnerstädte der Stadt Mannheim (Foto: Stadt Mannheim) Städte sind Orte nationaler und "
           "kultureller Vielfalt.\n")
    blocks = clean_pages([(3, raw)])
    assert [(b.kind, b.text) for b in blocks] == [
        ("caption", "Die Partnerstädte der Stadt Mannheim (Foto: Stadt Mannheim)"),
        ("paragraph", "Städte sind Orte nationaler und kultureller Vielfalt.")]


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


def test_web_page_chrome_is_removed_and_the_title_becomes_the_heading():
    raw = ("BannerbildBannerbildBannerbildGemeinschaftswerk \nNachhaltigkeitBannerbildBannerbild\n"
           "Link zur Seite versenden   Druckansicht öffnen\n \n"
           "Lokal handeln, global wirken: BMZ fördert kommunales Engagement in der \nEntwicklungszusammenarbeit\n"
           "In einer aktuellen Broschüre zum Thema benennt das Bundesministerium für \n"
           "wirtschaftliche Zusammenarbeit und Entwicklung (BMZ) als Ziele:\n")
    title = "Lokal handeln, global wirken: BMZ fördert kommunales Engagement in der Entwicklungszusammenarbeit"
    blocks = clean_pages([(1, raw)], title=title)
    joined = " ".join(b.text for b in blocks)
    assert "Bannerbild" not in joined and "Link zur Seite" not in joined and "Druckansicht" not in joined
    assert any(b.kind == "heading" and b.text == title for b in blocks)
    body = next(b for b in blocks if b.text.startswith("In einer aktuellen Broschüre"))
    assert body.section == title  # the first paragraph is no longer glued to the title


def test_title_line_of_a_declaration_is_a_heading():
    raw = ("Erklärung der 10. Bundeskonferenz der Kommunen und Initiativen, Hamburg 2006\n"
           "Die Vertreterinnen und Vertreter aus kommunaler Verwaltung und Politik,\n"
           "Spitzenverbänden, Nichtregierungsorganisationen und Wissenschaft stellen fest.\n")
    title = "Kommunen gestalten Globalisierung – Erklärung der 10. Bundeskonferenz der Kommunen und Initiativen"
    blocks = clean_pages([(1, raw)], title=title)
    assert blocks[0].kind == "heading" and blocks[0].text.endswith("Hamburg 2006")
    assert blocks[1].text.startswith("Die Vertreterinnen und Vertreter")


def test_broken_url_fragments_are_dropped_and_real_slashes_kept():
    raw = ("buero_fuer_internationale_beziehungen/dortmund_und_globale_staedte_diplomatie/ index.html\n"
           "und-internationale-kontakte/Staedtefreundschaften/Pomerode-/\n\n"
           "gedenken-zum-kriegsende-der-blick-auf-afrika-im-zweiten-weltkrieg Internationale Entwicklungen "
           "und Vereinbarungen sind für alle städtischen Bereiche von Bedeutung.\n\n"
           "Projektpartnerschaften werden eingegangen, um ein gemeinsames Vorhaben umzusetzen "
           "(s. www.rgre.de/ partnerschaft/datenbank/).\n\n"
           "Die Datenbank steht unter www.rgre.de/\npartnerschaft/datenbank/ bereit.\n\n"
           "Seit Langem bestehen enge Kontakte zwischen Karlsruhe/Baden-Württemberg und der indischen "
           "Region Pune/ Maharashtra.\n")
    text = " ".join(_texts(raw))
    assert "buero_fuer" not in text and "index.html" not in text and "Pomerode-/" not in text
    assert "weltkrieg" not in text
    assert "Internationale Entwicklungen und Vereinbarungen sind für alle" in text
    assert "(s. www.rgre.de/partnerschaft/datenbank/)" in text
    assert "unter www.rgre.de/partnerschaft/datenbank/ bereit" in text  # a URL wrapped after a slash
    assert "Karlsruhe/Baden-Württemberg" in text and "Pune/ Maharashtra" in text


def test_two_footnote_markers_on_one_spot():
    raw = ("Als „Kommunale Entwicklungspolitik“ (KEPol) werden alle Mittel und Maßnahmen der Kommunen "
           "verstanden, die die global nachhaltige Entwicklung in Partnerkommunen im Globalen Süden "
           "fördern.17 18 Diese Förderung kann direkter oder indirekter Art sein.\n")
    text = " ".join(_texts(raw))
    assert "im Globalen Süden fördern. Diese Förderung kann" in text
    assert "Jahr 2020. 18 Städte nahmen teil." in " ".join(_texts("Im Jahr 2020. 18 Städte nahmen teil.\n"))


def test_stand_alone_heading_blocks_and_wrapped_first_lines():
    raw = ("Die Agenda 2030 als kommunaler\nHandlungsrahmen am Beispiel der Stadt Bonn\n\n"
           "Mit der Unterzeichnung der Musterresolution zur Agenda 2030 hat die Stadt Bonn wesentliche\n"
           "Grundlagen geschaffen.\n\n"
           "Dieses Engagement möchte die Servicestelle\nKommunen in der Einen Welt (SKEW) stärken und\n"
           "sichtbar machen. Hierzu unterstützen wir eine enge\nZusammenarbeit von Kommunalverwaltungen,\n"
           "Kommunalpolitik, migrantischen Organisationen und\nEine-Welt-Vereinen.\n\n"
           "Die Partnerstädte der Stadt Mannheim (Foto: Stadt Mannheim)\n\n"
           "I T I E SC\n\n"
           "Die Stadt Mannheim lud 2020 all ihre Partnerstädte zu einem virtuellen Gipfel ein.\n")
    blocks = clean_pages([(1, raw)])
    headings = [b.text for b in blocks if b.kind == "heading"]
    assert headings == ["Die Agenda 2030 als kommunaler Handlungsrahmen am Beispiel der Stadt Bonn"]
    assert any(b.text.startswith("Dieses Engagement möchte die Servicestelle Kommunen") for b in blocks)
    assert any(b.kind == "caption" and "(Foto: Stadt Mannheim)" in b.text for b in blocks)
    assert not any("I T I E" in b.text for b in blocks)  # letter-spaced logo text


def test_list_items_split_by_layout_are_rejoined_and_lead_ins_stay_apart():
    raw = ("ÆÆ Zugang zu Netzwerken und kollegialer Beratung\n"
           "ÆÆ Bestandsaufnahme der migrantischen und wei-\n\n"
           "teren entwicklungspolitischen Akteure in Ihrer\nKommune\n\n"
           "ÆÆ Vermittlung von Beratung zur interkulturellen\n\n"
           "Öffnung der kommunalen Entwicklungspolitik\nin Nordrhein-Westfalen (über www.miglobe.de)\n\n"
           "ÆÆ Bereitstellung von Studien und Fachbeiträgen\n\n"
           "Printprodukte (Auswahl), die Sie kostenfrei\nbei uns bestellen oder herunterladen können:\n\n"
           "ÆÆ Dialog Global Nr. 22: Migration und Entwicklung\nauf lokaler Ebene – Ein Praxisleitfaden\n")
    blocks = clean_pages([(1, raw)])
    items = [b.text for b in blocks if b.kind == "item"]
    assert "• Bestandsaufnahme der migrantischen und weiteren entwicklungspolitischen Akteure in Ihrer Kommune" \
        in items
    assert ("• Vermittlung von Beratung zur interkulturellen Öffnung der kommunalen Entwicklungspolitik in "
            "Nordrhein-Westfalen (über www.miglobe.de)") in items
    assert "• Bereitstellung von Studien und Fachbeiträgen" in items
    assert any(b.kind == "paragraph" and b.text.startswith("Printprodukte (Auswahl)") for b in blocks)
    assert len(items) == 5


def test_paragraph_breaks_and_list_ends_survive_pdf_extraction():
    """The rendered Städtetag PDF: the 11th Handlungsfeld and the next heading stay apart."""
    from assistant.core.settings import BUNDLED_CORPUS
    from ingest.loaders import load

    raw = load(BUNDLED_CORPUS / "dst-staedte-in-der-welt-2021.pdf")
    blocks = clean_pages(list(raw.pages))
    texts = [b.text for b in blocks]
    assert "11. Protokoll und Repräsentation" in texts
    assert any(b.kind == "heading" and b.text == "Zusammenfassung" for b in blocks)
    vorwort = [b for b in blocks if b.section == "Vorwort" and b.kind == "paragraph"]
    assert len(vorwort) >= 4  # the foreword's paragraphs are separate blocks, not one run-on text
