"""How well a text covers a question's terms: idf-weighted, with typos, compounds and synonyms
already resolved by `query.analyze`. Shared by the features of passages and sentences and by the gate."""
from __future__ import annotations

import re
from functools import lru_cache

from assistant.query import Query
from assistant.core.text import keyword_terms
from assistant.core.types import Passage


@lru_cache(maxsize=16384)
def terms_of(text: str) -> frozenset[str]:
    """Stemmed term set of a text; cached because every question reads the same passages."""
    return frozenset(keyword_terms(text))


def source_terms(p: Passage) -> frozenset[str]:
    """Terms that name a passage's document (title, publisher, year) rather than its content."""
    return terms_of(f"{p.title} {p.publisher} {p.year or ''}")


def covered(t: str, terms: frozenset[str] | set[str], alternatives: tuple[frozenset[str], ...] = ()) -> float:
    """How well a stemmed query term is matched: 1 for the same stem or a synonym/abbreviation whose
    terms all occur; 0.8 when it is part of a longer compound in the text (Partnerschaft →
    Städtepartnerschaft); for a query compound, the share of it spelled by text words it contains
    (Migrantenorganisation ← migrant + organisation); a hyphenated term by its parts."""
    if t in terms or any(alt <= terms for alt in alternatives):
        return 1.0
    if "-" in t:
        parts = [x for x in t.split("-") if x]
        return sum(1.0 if x in terms else covered(x, terms) for x in parts) / len(parts) if parts else 0.0
    if len(t) < 5:
        return 0.0
    if any(len(u) > len(t) and t in u for u in terms):
        return 0.8
    spelled = sum(len(u) for u in terms if 5 <= len(u) < len(t) and u in t)
    return min(spelled / len(t), 1.0) if spelled / len(t) >= 0.5 else 0.0


def term_weights(q: Query, idf: dict[str, float]) -> dict[str, float]:
    """Each query term's weight: its idf, doubled for a term found nowhere in the corpus (a place or
    name the documents never mention)."""
    return {t: idf.get(t, 1.0) * (2.0 if t in q.unknown else 1.0) for t in q.terms}


def weighted(terms: frozenset[str] | set[str], q: Query, idf: dict[str, float]) -> float:
    """idf-weighted share of the query's terms that `terms` cover (`term_weights`)."""
    weight = term_weights(q, idf)
    total = sum(weight.values())
    return sum(w * covered(t, terms, q.alternatives.get(t, ())) for t, w in weight.items()) / total if total else 0.0


def passage_coverage(q: Query, p: Passage, idf: dict[str, float]) -> float:
    """Share of the question's key terms that one passage (with its title and section) covers."""
    return weighted(source_terms(p) | terms_of(p.section) | terms_of(p.text), q, idf) if q.terms else 0.0


# What a question asks for, and what a sentence that answers it contains: a question for a date is
# not answered by a sentence without one (the general shape of factoid questions). Order matters:
# the first kind whose question pattern matches is the kind.
_DATE = re.compile(r"\b(1[89]\d\d|20\d\d)\b|\b(januar|februar|märz|april|mai|juni|juli|august|september|"
                   r"oktober|november|dezember)\b", re.I)
