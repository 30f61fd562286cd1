"""Chunking on the real Städtetag paper: token bounds, whole sentences/items, headings, offsets, pages."""
from __future__ import annotations

from pathlib import Path

import pytest

from assistant.core.settings import BUNDLED_CORPUS
from assistant.core.text import count_tokens, sentence_spans
from assistant.core.types import DocumentInfo
from ingest.chunk import chunk_document, document_text
from ingest.clean import clean_pages
from ingest.loaders import load

PAPER = BUNDLED_CORPUS / "dst-staedte-in-der-welt-2021.pdf"


@pytest.fixture(scope="module")
def paper():
    raw = load(PAPER)
    blocks = clean_pages(list(raw.pages))
    info = DocumentInfo("dst", "Städte in der Welt", PAPER.name, "position paper")
    return blocks, chunk_document(blocks, info, 200, 40)


def test_chunks_respect_token_bound(paper):
    _, chunks = paper
    assert len(chunks) > 20
    assert max(count_tokens(c.text) for c in chunks) <= 200


def test_chunks_are_exact_slices_of_the_cleaned_document(paper):
    blocks, chunks = paper
    text, _ = document_text(blocks)
    for c in chunks:
        assert text[c.char_start:c.char_end] == c.text


def test_no_sentence_or_list_item_is_cut(paper):
    """Every chunk starts and ends at a block or sentence boundary of the cleaned document."""
    blocks, chunks = paper
    _, starts = document_text(blocks)
    ok_starts, ok_ends = set(), set()
    for b, s0 in zip(blocks, starts):
        ok_starts.add(s0)
        ok_ends.add(s0 + len(b.text))
        for a, e in sentence_spans(b.text):
            ok_starts.add(s0 + a)
            ok_ends.add(s0 + e)
    text, _ = document_text(blocks)
    overlong = [(s0 + a, s0 + e) for b, s0 in zip(blocks, starts) for a, e in sentence_spans(b.text)
                if count_tokens(b.text[a:e]) > 200]  # only these may be cut at word boundaries
    for c in chunks:
        if any(a <= c.char_start < e or a < c.char_end <= e for a, e in overlong):
            continue
        assert c.char_start in ok_starts, c.text[:80]
        assert c.char_end in ok_ends, c.text[-80:]


def test_heading_stays_with_its_body(paper):
    _, chunks = paper
    for c in chunks:
        assert c.text.split("\n\n")[-1] != c.section or len(c.text.split("\n\n")) == 1


def test_the_eleven_handlungsfelder_stay_together(paper):
    _, chunks = paper
    holder = [c for c in chunks if "2. Städtediplomatie" in c.text]
    assert holder and "10. Akquise von Fördermitteln" in holder[0].text


def test_pages_are_tracked_per_quote(paper):
    _, chunks = paper
    c = next(c for c in chunks if "Städtediplomatie meint die Pflege von Außenbeziehungen" in c.text)
    assert c.page_at(c.text.index("Städtediplomatie meint")) == 5
    assert all(c.page_start and c.page_end and c.page_start <= c.page_end for c in chunks)
    assert chunks[-1].page_end == 26


def test_chunk_ids_are_stable_and_change_with_what_is_stored(paper):
    blocks, chunks = paper
    again = chunk_document(blocks, DocumentInfo("dst", "Städte in der Welt", PAPER.name, "position paper"), 200, 40)
    assert [c.chunk_id for c in chunks] == [c.chunk_id for c in again]
    # the id hashes the stored record: new catalogue data means a new chunk, never a stale one
    retitled = chunk_document(blocks, DocumentInfo("dst", "Städte in der Welt (2021)", PAPER.name,
                                                   "position paper"), 200, 40)
    assert not {c.chunk_id for c in chunks} & {c.chunk_id for c in retitled}


def test_bundled_pdfs_exist():
    assert len(list(Path(BUNDLED_CORPUS).glob("*.pdf"))) == 5
