"""The first stage of answering: what the question asks, in the corpus's vocabulary. Follow-ups
are resolved against the history, background sentences ("Ich bin neu im Büro für
Internationales …") are told apart from the question itself, documents the question names are
recognised, and the shape of the wanted answer (list, overview, several parts) is read off cue words.

Every cue list below is general German (or English) question grammar, not a list of topics."""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from functools import lru_cache

from assistant.chat import Condensed
from assistant.lexical import answer_type, asks_beyond
from assistant.query import Query, analyze, synonym_groups
from assistant.core.text import is_english, keyword_terms, sentence_spans, words

# "Welches/Welcher …" ask for one thing; "Welche …", "nenne …", plural nouns of enumeration ask for a list
# (the singular names one: "mit diesem Handlungsfeld", "ihre Forderung nach …"). Only the imperative of
# "nennen" asks for an enumeration: "Welches Instrument nennen die Leitfäden?" says where, and asks for one
_LIST_CUE = re.compile(
    r"\b(welche|welchen|nenne|nennen sie|nenn mir|liste\w*|aufz[äa]hl\w*|angebote|angeboten|handlungsfeldern?|"
    r"schwerpunkten?|aufgaben|ziele|ans[äa]tze|leits[äa]tze|forderungen|mehrwerte|vorteile|themen|bietet|bieten|which|list|offers?|"
    r"provides?)\b",
    re.IGNORECASE)
# a summary of a whole document, not one fact in it
_OVERVIEW_CUE = re.compile(
    r"\b(worum (geht|ging) es|wovon handel\w*|fasse\w* .{0,60}zusammen|zusammenfassung|überblick|kernaussagen|"
    r"hauptaussagen|was steht (alles )?(in|im)|summari[sz]e|overview|what is .{0,40} about)\b", re.IGNORECASE)
# a question for what the library holds: which documents there are (whole_documents must leave nothing else asked)
_LIBRARY_CUE = re.compile(
    r"\b(welche|was für|was fuer) (dokumente|papiere|texte|unterlagen|quellen|publikationen)\b|"
    r"\b(überblick|übersicht|liste) (über|der|aller) (die |alle |eure |deine )?(dokumente|papiere|texte|unterlagen|"
    r"quellen|bibliothek)\b|\b(which|what) (documents|papers|sources)\b", re.IGNORECASE)
# an overview is of a whole document: besides these words and the document's names, an overview question
# names nothing ("Was steht in der Erklärung zur Migration?" asks about migration, not for a summary)
_SUMMARY_WORDS = frozenset(keyword_terms(
    "worum geht ging es wovon handelt handeln fasse fass zusammen zusammenfassung kurzfassung überblick kernaussagen "
    "hauptaussagen was steht "
    "alles darin inhalt inhalte wesentlichen kurz kurzen knapp gib gebe geben mir uns einen summarize summary overview "
    "übersicht liste gibt es kennst hast habt enthält umfasst vorhanden verfügbar "
    "what is the about of this these give me brief short which do you have are there"))
_DOCUMENT_WORDS = frozenset(keyword_terms(
    "Papier Papiers Positionspapier Dokument Dokuments Dokumente Dokumenten Broschüre Servicebroschüre Erklärung "
    "Leitbild Leitbilds Flyer Faltblatt Beitrag Artikel Artikels Webartikel Bericht Berichts Leitfaden Studie "
    "Handreichung Text Texte Texten Unterlagen Bibliothek Quelle Quellen Publikation Publikationen paper document "
    "documents brochure declaration article report library source sources"))
# a question for a stance: what someone demands, wants, thinks or says about a matter
_POSITION_CUE = re.compile(
    r"\b(forder\w*|position\w*|haltung|standpunkt|stellung\w*|wie steh\w*|steh\w* .{0,60}\bzu\b|"
    r"was (sagt|sagen|meint|meinen|hält|halten|will|wollen|erwartet|erwarten|verlangt|verlangen|empfiehlt|empfehlen|"
    r"kritisiert|kritisieren|bemängelt|bemängeln)|sieht .{0,60}\b(rolle|chance|aufgabe)|"
    r"what (does|do) .{0,60}\b(say|demand|want|think|expect)|stance|demands?)\b", re.IGNORECASE)
