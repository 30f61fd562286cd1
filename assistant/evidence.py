"""Evidence for an answer, scored by meaning and by words: the fused candidates are re-ranked by a
fitted passage model that also sees their best sentences, and every sentence of the best passages
gets a fitted probability of answering the question. The features are named here; their weights
live in assistant/data/weights.json (fitted by `python -m evals.fit`)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from assistant.lexical import (VOICE, answer_in, answer_type, covered, passage_coverage, source_terms, term_weights,
                               terms_of, weighted)
from assistant.query import Query
from assistant.core.text import stopwords, words
from assistant.core.types import Passage
from assistant.understand import Understood
from assistant.weights import Weights

PASSAGE_FEATURES = (
    "fused",  # weighted fusion score of dense and keyword retrieval (0..1)
    "dense",  # cosine of question and chunk
    "keyword",  # BM25 score over the best BM25 score of this question
    "rank",  # 1 / (1 + rank in the fused order)
    "sent_max",  # cosine of the question and the chunk's closest sentence
    "sent_max_rel",  # … minus the best such cosine among all candidates
    "sent_top2",  # mean cosine of the two closest sentences
    "coverage",  # idf-weighted share of the question's terms the chunk covers
    "named",  # +1: its document is named in the question, -1: other documents are named, 0: none are
    "list_match",  # the question asks for a list and the chunk holds one (two or more items)
)
SENTENCE_FEATURES = (
    "cos",  # cosine of question and sentence
    "cos_rel",  # … minus the best sentence cosine for this question
    "part_cos",  # best cosine to one part of a multi-part question (= cos for one-part questions)
    "focus_cos",  # cosine to the asking sentences alone (= cos when the question tells no background)
    "lexical",  # share of the asking sentences' terms in the sentence, the heading above it, its document's name
    "context",  # share of a follow-up's earlier terms in the sentence and its section
    "passage",  # relevance of the sentence's passage (passage model)
    "neighbour",  # best cosine of the sentences right before and after it
    "heading_cos",  # cosine of the heading it stands under in its chunk (0 when there is none)
    "item",  # it is a list item
    "heading",  # it does not end like a sentence (heading, caption, fragment)
    "short",  # fewer than six words
    "fragment",  # starts in lower case: the tail of a sentence cut at the chunk's start
    "typed",  # the question asks for a date/amount/… and the sentence has one
    "list_match",  # the question asks for a list and this is a list item or the line leading into a list
    "local",  # share of the asking sentences' terms in the sentence, each weighed by how few of the read
    #           sentences hold it (within the passages read, a term found everywhere tells nothing)
    "window",  # the same share counted over the sentence and the one before it (a subject named just before)
    "grams",  # share of the question's letter 4-grams in the sentence: word forms Snowball stems apart
    #           (eingebürgert / Einbürgerung)
    "voice",  # the question asks for a position and the sentence states one in its publisher's voice
    #           (fordert, setzt sich ein, empfiehlt, wir …: lexical.VOICE) rather than telling an example
)
READER_FEATURES = (
    "reader",  # the reader's logit that the sentence answers (read sentences; the rest: one below the lowest read)
    "reader_gap",  # … minus the best logit of the question (0 for the reader's choice)
)
GATE_FEATURES = (
    "relevance",  # best passage relevance
    "dense",  # best chunk cosine
    "coverage",  # best share of the asking sentences' key terms in one passage (history included)
    "unknown",  # idf-weighted share of the asking sentences' terms that name something the corpus never mentions
    "typed_gap",  # it asks for a date/amount/…: 1 − how well the best sentence with one covers the question
    "beyond",  # it asks about now, what comes next, or a year after the newest document
    "english",  # asked in English (cross-lingual similarities run lower)
    "sentence",  # probability of the likeliest sentence (sentence model)
    "sentence_cos",  # cosine of the closest sentence
    "sentence_cover",  # best share of the asking sentences' terms in one sentence with the one before it
)
READER_GATE_FEATURES = GATE_FEATURES + (
    "reader",  # the reader's best logit: can anything read here answer? (> 0: likelier than "nothing here")
)


@dataclass(frozen=True)
class Candidate:
    """A fused retrieval candidate with what re-ranking needs: its sentences and their vectors."""

    passage: Passage
    fused: float
    keyword: float
    spans: tuple[tuple[int, int, bool], ...]
    vectors: np.ndarray  # one row per span


class ReaderScores:
    """The reader's logits for one question, each sentence read once (a fit tries many weights on the
    same question, and a sentence read for one draft is not read again for the next)."""

    def __init__(self, question: str, score: Callable[[str, list[str]], np.ndarray]) -> None:
        self.question, self._score = question, score
        self._cache: dict[str, float] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, map(float, self._score(self.question, missing))))
        return np.asarray([self._cache[t] for t in texts], dtype=np.float64)


@dataclass(frozen=True)
class Pool:
    """Everything retrieval found for one question, before any fitted weight is applied (fitting
    computes it once per question and tries many weights on it)."""

    candidates: list[Candidate]
    qvec: np.ndarray
    part_vecs: list[np.ndarray]
    idf: dict[str, float]
    fvec: np.ndarray | None = None  # the asking sentences alone, when the question also tells background
    reader: ReaderScores | None = None  # the fitted reader, when it runs here


@dataclass(frozen=True)
class Sentence:
    """A sentence or list item of a ranked passage, with its probability of answering."""

    passage: Passage
    rank: int  # of its passage
    index: int  # position among its passage's units
    start: int
    end: int
    is_item: bool
    cos: float
    prob: float = 0.0

    @property
    def text(self) -> str:
        return self.passage.text[self.start:self.end]

    @property
    def words(self) -> int:
        return len(words(self.text))


@dataclass(frozen=True)
class Evidence:
    """Ranked passages (relevance set) and the scored sentences of the best of them."""

    passages: tuple[Passage, ...]
    sentences: tuple[Sentence, ...]
    gate_features: np.ndarray
    idf: dict[str, float] = field(default_factory=dict)  # of the question's terms (for cutting long sentences)
    read: bool = False  # the reader scored the sentences: the gate features end with its column


def _ends_sentence(text: str) -> bool:
    return text.rstrip()[-1:] in ".!?:;…“”\"')]" if text.strip() else False


def passage_matrix(u: Understood, cands: list[Candidate], qvec: np.ndarray, idf: dict[str, float]) -> np.ndarray:
    """One row of PASSAGE_FEATURES per candidate (in fused order)."""
    if not cands:
        return np.zeros((0, len(PASSAGE_FEATURES)))
    best_kw = max((c.keyword for c in cands), default=0.0) or 1.0
    sims = [np.sort(c.vectors @ qvec)[::-1] if len(c.vectors) else np.zeros(1) for c in cands]
    best_sent = max(float(s[0]) for s in sims)
    rows = []
    for i, (c, s) in enumerate(zip(cands, sims)):
        named = 0.0 if not u.named else (1.0 if c.passage.doc_id in u.named else -1.0)
        has_list = sum(item for _, _, item in c.spans) >= 2
        rows.append([c.fused, c.passage.score, c.keyword / best_kw, 1.0 / (1 + i), float(s[0]),
                     float(s[0]) - best_sent, float(s[:2].mean()), passage_coverage(u.retrieval, c.passage, idf),
                     named, float(u.wants_list and has_list)])
    return np.asarray(rows, dtype=np.float64)


def rank_passages(cands: list[Candidate], relevance: np.ndarray) -> list[tuple[Candidate, float]]:
    """Candidates by relevance (stable: ties keep the fused order)."""
    order = sorted(range(len(cands)), key=lambda i: -relevance[i])
    return [(replace(cands[i], passage=replace(cands[i].passage, relevance=float(relevance[i]))),
             float(relevance[i])) for i in order]


def distinct(ranked: list[tuple[Candidate, float]], max_shared: float = 0.5) -> list[tuple[Candidate, float]]:
    """Drop passages that mostly repeat better-ranked ones (overlapping chunks share sentences), so
    the places read hold different evidence. Half shared is "mostly": the chunk overlap is far less."""
    seen: set[str] = set()
    out = []
    for c, r in ranked:
        sentences = {c.passage.text[a:e] for a, e, _ in c.spans if e - a > 20}
        if sentences and len(sentences & seen) / len(sentences) > max_shared:
            continue
        seen |= sentences
        out.append((c, r))
    return out


# documents that speak in one answer across documents: one line each still fits the answer's budget
MAX_DOCUMENTS = 4


def speakers(u: Understood, ranked: list[tuple[Candidate, float]], read: int) -> list[str]:
    """The documents that each speak in an answer across documents: those named, else those of the
    first `read` passages when the question asks what "the papers" say (at most MAX_DOCUMENTS);
    none for a question about one matter."""
    if len(u.named) >= 2:
        docs = [d for d in sorted(u.named) if any(c.passage.doc_id == d for c, _ in ranked)]
    elif u.wants_documents:
        docs = list(dict.fromkeys(c.passage.doc_id for c, _ in ranked[:read]))
    else:
        docs = []
    return docs[:MAX_DOCUMENTS] if len(docs) >= 2 else []


def reading_order(u: Understood, ranked: list[tuple[Candidate, float]],
                  read: int) -> tuple[list[tuple[Candidate, float]], int]:
    """The ranked passages in the order they are read, and how many are read. A question across
    documents (it names several, or asks what "the papers" say) hears each of them: the speaking
    documents (those named, else those of the first `read` passages, at most MAX_DOCUMENTS) take
    turns by their own best passages, `read` passages plus one for each further document, so every
    one is read where it speaks best and not only where the question's words for all of them
    match (the best passage of a second document ranked 2nd to 4th within it for most such
    questions). The passages read keep their relevance order."""
    docs = speakers(u, ranked, read)
    if len(docs) < 2:
        return ranked, read
    size = read + len(docs) - 1
    queues = {d: [i for i, (c, _) in enumerate(ranked) if c.passage.doc_id == d] for d in docs}
    chosen: set[int] = set()
    turn = 0
    while len(chosen) < size and any(queues.values()):
        q = queues[docs[turn % len(docs)]]
        if q:
            chosen.add(q.pop(0))
        turn += 1
    head = [ranked[i] for i in sorted(chosen)]
    return head + [x for i, x in enumerate(ranked) if i not in chosen], len(head)


def sentence_matrix(u: Understood, ranked: list[tuple[Candidate, float]], pool: Pool) -> tuple[list[Sentence], np.ndarray]:
    """The sentences of the ranked passages and one row of SENTENCE_FEATURES each."""
    qvec, part_vecs, idf = pool.qvec, pool.part_vecs, pool.idf
    fvec = pool.fvec if pool.fvec is not None else qvec
    out: list[Sentence] = []
    rows: list[list[float]] = []
    q, ctx = u.focus_query, u.context
    typed = answer_type(u.focus)
    all_cos = [c.vectors @ qvec if len(c.vectors) else np.zeros(0) for c, _ in ranked]
    best = max((float(s.max()) for s in all_cos if len(s)), default=0.0)
    for rank, ((c, rel), cos) in enumerate(zip(ranked, all_cos)):
        parts = [c.vectors @ v for v in part_vecs] if part_vecs and len(c.vectors) else []
        fcos = c.vectors @ fvec if len(c.vectors) else cos
        p = c.passage
        section = terms_of(p.section)
        heading, heading_terms = 0.0, frozenset[str]()
        for j, (a, e, item) in enumerate(c.spans):
            text = p.text[a:e]
            t = terms_of(text)
            n = len(words(text))
            before = float(cos[j - 1]) if j > 0 else float(cos[j])
            after = float(cos[j + 1]) if j + 1 < len(cos) else float(cos[j])
            rows.append([
                float(cos[j]), float(cos[j]) - best, max([float(x[j]) for x in parts], default=float(cos[j])),
                float(fcos[j]), weighted(t | heading_terms | source_terms(p), q, idf) if q.terms else 0.0,
                weighted(t | section, ctx, idf) if ctx is not None and ctx.terms else 0.0,
                rel, max(before, after), heading, float(item), float(not item and not _ends_sentence(text)), float(n < 6),
                float(text[:1].islower()),
                float(typed is not None and answer_in(typed, text, u.focus) is not None),
                float(u.wants_list and (item or (j + 1 < len(c.spans) and c.spans[j + 1][2]))),
            ])
            out.append(Sentence(p, rank, j, a, e, item, float(cos[j])))
            if not item and not _ends_sentence(text) and n <= 12:
                heading, heading_terms = float(cos[j]), t  # what follows stands under this heading
    local = local_coverage(q, out, idf)
    grams = letter_grams(u.focus)
    for row, s, (loc, win) in zip(rows, out, local):
        row += [loc, win, len(grams & letter_grams(s.text)) / len(grams) if grams else 0.0,
                float(u.wants_position and bool(VOICE.search(s.text)))]
    return out, np.asarray(rows, dtype=np.float64).reshape(len(rows), len(SENTENCE_FEATURES))


def local_coverage(q: Query, sents: list[Sentence], idf: dict[str, float]) -> list[tuple[float, float]]:
    """Per sentence, the idf-weighted share of the question's terms it covers, each term also
    weighed by its inverse frequency among the sentences read (log((N + 1) / (1 + n)), the usual
    idf over this small collection); and the same over the sentence with the one before it."""
    terms = list(dict.fromkeys(q.terms))
    if not terms or not sents:
        return [(0.0, 0.0)] * len(sents)
    cov = np.asarray([[covered(t, terms_of(s.text), q.alternatives.get(t, ())) for t in terms] for s in sents])
    local_idf = np.log((len(sents) + 1) / (1 + (cov > 0).sum(0)))
    weight = local_idf * np.asarray([idf.get(t, 1.0) * (2.0 if t in q.unknown else 1.0) for t in terms])
    total = float(weight.sum())
    if total <= 0:
        return [(0.0, 0.0)] * len(sents)
    out = []
    for i, s in enumerate(sents):
        window = np.maximum(cov[i], cov[i - 1]) if i and sents[i - 1].passage is s.passage else cov[i]
        out.append((float(cov[i] @ weight) / total, float(window @ weight) / total))
    return out


def letter_grams(text: str, n: int = 4) -> frozenset[str]:
    """Letter n-grams of the content words (stop words and words under four letters left out)."""
    stop = stopwords()
    out: set[str] = set()
    for w in words(text.lower()):
        if len(w) >= 4 and w not in stop:
            w = f"#{w}#"
            out.update(w[i:i + n] for i in range(len(w) - n + 1))
    return frozenset(out)


def _with_context(q: Query, ctx: Query | None) -> Query:
    """A follow-up leans on its history for the topic words."""
    if ctx is None or not ctx.terms:
        return q
    return Query(q.text, tuple(dict.fromkeys(q.terms + ctx.terms)), {**ctx.alternatives, **q.alternatives},
                 q.unknown | ctx.unknown)


def unknown_share(q: Query, idf: dict[str, float]) -> float:
    """How much of the question is about names the corpus never mentions, weighed as `weighted`
    weighs coverage: one unknown place among many known terms is a detail, three parties the documents
    never name are the question."""
    weight = term_weights(q, idf)
    total = sum(weight.values())
    return sum(w for t, w in weight.items() if t in q.unknown) / total if total else 0.0


def gate_row(u: Understood, ranked: list[tuple[Candidate, float]], sentences: list[Sentence],
             idf: dict[str, float], top: int = 5) -> np.ndarray:
    """GATE_FEATURES of one question."""
    head = ranked[:top]
    focus = _with_context(u.focus_query, u.context)
    coverage = max((passage_coverage(focus, c.passage, idf) for c, _ in head), default=0.0)
    typed = answer_type(u.focus)
    gap = 0.0
    if typed is not None:  # a sentence with a date says nothing unless it is about what was asked
        support = 0.0
        for i, s in enumerate(sentences):
            if answer_in(typed, s.text, u.focus) is not None:
                prev = sentences[i - 1].text if i and sentences[i - 1].passage is s.passage else ""
                terms = terms_of(s.text) | terms_of(prev) | terms_of(s.passage.section) | source_terms(s.passage)
                support = max(support, weighted(terms, focus, idf) if focus.terms else 0.0)
        gap = 1.0 - support
    window = max((w for _, w in local_coverage(focus, sentences, idf)), default=0.0)
    return np.asarray([
        max((r for _, r in head), default=0.0), max((c.passage.score for c, _ in head), default=0.0), coverage,
        unknown_share(u.focus_query, idf), gap, float(u.beyond), float(u.english),
        max((s.prob for s in sentences), default=0.0), max((s.cos for s in sentences), default=0.0), window],
        dtype=np.float64)


def reader_matrix(sentences: list[Sentence], first: np.ndarray, reader: ReaderScores, n: int,
                  docs: Sequence[str] = ()) -> np.ndarray:
    """READER_FEATURES of every sentence: the reader reads the `n` the first-stage sentence model
    rates highest (reading all of five passages' sentences would cost a second per question); in an
    answer across documents (`docs`, evidence.speakers) the likeliest half, then each document's
    likeliest in equal shares of the rest, as a document's line is its likeliest unit and was else
    chosen unread. Logits,
    not probabilities: the logistic model above combines them linearly (σ squeezed the differences
    among likely sentences, and cross-validated top-1 on XQuAD-de was 0.75 with it against 0.77)."""
    out = np.zeros((len(sentences), len(READER_FEATURES)))
    if not sentences:
        return out
    order = [int(i) for i in np.argsort(-first, kind="stable")]
    chosen = order[:n // 2 if docs else n]
    # across documents, each speaking document is also read where the first stage likes it best (an
    # equal share of the other half), so each document's line is chosen by the reader too; the first
    # half stays the likeliest overall, whose best verdict the gate weighs
    each = max(1, (n - n // 2) // len(docs)) if docs else 0
    for d in docs:
        chosen += [i for i in order if sentences[i].passage.doc_id == d and i not in chosen][:each]
    chosen += [i for i in order if i not in chosen][:max(n - len(chosen), 0)]
    logits = reader([sentences[i].text for i in chosen])
    out[:, 0] = logits.min() - 1.0
    out[chosen, 0] = logits
    out[:, 1] = out[:, 0] - logits.max()
    return out


def gather(u: Understood, pool: Pool, weights: Weights, k: int, read: int, read_sentences: int = 0) -> Evidence:
    """Re-rank the candidates, score the sentences of the best `read` passages (then, with a reader
    and `read_sentences`, read the likeliest of them and score them again with its verdict), and
    compute the gate's features: everything the gate and the composer decide on."""
    cands, qvec, idf = pool.candidates, pool.qvec, pool.idf
    relevance = weights.passage.prob(passage_matrix(u, cands, qvec, idf))
    ranked = distinct(rank_passages(cands, relevance))
    docs = speakers(u, ranked, read)
    ranked, read = reading_order(u, ranked, read)
    sentences, x = sentence_matrix(u, ranked[:read], pool)
    probs = weights.sentence.prob(x)
    reading = pool.reader is not None and weights.reader is not None and read_sentences > 0 and len(sentences) > 0
    if reading:
        assert pool.reader is not None and weights.reader is not None
        r = reader_matrix(sentences, probs, pool.reader, read_sentences, docs)
        probs = weights.reader.sentence.prob(np.hstack([x, r]))
    sentences = [replace(s, prob=float(p)) for s, p in zip(sentences, probs)]
    gate = gate_row(u, ranked, sentences, idf)
    if reading:
        gate = np.append(gate, r[:, 0].max())  # the best logit
    return Evidence(tuple(c.passage for c, _ in ranked[:max(k, read)]), tuple(sentences), gate, idf, reading)


def candidates_from(passages: list[Passage], fused: dict[str, float], keyword: dict[str, float],
                    vectors: dict[str, np.ndarray], spans_of: Callable[[str], list[tuple[int, int, bool]]],
                    embed: Callable[[list[str]], np.ndarray]) -> list[Candidate]:
    """Candidates with their sentence vectors; a chunk whose vectors are missing (an index built
    before they were kept) has them computed now."""
    out = []
    for p in passages:
        spans = tuple(spans_of(p.text))
        vec = vectors.get(p.chunk_id)
        if vec is None or len(vec) != len(spans):
            vec = embed([p.text[a:e] for a, e, _ in spans]) if spans else np.zeros((0, 1))
        out.append(Candidate(p, fused.get(p.chunk_id, 0.0), keyword.get(p.chunk_id, 0.0), spans, vec))
    return out
