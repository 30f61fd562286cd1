"""A local stand-in for an OpenAI-compatible model server (the one thing that cannot run here),
speaking the real protocol: POST /v1/chat/completions, JSON or server-sent-event streaming.

Its "model" is chosen by the request's model name:
- `echo`: answers with the first sentence of passage [1] and of passage [2], each cited;
- `invent`: cites passages that do not exist and states facts no passage holds;
- `refuse`: the agreed no-answer sentence;
- `slow`: waits longer than any sane timeout;
- `broken`: HTTP 500.
Condense requests ("Formuliere die letzte Frage …") get a fixed standalone question.
"""
from __future__ import annotations

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from assistant.llm import NO_ANSWER

CONDENSED = "Wie lautet das Leitmotto des AKEZ?"


def _first_sentence(block: str) -> str:
    m = re.match(r"(.+?[.!?])(\s|$)", block.strip().replace("\n", " "))
    return m.group(1) if m else block.strip()[:200]


def _reply(model: str, messages: list[dict[str, Any]]) -> str:
    user = messages[-1]["content"]
    if user.startswith("Formuliere die letzte Frage"):
        return CONDENSED
    if model == "refuse":
        return NO_ANSWER
    if model == "invent":
        return "Die SKEW hat 4711 Mitarbeitende [9]. Der Mond besteht aus grünem Käse [1]."
    blocks = re.split(r"\n\n\[(\d+)\] [^\n]*:\n", "\n\n" + user.split("Passagen:\n\n", 1)[-1])
    # blocks: ["", "1", text1, "2", text2, …]; the question trails the last passage
    texts = {int(blocks[i]): blocks[i + 1].split("\n\nFrage:")[0] for i in range(1, len(blocks) - 1, 2)}
    parts = [f"{_first_sentence(texts[n])} [{n}]" for n in sorted(texts)[:2]]
    return " ".join(parts)


class _Handler(BaseHTTPRequestHandler):
    server: "FakeLLMServer"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.requests.append({"path": self.path, "body": body,
                                     "authorization": self.headers.get("Authorization", "")})
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        model = body.get("model", "")
        if model == "broken":
            self.send_error(500, "model crashed")
            return
        if model == "slow":
            time.sleep(self.server.slow_seconds)
        text = _reply(model, body.get("messages", []))
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            pieces = re.findall(r"\S+\s*", text) or [text]
            for i, piece in enumerate(pieces):
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                self._event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                             "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            self._event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            return
        payload = json.dumps({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _event(self, obj: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
        self.wfile.flush()


class QuietHTTPServer(ThreadingHTTPServer):
    """A test server whose clients may hang up mid-answer (a cancelled stream, a retrying client):
    that is normal and not reported; anything else is reported as socketserver reports it."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeLLMServer(QuietHTTPServer):

    def __init__(self, slow_seconds: float = 5.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.slow_seconds = slow_seconds
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()
