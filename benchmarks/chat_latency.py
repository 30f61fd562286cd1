"""Time to first token and to the full answer in the chat, measured through the real Gradio server
(gradio_client streaming) on the bundled corpus, plus the same in-process via Assistant.ask_stream.

    python -m benchmarks.chat_latency [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from assistant.api import Assistant
from assistant.core.settings import BUNDLED_CORPUS, Settings
from assistant.faces.server import launch
from benchmarks import free_port
from evals.harness import load_questions
from evals.metrics import percentile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    questions = [q["question"] for q in load_questions(fast=True)] * args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        a = Assistant(Settings(data_dir=Path(tmp), corpus_dir=BUNDLED_CORPUS))
        a.ingest()
        a.warm_up()
        first, full = [], []
        for q in questions:
            t = time.perf_counter()
            seen = False
            for ev in a.ask_stream(q):
                if not seen:
                    first.append((time.perf_counter() - t) * 1000)
                    seen = True
            full.append((time.perf_counter() - t) * 1000)
        from gradio_client import Client

        port = free_port()
        app = launch(a, "127.0.0.1", port, block=False)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        ui_first, ui_full = [], []
        for q in questions:
            t = time.perf_counter()
            job = client.submit(q, [], api_name="/chat")
            got_first = False
            for _ in job:
                if not got_first:
                    ui_first.append((time.perf_counter() - t) * 1000)
                    got_first = True
            job.result()
            ui_full.append((time.perf_counter() - t) * 1000)
        app.close()
    r = {
        "questions": len(questions),
        "in_process_first_ms": {"p50": statistics.median(first), "p95": percentile(first, 95)},
        "in_process_full_ms": {"p50": statistics.median(full), "p95": percentile(full, 95)},
        "ui_first_update_ms": {"p50": statistics.median(ui_first), "p95": percentile(ui_first, 95)},
        "ui_full_answer_ms": {"p50": statistics.median(ui_full), "p95": percentile(ui_full, 95)},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chat_latency.json").write_text(json.dumps(r, indent=1), encoding="utf-8")
    print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
