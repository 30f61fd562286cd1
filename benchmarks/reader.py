"""The reader in one run: its throughput in fp32 and int8 (tokens/s and the share of the CPU's peak),
how far int8 moves its logits and its choices, and the answer latency split into retrieve (the pool:
embedding the question, both retrievers, fusion), read (the reader's pass) and the rest of the
answer path (scoring, gate, compose), on the bundled corpus with our questions.

    python -m benchmarks.reader      # → benchmarks/results/reader.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.settings import BUNDLED_CORPUS, Settings
from benchmarks import cpu
from benchmarks.embedding import flop_per_token

RESULTS = Path(__file__).parent / "results"


def throughput(questions: list[str], sentences: list[str], graph_dir: Path, per_question: int = 12) -> dict[str, Any]:
    """Both precisions on the same pairs: each question with `per_question` corpus sentences."""
    from assistant.e5.reader import pair_tokens, shared_reader

    rng = np.random.default_rng(3)
    pairs = [(q, [sentences[i] for i in rng.choice(len(sentences), per_question, replace=False)]) for q in questions]
    out: dict[str, Any] = {}
    logits: dict[str, np.ndarray] = {}
    for precision in ("fp32", "int8"):
        reader = shared_reader(graph_dir, precision)
        assert reader is not None, "the reader did not start"
        tokens = sum(len(t) for q, s in pairs
                     for t in pair_tokens(reader.tokenizer, reader.weights.vocabulary, q, s, reader.file.recipe))
        reader.score(*pairs[0])  # the session's first run allocates
        t0 = time.perf_counter()
        logits[precision] = np.concatenate([reader.score(q, s) for q, s in pairs])
        seconds = time.perf_counter() - t0
        c = cpu()
        mean_len = tokens / (len(pairs) * per_question)
        rate = tokens / seconds
        peak = c["peak_fp32_gflops"] if precision == "fp32" else c["peak_int8_gops"]
        out[precision] = {"tokens_per_s": round(rate), "pairs_per_s": round(len(pairs) * per_question / seconds),
                          "ms_per_question": round(1000 * seconds / len(pairs), 1),
                          "share_of_peak": round(rate * flop_per_token(mean_len) / 1e9 / peak, 3),
                          "mean_pair_tokens": round(mean_len, 1)}
    diff = np.abs(logits["int8"] - logits["fp32"])
    top = [int(np.argmax(a) == np.argmax(b)) for a, b in zip(logits["fp32"].reshape(len(pairs), -1),
                                                             logits["int8"].reshape(len(pairs), -1))]
    out["int8_vs_fp32"] = {"max_abs_logit_diff": round(float(diff.max()), 4),
                           "mean_abs_logit_diff": round(float(diff.mean()), 4),
                           "same_top_sentence": round(float(np.mean(top)), 3), "pairs": len(diff)}
    return out


def latency_split(a: Any, questions: list[str]) -> dict[str, Any]:
    """Per question, in ms: the whole answer (Answer.latency_ms, evidence not cached), retrieve (the
    pool, timed apart) and read (the reader's own time within the answer); p50/p95."""
    from assistant.chat import condense
    from evals.metrics import percentile

    version = a.index.current()
    times: dict[str, list[float]] = {"answer": [], "retrieve": [], "read": []}
    reader = a.reader()
    read = [0.0]
    if reader is not None:
        real = reader.score

        def timed(question: str, texts: Any) -> np.ndarray:
            t = time.perf_counter()
            try:
                return real(question, texts)
            finally:
                read[0] += time.perf_counter() - t

        reader.score = timed  # this instance only: the pools built during the answers read through it
    try:
        for q in questions:
            read[0] = 0.0
            a._evidence_cache.clear()
            times["answer"].append(a.ask(q).latency_ms)
            times["read"].append(1000 * read[0])
            t0 = time.perf_counter()
            a.pool(version, a.understand(version, q, condense(q, [], a.settings.retrieval.max_history_turns)))
            times["retrieve"].append(1000 * (time.perf_counter() - t0))
    finally:
        if reader is not None:
            del reader.score
    return {k: {"p50": round(float(np.median(v)), 1), "p95": round(percentile(v, 95), 1)} for k, v in times.items()}


# each question with a sentence that answers it and one of the same document that does not
CPU_PAIRS = [
    ("Welche Angebote hat die SKEW für migrantische Organisationen?",
     ["Die SKEW berät migrantische Organisationen und fördert ihre Zusammenarbeit mit Kommunen.",
      "Die Broschüre erschien im Januar 2022."]),
    ("Was fordert der Deutsche Städtetag zur Städtediplomatie?",
     ["Der Deutsche Städtetag fordert eine Kontaktstelle für Kommunen im Auswärtigen Amt.",
      "Dortmund pflegt seit Jahren Partnerschaften in Europa."]),
    ("Seit wann pflegt Nordheim eine Partnerschaft mit Tamale?",
     ["Die Stadt Nordheim pflegt seit 1998 eine Klimapartnerschaft mit Tamale in Ghana.",
      "Der Partnerschaftsverein trifft sich monatlich im Rathaus."]),
    ("When was the museum opened?",
     ["The museum opened in 1965 after ten years of construction.", "Visitors can buy tickets online."]),
]
EMULATED = "EPYC-Rome"  # as benchmarks/int8_cpus.py: qemu-user's AVX2-only AMD EPYC (no AVX-512, no VNNI)
RUNNER = """
import sys, numpy as np, onnxruntime as ort
x = np.load(sys.argv[1]); out = {}
for name, path in zip(("fp32", "int8"), sys.argv[2:4]):
    o = ort.SessionOptions(); o.intra_op_num_threads = 1
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    out[name] = np.array([s.run(["logit"], {"embeds": x[k], "attention_mask": np.ones(x[k].shape[:2], np.int64)})[0][0]
                          for k in sorted(x.files, key=lambda f: int(f[1:]))])
np.savez(sys.argv[4], **out)
"""


def int8_on_cpus(graph_dir: Path, emulate: bool = True) -> dict[str, Any]:
    """fp32 and int8 logits of CPU_PAIRS here and, under qemu-user, on an AVX2-only CPU: how far int8
    moves a logit on each, and whether it keeps each question's choice."""
    import shutil
    import subprocess
    import sys

    from assistant.e5.reader import pair_tokens, shared_reader

    readers = {p: shared_reader(graph_dir, p) for p in ("fp32", "int8")}
    r = readers["fp32"]
    assert r is not None and readers["int8"] is not None
    ids = [i for q, s in CPU_PAIRS for i in pair_tokens(r.tokenizer, r.weights.vocabulary, q, s, r.file.recipe)]
    out: dict[str, Any] = {"pairs": len(ids)}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npz"
        np.savez(inputs, **{f"e{k}": r.weights.word_rows(np.array([i], np.int64)) for k, i in enumerate(ids)})
        runs = {"native": []}
        if emulate and shutil.which("qemu-x86_64"):
            runs["emulated_avx2"] = [shutil.which("qemu-x86_64") or "", "-cpu", EMULATED]
        for name, prefix in runs.items():
            target = Path(tmp) / f"{name}.npz"
            t = time.perf_counter()
            subprocess.run([*prefix, sys.executable, "-c", RUNNER, str(inputs), str(readers["fp32"].path),  # type: ignore[union-attr]
                            str(readers["int8"].path), str(target)], check=True, capture_output=True, timeout=3600)  # type: ignore[union-attr]
            got = dict(np.load(target))
            if name == "native":
                reference = got["fp32"]
            per_question = lambda v: v.reshape(len(CPU_PAIRS), -1).argmax(1)  # noqa: E731
            out[name] = {"seconds": round(time.perf_counter() - t, 1),
                         **{p: {"max_abs_diff_to_native_fp32": round(float(np.abs(got[p] - reference).max()), 4),
                                "same_choice": bool((per_question(got[p]) == per_question(reference)).all())}
                            for p in ("fp32", "int8")}}
        if "emulated_avx2" in out:
            out["emulated_avx2"]["cpu"] = f"qemu-x86_64 -cpu {EMULATED} (AVX2, FMA; no AVX-512, no VNNI)"
    return out


def measure(log: Any = print, emulate: bool = True) -> dict[str, Any]:
    from assistant.api import Assistant
    from evals.harness import load_questions
    from benchmarks.embedding import corpus_texts

    questions = [q["question"] for q in load_questions()]
    _, sentences = corpus_texts()
    out: dict[str, Any] = {"cpu": cpu(), "questions": len(questions)}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), corpus_dir=BUNDLED_CORPUS, rate_limit_per_minute=0)
        out["throughput"] = throughput(questions, sentences, settings.graph_dir)
        log(f"  reader: {out['throughput']}")
        out["int8_on_cpus"] = int8_on_cpus(settings.graph_dir, emulate)
        log(f"  int8 on CPUs: {out['int8_on_cpus']}")
        for reading in (False, True):
            a = Assistant(Settings(data_dir=Path(tmp), corpus_dir=BUNDLED_CORPUS, rate_limit_per_minute=0,
                                   reader=reading))
            a.ingest()
            a.warm_up()
            out["latency_ms_" + ("with_reader" if reading else "without_reader")] = latency_split(a, questions)
            a.close()
        log(f"  latency: {out['latency_ms_with_reader']} (without: {out['latency_ms_without_reader']})")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--no-emulation", action="store_true", help="leave out the AVX2 column (qemu-user is slow: minutes)")
    args = ap.parse_args(argv)
    r = measure(emulate=not args.no_emulation)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reader.json").write_text(json.dumps(r, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return r


if __name__ == "__main__":
    main()