# a question over several documents: what "the papers" say, each of them, compared
_DOCUMENTS_CUE = re.compile(
    r"\b(laut (den|allen|beiden) (dokumenten|papieren|texten|unterlagen)|in (den|allen|beiden) (dokumenten|papieren|"
    r"texten|unterlagen)|die (papiere|dokumente)|(mehreren|verschiedenen) (papieren|dokumenten)|jeweils|vergleich\w*|"
    r"unterschied\w*|according to the (documents|papers)|compare\w*|differen\w*)\b", re.IGNORECASE)
# words with which a question addresses the assistant's instructions instead of the documents
_INSTRUCTION_CUE = re.compile(
    r"\b(ignorier\w*|vergiss|vergessen sie|missachte\w*|ignore|disregard|forget)\b.{0,60}"
    r"\b(anweisung\w*|regeln|vorgaben|dokument\w*|instructions?|rules|documents?|prompt)\b|"
    r"\b(system ?prompt|systemanweisung|admin(istrator)?[- ]?(hinweis|notice|modus|mode)|jailbreak|"
    r"du bist (jetzt|nun|ab sofort)|you are now|neue anweisung\w*)\b|^\s*(system|admin)\s*:", re.IGNORECASE)
# a sentence that asks: a question mark, or an interrogative or imperative opening
_ASKS = re.compile(
    r"\?\s*$|^\s*(wer|wie|was|wo|wann|warum|weshalb|wieso|welche\w*|wozu|woher|wohin|womit|kann|können|"
    r"gibt|gibts|ist|sind|hat|haben|soll|sollen|muss|müssen|darf|dürfen|nenne\w*|erkl[äa]r\w*|fasse\w*|"
    r"beschreib\w*|liste\w*|zeig\w*|bitte|what|how|who|why|when|where|which|is|are|can|does|do)\b", re.IGNORECASE)
# "…, und wie viele davon …?": the second interrogative of a multi-part question
_SECOND_PART = re.compile(
    r"[,;]?\s+(?:und|sowie|and)\s+(?=(?:wer|wie|was|wo|wann|warum|weshalb|welche\w*|wozu|what|how|who|why|"
    r"when|where|which)\b)", re.IGNORECASE)


@dataclass(frozen=True)
class DocumentName:
    """A way users name one document: its publisher, an abbreviation, a synonym of either."""

    doc_id: str
    alias: str
    terms: frozenset[str]


@dataclass(frozen=True)
class Understood:
    """The question as the later stages need it."""

    question: str  # cleaned, as typed
    condensed: Condensed
    query: Query  # the question itself (typo-corrected, compounds split, synonyms)
    context: Query | None  # earlier turns a follow-up leans on
    retrieval: Query  # the standalone question: what both retrievers search for
    focus: str  # the asking sentences, without background about the asker
    focus_query: Query  # … analysed (= query when there is no background)
    parts: tuple[str, ...] = ()  # sub-questions of a multi-part question (empty: one part)
    named: frozenset[str] = frozenset()  # doc ids the question names
    summed_up: frozenset[str] = frozenset()  # an overview of these documents (by name or title; empty: by context)
    wants_list: bool = False
    wants_overview: bool = False
    wants_library: bool = False  # asks what the library holds ("Welche Dokumente gibt es?", "Überblick über die Dokumente")
    wants_position: bool = False  # asks what someone demands, wants or thinks
    wants_documents: bool = False  # asks across documents: names several, or "die Papiere", comparisons
    instruction: bool = False  # tries to change the assistant's instructions
    english: bool = False
    kind: str = ""  # answer type: contact, money, funding, frequency, date, count, person, place or ""
    beyond: bool = False  # asks about now, what comes next, or a year after the newest document

    @property
    def standalone(self) -> str:
        return self.condensed.standalone

    @property
    def focus_text(self) -> str:
        """The asking sentences, after the earlier turns a follow-up leans on."""
        return f"{self.condensed.context} – {self.focus}" if self.condensed.context else self.focus

    @property
    def reading_text(self) -> str:
        """What the reader reads as the question: the asking sentences first, then the earlier turns
        a follow-up leans on. The reader keeps a question's first tokens (its recipe's max_question),
        so what is asked now must come first; put last, a long first turn pushed it out entirely."""
        return f"{self.focus} – {self.condensed.context}" if self.condensed.context else self.focus

    def dense_text(self) -> str:
        """What the dense retriever embeds: the standalone question with abbreviations spelled out."""
        return f"{self.standalone} {self.retrieval.expansion}".strip()