_NUMBER_WORDS = r"(zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|hundert|tausend|dutzend)"
ANSWER_TYPES: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    ("contact", re.compile(r"\b(telefon\w*|e-?mail\w*|adresse|kontaktdaten|phone|anschrift|erreiche ich)\b", re.I),
     re.compile(r"@|\+?\d[\d /-]{5,}\d|\b(str\.|straße)\b", re.I)),
    ("money", re.compile(r"\b(wie ?viel\w* (geld|euro|eur|mittel)|how much money|betrag|summe|budget|preisgeld|eigenanteil|"
                         r"zuschuss|fördersumme|kosten|wie hoch (ist|war|sind) (der|die|das) \w*(betrag|anteil|"
                         r"summe|budget|förderung|zuschuss|preisgeld))\b", re.I),
     re.compile(r"\d[\d.,]*\s*(euro|€|eur\b|mio|millionen|milliarden|prozent|%)|\b(euro|prozent)\b", re.I)),
    # money for something, not an amount: "Wer bezahlt das?", "Gibt es dafür Geld?"; answered by a sentence
    # about funding (a means, a programme, who pays), which may well use the question's own word for it
    ("funding", re.compile(r"\b(wer (bezahlt|finanziert|zahlt|trägt die kosten|fördert)|gibt es (\w+ ){0,2}(geld|mittel|"
                           r"fördermittel|förderung|zuschüsse|zuschuss|finanzierung)|(geld|fördermittel|förderung|"
                           r"zuschüsse|finanzierung) (gibt es|bekomm\w*|beantrag\w*)|who pays|funding)\b", re.I),
     re.compile(r"\b(förderung\w*|fördermittel\w*|förderprogramm\w*|finanzier\w*|finanziell\w*|geld\w*|mittel|"
                r"mitteln|zuschuss\w*|zuschüsse\w*|kosten(?!frei|los)\w*|budget\w*|euro|spenden|bezahl\w*|"
                r"ressourcen)\b", re.I)),
    ("frequency", re.compile(r"\b(wie oft|wie häufig|in welchem (rhythmus|turnus)|how often)\b", re.I),
     re.compile(r"\b(jährlich|halbjährlich|monatlich|wöchentlich|täglich|regelmäßig|alle \w+ jahre|\w+mal |"
                r"pro jahr|im jahr|jedes jahr)", re.I)),
    ("date", re.compile(r"\b(wann|seit wann|bis wann|in welchem jahr|when|since when|until when|frist|stichtag|"
                        r"deadline|datum|termin|due date)\b", re.I), _DATE),
    ("count", re.compile(r"\b(wie viele|wieviele|wie viel|wieviel|wie (groß|hoch|lang|lange|alt|weit|schwer|teuer)|"
                         r"how (many|much|big|large|long|old|far)|anzahl|zahlen)\b", re.I),
     # a number, not a footnote mark run onto a word ("fertiggestellt.19")
     re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?!\w)|\b" + _NUMBER_WORDS + r"\b", re.I)),
    # a person: "Wer ist/leitet …?", the name of someone in a role ("Wie heißt die Leiterin?"); a question
    # that only mentions a role ("Was macht die Leiterin?") asks what she does. Answered by a role or a
    # name with its title
    ("person", re.compile(r"^\s*(wer (ist|war|leitet|führt)|who (is|was|leads|heads))\b|"
                          r"\b(wie hei(ß|ss)t|name\w*)\b.{0,30}\b(\w*präsident|\w*vorsitzend|leiter|geschäftsführer|"
                          r"koordinator|\w*bürgermeister|ansprechpart|kontaktperson)\w*|"
                          r"\b(\w*präsident|\w*vorsitzend|leiter|geschäftsführer|koordinator|\w*bürgermeister|"
                          r"ansprechpart|kontaktperson)\w*\b.{0,60}\b(mit )?namen\b", re.I),
     re.compile(r"\b(präsident\w*|vorsitz\w*|leiter\w*|geschäftsführ\w*|koordinator\w*|\w*bürgermeister\w*)\b|"
                r"\b(Dr\.|Prof\.|Herr|Frau)\s+[A-ZÄÖÜ]", re.I)),
    # a place: "Wo …?", "In welcher Stadt …?"; a sentence naming one has a preposition of place before a name
    ("place", re.compile(r"^\s*(wo|woher|wohin)\b|\b(in welche[mrn]? (stadt|land|staat|region|ort|gemeinde|kommune)|"
                         r"where)\b", re.I),
     re.compile(r"\b(in|im|aus|nach|bei|an der|am) (der |dem |den )?[A-ZÄÖÜ][\w-]+")),
]
# the documents are dated: a question about the present or the future asks beyond them
# a publisher stating its own position: demanding, advocating, recommending, or speaking as "wir"
# (general German vocabulary of declarations and position papers, not of one document)
VOICE = re.compile(
    r"\b(forder\w*|fordert|(auf)?gefordert\w*|setz\w* sich\b.{0,80}\bein|ersuch\w*|appellier\w*|sprich\w* sich|"
    r"sprechen sich|befürwort\w*|begrüß\w*|empfiehlt|empfehlen|plädier\w*|muss|müssen|sollte\w*|sollen|soll|bedarf|"
    r"notwendig\w*|erforderlich\w*|wir|unser\w*)\b", re.IGNORECASE)


# "heute" is no cue: it mostly sets the present against the past a text tells of ("das heute als
# Jacksonville bekannte Gebiet", "warum soll das heute wichtiger sein als früher?"), and in every question
# of our sets that used it the documents answered; "aktuell", "derzeit" ask for the current state
_NOW_OR_NEXT = re.compile(r"\b(aktuell\w*|derzeit\w*|zurzeit|momentan\w*|nächste\w*|kommende\w*|"
                          r"künftige\w*|currently|current|next|upcoming)\b", re.I)
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")


def asks_beyond(question: str, newest_year: int | None) -> bool:
    """The question asks about now or what comes next, or names a year after the newest document."""
    if _NOW_OR_NEXT.search(question):
        return True
    return newest_year is not None and any(int(y) > newest_year for y in _YEAR.findall(question))


# kinds whose answer may say the question's own word ("Gibt es Geld?" – "Geld gibt es von …")
_REPEATABLE = frozenset({"funding"})


def answer_in(typed: tuple[str, re.Pattern[str]], text: str, question: str) -> re.Match[str] | None:
    """The first span of `text` of the asked-for kind that the question does not already hold: a
    sentence that repeats the role asked about ("Wie heißt der Koordinator …?" → "Der Koordinator
    steuert …"), a number the question names ("Agenda 2030") or an item's numbering ("1. Der Ausschuss …")
    does not give what was asked (except for the kinds in _REPEATABLE)."""
    kind, has = typed
    asked = " ".join(question.lower().split())
    for m in has.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        numbering = not text[line_start:m.start()].strip() and text[m.end():m.end() + 1] in (".", ")")
        if not numbering and (kind in _REPEATABLE or " ".join(m.group(0).lower().split()) not in asked):
            return m
    return None


def answer_type(question: str) -> tuple[str, re.Pattern[str]] | None:
    """The kind of thing the question asks for (contact, money, funding, frequency, date, count, person, place) and
    the pattern a sentence answering it matches; None for open questions."""
    for name, asks, has in ANSWER_TYPES:
        if asks.search(question):
            return name, has
    return None
