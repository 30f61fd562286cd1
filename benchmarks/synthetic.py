"""Seeded synthetic corpora built from our own documents' sentences, so that text statistics stay
German policy prose: headings, paragraphs of consecutive sentences and lists, each document about a
made-up municipality (the corpus's city names and numbers are swapped, which also grows the vocabulary).

`ProxyEmbedder` gives synthetic chunks vectors without paying the model for every chunk: each
sentence's real e5 vector is computed once, and a chunk gets the normalised mean of its sentences'
vectors plus a little seeded noise. Figures measured with it are labelled "proxy vectors".
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llama_index.core.bridge.pydantic import PrivateAttr

from llama_index.core.base.embeddings.base import BaseEmbedding

from assistant.embedding import E5_DIM
from assistant.core.settings import BUNDLED_CORPUS
from assistant.core.text import sentence_spans
from assistant.core.types import KINDS as DOCUMENT_KINDS
from ingest.pipeline import discover, read_document

CITIES = ("Dortmund", "Nürnberg", "München", "Hamburg", "Bonn", "Köln", "Leipzig", "Stuttgart", "Karlsruhe",
          "Heidelberg", "Frankfurt", "Düsseldorf", "Hannover", "Bremen", "Dresden", "Münster", "Essen",
          "Mannheim", "Kiel")
_CITY = re.compile(r"\b(?:" + "|".join(CITIES) + r")\b")
_ROOTS = ("Linden", "Eichen", "Buchen", "Birken", "Wald", "Rosen", "Mühl", "Stein", "Wiesen", "Sonnen", "Falken",
          "Hirsch", "Erlen", "Tannen", "Ahorn", "Kranich", "Bieber", "Otter", "Schwan", "Lerchen", "Haselt",
          "Weiden", "Ulmen", "Kiefer", "Ginster", "Holunder", "Moos", "Quell", "Brunnen", "Kessel")
_ENDS = ("heim", "feld", "dorf", "stadt", "berg", "burg", "hausen", "bach", "au", "brück", "kirchen", "ingen",
         "rode", "hagen")
_PREFIXES = ("Bad ", "Neu", "Alt", "Ober", "Nieder")
PLACES = tuple(r + e for r in _ROOTS for e in _ENDS) + tuple(
    p + (r if p.endswith(" ") else r.lower()) + e for p in _PREFIXES for r in _ROOTS for e in _ENDS)
_PLACE = re.compile(r"\b(?:Bad |Neu|Alt|Ober|Nieder)?(?:" + "|".join(_ROOTS + tuple(r.lower() for r in _ROOTS))
                    + ")(?:" + "|".join(_ENDS) + r")\b")
_NUMBER = re.compile(r"\d+")
KINDS = tuple(k for k in DOCUMENT_KINDS if k != "unknown")


def template(text: str) -> str:
    """The form a sentence is looked up by: places and numbers masked (generated and source text agree)."""
    return _NUMBER.sub("0", _PLACE.sub("⟨ORT⟩", _CITY.sub("⟨ORT⟩", text))).strip()


@dataclass(frozen=True)
class Pool:
    """What synthetic documents are sampled from: paragraphs as sentence lists, list runs, headings."""

    paragraphs: tuple[tuple[str, ...], ...]
    lists: tuple[tuple[str, ...], ...]
    headings: tuple[str, ...]
    publishers: tuple[str, ...]

    def units(self) -> dict[str, str]:
        """Every text unit a proxy vector is needed for (sentences, items, headings, publishers), by
        template, with the source text that is embedded for it."""
        out = [s for p in self.paragraphs for s in p] + [i.lstrip("•0123456789.) ") for li in self.lists for i in li]
        units: dict[str, str] = {}
        for x in out + list(self.headings) + list(self.publishers):
            units.setdefault(template(x), x)
        return units


def sentence_pool(folder: Path = BUNDLED_CORPUS) -> Pool:
    files, _ = discover([folder])
    paragraphs, lists, headings, publishers = [], [], [], []
    for f in files:
        info, blocks = read_document(f)
        publishers.append(info.publisher or info.title)
        run: list[str] = []
        for b in blocks + [None]:
            if b is not None and b.kind == "item":
                run.append(b.text)
                continue
            if len(run) >= 2:
                lists.append(tuple(run))
            run = []
            if b is None:
                break
            if b.kind == "heading" and 3 <= len(b.text) <= 120:
                headings.append(b.text)
            elif b.kind == "paragraph":
                sents = tuple(b.text[s:e] for s, e in sentence_spans(b.text) if e - s > 25)
                if sents:
                    paragraphs.append(sents)
    return Pool(tuple(paragraphs), tuple(lists), tuple(dict.fromkeys(headings)), tuple(dict.fromkeys(publishers)))


@dataclass(frozen=True)
class SynthDoc:
    name: str
    title: str
    publisher: str
    year: int
    kind: str
    markdown: str  # "# title", "## heading", paragraphs, "- item" lists

    def plain(self) -> str:
        return re.sub(r"^#+ |^- ", lambda m: "• " if m.group(0) == "- " else "", self.markdown, flags=re.M)


def _swap(text: str, place: str, rng: random.Random) -> str:
    text = _CITY.sub(place, text)
    return _NUMBER.sub(lambda m: str(rng.randint(2000, 2030)) if len(m.group(0)) == 4 else str(rng.randint(1, 99)),
                       text)


def documents(pool: Pool, n: int, seed: int, sections: tuple[int, int] = (1, 40),
              median_sections: float = 7.0, paragraphs: tuple[int, int] = (1, 3)) -> Iterator[SynthDoc]:
    """`n` documents, the same for the same seed. Section counts are log-normal around
    `median_sections` (bounded by `sections`); a section has one to three paragraphs of 2–6
    consecutive sentences, and a list in 30 % of cases."""
    import math

    rng = random.Random(seed)
    for i in range(n):
        place = rng.choice(PLACES)
        k = min(sections[1], max(sections[0], int(rng.lognormvariate(math.log(median_sections), 0.8))))
        title = f"{place}: {_swap(rng.choice(pool.headings), place, rng)}"
        lines = [f"# {title}", ""]
        for _ in range(k):
            lines += [f"## {_swap(rng.choice(pool.headings), place, rng)}", ""]
            for _ in range(rng.randint(*paragraphs)):
                para = rng.choice(pool.paragraphs)
                a = rng.randrange(len(para))
                sents = para[a:a + rng.randint(2, 6)]
                lines += [_swap(" ".join(sents), place, rng), ""]
            if pool.lists and rng.random() < 0.3:
                run = rng.choice(pool.lists)
                a = rng.randrange(max(1, len(run) - 2))
                lines += [f"- {_swap(x.lstrip('•0123456789.) '), place, rng)}" for x in run[a:a + rng.randint(3, 8)]]
                lines.append("")
        yield SynthDoc(name=f"synth-{seed}-{i:06d}", title=title, publisher=rng.choice(pool.publishers),
                       year=rng.randint(2005, 2026), kind=rng.choice(KINDS), markdown="\n".join(lines))


def write(docs: list[SynthDoc], folder: Path, formats: tuple[str, ...] = ("md",)) -> list[Path]:
    """Write documents round-robin in `formats` (md, txt, html, pdf) plus a metadata.json catalogue."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_file = folder / "metadata.json"
    meta: dict[str, Any] = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
    paths = []
    for i, d in enumerate(docs):
        fmt = formats[i % len(formats)]
        path = folder / f"{d.name}.{fmt}"
        if fmt == "md":
            path.write_text(d.markdown, encoding="utf-8")
        elif fmt == "txt":
            path.write_text(d.plain(), encoding="utf-8")
        elif fmt == "html":
            path.write_text(_html(d), encoding="utf-8")
        elif fmt == "pdf":
            _pdf(d, path)
        else:
            raise ValueError(f"unknown format {fmt}")
        meta[path.name] = {"doc_id": d.name, "title": d.title, "publisher": d.publisher, "year": d.year,
                           "kind": d.kind}
        paths.append(path)
    meta_file.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return paths


