"""What the embedder's and the reader's ONNX Runtime sessions share: the thread count, the session
options and the graph inputs. Kept apart from the llama-index face so the reader needs none of it."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from assistant.e5.weights import E5Weights


def cores() -> int:
    """CPUs this process may run on (a container's or taskset's limit, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def session_options(threads: int | None = None) -> Any:
    """One inference runs on every core this process may use; sessions never run ops side by side."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or cores()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts


def graph_inputs(weights: E5Weights, batch: list[list[int]]) -> dict[str, np.ndarray]:
    """A batch of token id lists as either graph takes it: word rows padded to the longest, and the mask."""
    width = max(len(ids) for ids in batch)
    ids = np.full((len(batch), width), weights.vocabulary.pad, np.int64)
    mask = np.zeros((len(batch), width), np.int64)
    for r, row in enumerate(batch):
        ids[r, :len(row)] = row
        mask[r, :len(row)] = 1
    return {"embeds": weights.word_rows(ids), "attention_mask": mask}