def focus_of(question: str) -> str:
    """The sentences that ask, without those that only tell about the asker ("Wir sind ein kleiner
    Verein."). A question without any asking sentence is kept whole (keyword queries)."""
    spans = sentence_spans(question)
    if len(spans) < 2:
        return question
    asking = [question[a:e] for a, e in spans if _ASKS.search(question[a:e])]
    return " ".join(asking) if asking else question


def parts_of(focus: str) -> tuple[str, ...]:
    """Sub-questions: several asking sentences, or one sentence joined by "und" + interrogative."""
    sentences = [focus[a:e] for a, e in sentence_spans(focus)] or [focus]
    parts: list[str] = []
    for s in sentences:
        parts += [p.strip(" ,;") for p in _SECOND_PART.split(s) if len(words(p)) >= 3]
    return tuple(parts) if len(parts) > 1 else ()


@lru_cache(maxsize=65536)
def _aliases(doc_id: str, title: str, publisher: str) -> tuple[DocumentName, ...]:
    """Names of one document read from its catalogue entry: the publisher (up to the first comma or
    bracket), abbreviations in its title and publisher, and their synonyms (synonyms.json)."""
    names = set()
    lead = re.split(r"[(,]", publisher)[0].strip()
    if lead:
        names.add(lead)
    for src in (title, publisher):
        names.update(re.findall(r"\b[A-ZÄÖÜ]{2,6}\b", src))
    out = set(names)
    for group in synonym_groups():
        if any(n in group for n in names):
            out.update(group)
    return tuple(DocumentName(doc_id, a, frozenset(keyword_terms(a))) for a in sorted(out) if keyword_terms(a))


class DocumentNames:
    """All names of the library's documents, indexed by term: recognising the documents a question
    names costs a few lookups per question term, whatever the size of the library."""

    def __init__(self, names: Iterable[DocumentName], titles: dict[str, frozenset[str]] | None = None) -> None:
        self.names = tuple(names)
        self.titles = titles or {}  # doc id → the terms of its title
        self._by_term: dict[str, list[DocumentName]] = {}
        self._single: dict[str, set[str]] = {}  # one-word alias stem → doc ids (for compounds)
        for n in self.names:
            for t in n.terms:
                self._by_term.setdefault(t, []).append(n)
            if len(n.terms) == 1 and len(next(iter(n.terms))) >= 5:
                self._single.setdefault(next(iter(n.terms)), set()).add(n.doc_id)

    def words_of(self, docs: frozenset[str]) -> frozenset[str]:
        """The terms of the names and titles of `docs`."""
        return frozenset(t for n in self.names if n.doc_id in docs for t in n.terms).union(
            *(self.titles.get(d, frozenset()) for d in docs))

    def compound_of(self, term: str, docs: frozenset[str]) -> bool:
        """Whether `term` is a compound that starts with a one-word name of one of `docs` ("Städtetagspapier")."""
        return any(docs & self._single.get(term[:end], set()) for end in range(5, len(term) + 1))

    @property
    def stems(self) -> frozenset[str]:
        return frozenset(self._single)

    def named(self, question: str) -> frozenset[str]:
        """Documents the question names: every term of an alias occurs, or a one-word alias starts a
        compound of the question ("Städtetagspapier" names the Städtetag)."""
        terms = set(keyword_terms(question))
        hit: set[str] = set()
        for t in terms:
            for n in self._by_term.get(t, ()):
                if n.terms <= terms:
                    hit.add(n.doc_id)
            for end in range(5, len(t) + 1):
                hit |= self._single.get(t[:end], set())
        return frozenset(hit)