def _html(d: SynthDoc) -> str:
    import html

    body = []
    for block in d.markdown.split("\n\n"):
        if block.startswith("## "):
            body.append(f"<h2>{html.escape(block[3:])}</h2>")
        elif block.startswith("# "):
            body.append(f"<h1>{html.escape(block[2:])}</h1>")
        elif block.startswith("- "):
            body.append("<ul>" + "".join(f"<li>{html.escape(x[2:])}</li>" for x in block.splitlines()) + "</ul>")
        elif block.strip():
            body.append(f"<p>{html.escape(block)}</p>")
    return (f"<html><head><title>{html.escape(d.title)}</title></head><body><nav>Startseite | Kontakt</nav>"
            + "".join(body) + "<footer>Impressum</footer></body></html>")


_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _pdf(d: SynthDoc, path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    if _FONT.exists():
        pdf.add_font("DejaVu", fname=str(_FONT))
        pdf.set_font("DejaVu", size=11)
        text = d.plain()
    else:  # core fonts are latin-1 only
        pdf.set_font("Helvetica", size=11)
        text = d.plain().translate(str.maketrans({"„": '"', "“": '"', "”": '"', "–": "-", "—": "-", "•": "-",
                                                  "’": "'", "…": "..."})).encode("latin-1", "replace").decode("latin-1")
    pdf.add_page()
    for block in text.split("\n\n"):
        if block.strip():
            pdf.multi_cell(0, 6, block)
            pdf.ln(4)
    pdf.output(str(path))


class ProxyEmbedder(BaseEmbedding):
    """Chunk vectors as the normalised mean of their sentences' real e5 vectors (each sentence
    template embedded once, through the embedding cache) plus seeded noise; queries are embedded
    for real by `real` (the embedder the settings choose). Labelled "proxy vectors" wherever its
    figures appear."""

    _vectors: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)
    _noise: float = PrivateAttr(default=0.01)
    _real: Any = PrivateAttr(default=None)

    def __init__(self, unit_vectors: dict[str, np.ndarray], real: Any = None, noise: float = 0.01) -> None:
        super().__init__(model_name="proxy", embed_batch_size=256)
        self._vectors = unit_vectors
        self._noise = noise
        self._real = real

    @classmethod
    def class_name(cls) -> str:
        return "ProxyEmbedder"

    def _get_query_embedding(self, query: str) -> list[float]:
        if self._real is None:
            raise RuntimeError("ProxyEmbedder was built without a real embedder for queries")
        return list(self._real.get_query_embedding(query))

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def query_embeddings(self, queries: list[str]) -> list[list[float]]:
        batch = getattr(self._real, "query_embeddings", None)
        return batch(queries) if batch is not None else [self._get_query_embedding(q) for q in queries]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._one(text)

    def _one(self, text: str) -> list[float]:
        parts = []
        for line in text.split("\n"):
            for s, e in sentence_spans(line) or [(0, len(line))]:
                v = self._vectors.get(template(line[s:e].lstrip("• ")))
                if v is not None:
                    parts.append(v)
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        base = np.mean(parts, axis=0) if parts else rng.standard_normal(E5_DIM)
        v = base / np.linalg.norm(base) + rng.standard_normal(E5_DIM) * self._noise
        return (v / np.linalg.norm(v)).astype(np.float32).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._one(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]


def unit_vectors(pool: Pool, embedder: Any, cache_path: Path, model: str) -> dict[str, np.ndarray]:
    """Real e5 passage vectors of every pool unit (cached across runs)."""
    from ingest.embed_cache import EmbeddingCache, EmbedStats, embed_texts

    units = pool.units()
    cache = EmbeddingCache(cache_path, model)
    try:
        vecs = embed_texts(list(units.values()), embedder.get_text_embedding_batch, cache, EmbedStats())
    finally:
        cache.close()
    return {u: np.asarray(v, dtype=np.float32) for u, v in zip(units, vecs)}
