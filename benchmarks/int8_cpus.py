"""int8 recipes on CPUs with and without VNNI: how close each stays to the fp32 graph, here and on an
AVX2-only CPU (AMD EPYC Rome as qemu-user emulates it: AVX2 and FMA, no AVX-512, no VNNI), on the same
inputs. The recipes: s8 weights in full range (what shipped before), s8 weights in 7 bits
(ONNX Runtime's reduce_range, what ships), u8 weights.

    python -m benchmarks.int8_cpus              # → benchmarks/results/int8_cpus.json
    apt-get install qemu-user                    # for the AVX2 column (else it is left out)

Why the emulated CPU: a machine's own CPU decides which ONNX Runtime kernels run, and a session gets the
machine it gets. qemu-user runs the same wheel with a CPU that has no AVX-512 or VNNI, so the AVX2
kernels run; the numbers are exact integer and float results, only their speed is not a real CPU's
(about 100 s per recipe for six texts). The inputs (word rows of tokenised texts) are prepared natively
and saved, so that only ONNX Runtime runs under emulation."""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import cpu

RECIPES = {"s8-full": False, "s8-r7": True}  # reduce_range per s8 recipe; "u8" is built apart
EMULATED = "EPYC-Rome"  # qemu's model of an AVX2-only AMD EPYC
# the question that showed the fault on an AVX2 machine (issue 25), and five more of our texts
TEXTS = ["query: Was meint Protokoll und Repräsentation?",
         "query: Welche Angebote hat die SKEW für migrantische Organisationen?",
         "query: Was fordert der Deutsche Städtetag zur Städtediplomatie?",
         "passage: Städtediplomatie meint die Pflege von Außenbeziehungen durch offizielle Vertreterinnen und "
         "Vertreter der Städte insbesondere mit anderen Städten, Nationalstaaten und staatlichen Organisationen.",
         "passage: Die Servicestelle Kommunen in der Einen Welt berät Kommunen und migrantische Organisationen.",
         "passage: Der Ausschuss für Kommunale Entwicklungszusammenarbeit tagt zweimal im Jahr."]

RUNNER = """
import sys, numpy as np, onnxruntime as ort
x = np.load(sys.argv[1]); out = {}
for name in sys.argv[3].split(","):
    o = ort.SessionOptions(); o.intra_op_num_threads = 1
    s = ort.InferenceSession(f"{sys.argv[2]}/{name}.onnx", o, providers=["CPUExecutionProvider"])
    out[name] = np.array([s.run(["pooled"], {"embeds": x[k], "attention_mask": np.ones(x[k].shape[:2], np.int64)})[0][0]
                          for k in sorted(x.files, key=lambda f: int(f[1:]))])
np.savez(sys.argv[4], **out)
"""


def build(work: Path) -> list[str]:
    """fp32 and the three int8 recipes as graph files in `work`; their names."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from assistant.e5.graph import _save, build_graph, quantise_int8
    from assistant.e5.weights import E5Weights, bundled_model_file

    weights = E5Weights(bundled_model_file())
    fp32 = work / "fp32.onnx"
    _save(build_graph(weights), fp32)
    for name, reduce_range in RECIPES.items():
        quantise_int8(fp32, work / f"{name}.onnx", weights.shape.layers, reduce_range=reduce_range)
    quantize_dynamic(str(fp32), str(work / "u8.onnx"), weight_type=QuantType.QUInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=[f"l{n}.gm" for n in range(weights.shape.layers)])
    return ["fp32", *RECIPES, "u8"]


def inputs(path: Path) -> None:
    """The word rows of each text (bos + tokens + eos), as the embedder feeds the graph."""
    from assistant.e5.tokenizer import E5Tokenizer
    from assistant.e5.weights import E5Weights, bundled_model_file

    weights = E5Weights(bundled_model_file())
    tok, voc = E5Tokenizer(weights.vocabulary), weights.vocabulary
    rows = {f"e{k}": weights.word_rows(np.array([[voc.bos, *ids, voc.eos]], np.int64))
            for k, ids in enumerate(tok.content_ids(TEXTS))}
    np.savez(path, **rows)


def run_graphs(work: Path, names: list[str], out: Path, emulate: str = "") -> float:
    cmd = [sys.executable, "-c", RUNNER, str(work / "inputs.npz"), str(work), ",".join(names), str(out)]
    if emulate:
        cmd = [shutil.which("qemu-x86_64") or "qemu-x86_64", "-cpu", emulate, *cmd]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - t


def cosines(vectors: dict[str, np.ndarray], reference: np.ndarray) -> dict[str, list[float]]:
    ref = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    return {k: [round(float(c), 5) for c in (v / np.linalg.norm(v, axis=1, keepdims=True) * ref).sum(1)]
            for k, v in vectors.items()}


def measure(emulate: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        names = build(work)
        inputs(work / "inputs.npz")
        run_graphs(work, names, work / "native.npz")
        native = dict(np.load(work / "native.npz"))
        result: dict[str, Any] = {"cpu": cpu(), "texts": TEXTS,
                                  "native": cosines({k: native[k] for k in names[1:]}, native["fp32"])}
        if emulate and shutil.which("qemu-x86_64"):
            seconds = run_graphs(work, names[1:], work / "avx2.npz", emulate=EMULATED)
            avx2 = dict(np.load(work / "avx2.npz"))
            result["emulated_avx2"] = {"cpu": f"qemu-x86_64 -cpu {EMULATED} (AVX2, FMA; no AVX-512, no VNNI)",
                                       "seconds": round(seconds, 1),
                                       # against the native fp32 graph: fp32 is the reference on both
                                       "cosine": cosines({k: avx2[k] for k in names[1:]}, native["fp32"])}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--no-emulation", action="store_true")
    args = ap.parse_args()
    r = measure(emulate=not args.no_emulation)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "int8_cpus.json").write_text(json.dumps(r, indent=1, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(r, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