def document_names(docs: Iterable[tuple[str, str, str]]) -> DocumentNames:
    """All names of the library's documents and their titles' terms; `docs` are (doc_id, title, publisher)."""
    docs = list(docs)
    return DocumentNames((n for d in docs for n in _aliases(*d)), {d[0]: frozenset(keyword_terms(d[1])) for d in docs})


def whole_documents(focus: str, named: frozenset[str], names: DocumentNames) -> frozenset[str] | None:
    """What an overview question asks to sum up, or None when it asks about a matter in a document.
    Left of the question without summary and document words: nothing (the one its context points
    at: empty), the names and title words of the documents it names, or, none named, words of one
    title (which name that document when the question says it means a document or gives two)."""
    terms = set(keyword_terms(focus))
    rest = {t for t in terms - _SUMMARY_WORDS - _DOCUMENT_WORDS
            if not ("-" in t and all(x in terms for x in t.split("-")))}  # a compound's parts count alone
    if named or not rest:
        words = names.words_of(named)
        return named if not {t for t in rest if t not in words and not names.compound_of(t, named)} else None
    if not (terms & _DOCUMENT_WORDS or len(rest) >= 2):
        return None
    return frozenset(d for d, title in names.titles.items() if rest <= title) or None


def understand(question: str, condensed: Condensed, vocab: Collection[str],
               names: DocumentNames | None = None, newest_year: int | None = None) -> Understood:
    """Analyse a cleaned question once for every later stage (typo search included)."""
    focus = focus_of(condensed.question)
    retrieval = analyze(condensed.standalone, vocab)
    query = analyze(condensed.question, vocab) if condensed.context else retrieval
    focus_query = analyze(focus, vocab) if focus != condensed.question else query
    context = analyze(condensed.context, vocab) if condensed.context else None
    kind = answer_type(focus)
    names = names or DocumentNames(())
    named = names.named(condensed.standalone)
    # a compound of a document's name ("Städtetagspapier") names that document, not something unknown
    stems = names.stems
    known = lambda q: replace(q, unknown=frozenset(t for t in q.unknown  # noqa: E731
                                                   if not any(t[:end] in stems for end in range(5, len(t) + 1))))
    query, focus_query = known(query), known(focus_query)
    overview_cue, library_cue = _OVERVIEW_CUE.search(focus), _LIBRARY_CUE.search(focus)
    whole = whole_documents(focus, named, names) if overview_cue or library_cue else None
    return Understood(
        question=question, condensed=condensed, query=query, context=context, retrieval=retrieval, focus=focus,
        focus_query=focus_query, beyond=asks_beyond(focus, newest_year),
        parts=parts_of(focus), named=named,
        wants_list=bool(_LIST_CUE.search(focus)), wants_overview=bool(overview_cue) and whole is not None,
        summed_up=whole or frozenset(),
        wants_library=whole == frozenset() and bool(library_cue or (overview_cue and _DOCUMENTS_CUE.search(focus))),
        wants_position=bool(_POSITION_CUE.search(focus)),
        # the form asked for may stand in a sentence that does not ask ("Ich hätte gern Belege aus mehreren Papieren.")
        wants_documents=len(named) >= 2 or bool(_DOCUMENTS_CUE.search(condensed.question)),
        instruction=bool(_INSTRUCTION_CUE.search(question)), english=is_english(question),
        kind=kind[0] if kind else "")
