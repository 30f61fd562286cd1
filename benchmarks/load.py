"""Load on the running chat app: concurrent sessions (gradio_client, loopback only, bounded in count
and time), each a multi-turn conversation from the question set, optionally while new documents are
ingested. Every answer must equal the one the same conversation gets alone, on the index before or
after the ingest: a different answer would be cross-talk between sessions or a partial index.

    python -m benchmarks.load [--sessions 20] [--doors ui rest openai] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import inspect
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections.abc import Callable
from typing import Any

import httpx

from assistant.api import Assistant
from assistant.core.rights import PUBLIC, Rights
from assistant.core.types import Answer
from assistant.core.settings import BUNDLED_CORPUS, Settings
from evals.harness import load_questions
from assistant.faces.tokens import TokenStore
from benchmarks import cpu, free_port
from evals.metrics import percentile

NEW_DOCUMENTS = {  # what the concurrent ingest adds: on topic, so stale or partial views would show
    "partnerschaft-nordheim.txt": "Die Stadt Nordheim unterhält seit 2015 eine Städtepartnerschaft mit Tamale in "
                                  "Ghana. Die Partnerschaft wird vom Partnerschaftsverein Nordheim getragen.",
    "fairtrade-suedheim.txt": "Die Gemeinde Südheim ist Fairtrade-Town und kauft für ihre Kantinen nur fair "
                              "gehandelten Kaffee. Eine Steuerungsgruppe trifft sich viermal im Jahr.",
    "klima-ostheim.txt": "Ostheim pflegt eine kommunale Klimapartnerschaft mit Tumbaco in Ecuador. Gemeinsam wurde "
                         "ein Handlungsprogramm zu Wasser und Energie beschlossen.",
}


# the collections run (--collections): an internal paper in rat-intern, asked about in every conversation;
# sessions alternate between tokens that read öffentlich only and tokens that also read rat-intern
INTERN = "rat-intern"
INTERN_DOCUMENTS = {"ratsvorlage-quelimane.txt": "Die vertrauliche Ratsvorlage Zitronenfalter sieht vor, dass die "
                    "Partnerschaft mit Quelimane ab 2027 mit 48.500 Euro jährlich gefördert wird."}
INTERN_QUESTION = "Mit wie viel Euro wird die Partnerschaft mit Quelimane gefördert?"
INTERN_MARKS = ("Zitronenfalter", "48.500")  # in no answer a session without rat-intern is shown


THIRD_TURNS = ("Und wie lautet die Telefonnummer dazu?", "Gibt es dazu ein Beispiel aus einer Stadt?",
               "Wer unterstützt Kommunen dabei?")


ABOUT_NEW = (  # refused before the concurrent ingest, answered after it: never anything in between
    ["Mit welcher Stadt hat Nordheim eine Städtepartnerschaft?", "Wer trägt die Partnerschaft in Nordheim?"],
    ["Welchen Kaffee kauft Südheim für die Kantinen?", "Wie oft trifft sich die Steuerungsgruppe in Südheim?"],
    ["Mit wem pflegt Ostheim eine Klimapartnerschaft?", "Was wurde in Ostheim gemeinsam beschlossen?"],
)


def conversations(n: int) -> list[list[str]]:
    """`n` multi-turn conversations: mostly a follow-up question with its earlier turns (from the
    question set) plus one more follow-up (sometimes unanswerable); every fourth is about the
    documents the concurrent ingest adds."""
    follow = [q["history"] + [q["question"]] for q in load_questions() if q["type"] == "follow-up"]
    return [ABOUT_NEW[(i // 4) % len(ABOUT_NEW)] if i % 4 == 3 else
            follow[i % len(follow)] + [THIRD_TURNS[i % len(THIRD_TURNS)]] for i in range(n)]


DOORS = ("ui", "rest", "openai")  # the Gradio chat, /api/v1/ask, /v1/chat/completions


def _text(message: dict[str, Any]) -> str:
    c = message["content"]
    return c[0]["text"] if isinstance(c, list) else c


def expected(a: Assistant, convo: list[str], door: str = "ui", rights: Rights | None = None) -> list[Answer]:
    """The answer each turn of this conversation gets when it runs alone with these rights (extractive
    answers are deterministic); `shown` renders them as the door shows them."""
    out: list[Answer] = []
    history: list[str] = []
    for q in convo:
        out.append(a.ask(q, history=history, rights=rights))
        history.append(q)
    return out


def shown(answer: Answer, door: str, offset: int = 0) -> str:
    """What a door shows of an answer: the chat bubbles (numbered on from `offset`, the citations of the
    conversation's earlier answers) in the UI, the answer text and its quotes through the API doors."""
    from assistant.faces.ui import answer_messages

    if door == "ui":  # as Gradio's Chatbot shows a message: inspect.cleandoc of its text
        return "\n".join(inspect.cleandoc(m["content"]) for m in answer_messages(answer, offset))
    return _shown(answer.answer, [c.quote for c in answer.citations])


def acceptable(before: list[Answer], after: list[Answer], turn: int, door: str) -> set[str]:
    """What turn `turn` may show: its answer from the old or the new index, numbered on from the
    citations of earlier turns that were each answered from either (never a partial index)."""
    offsets = {0}
    for t in range(turn):
        offsets = {o + len(x.citations) for o in offsets for x in (before[t], after[t])}
    return {shown(x, door, o) for x in (before[turn], after[turn]) for o in offsets}


def _shown(answer: str, quotes: list[str]) -> str:
    return answer + "\n--\n" + "\n".join(quotes)


def _session_asker(door: str, url: str, token: str = "") -> Callable[[str], str]:
    """One client session of a door: ask the next question of the conversation, return what it shows."""
    if door == "ui":
        from gradio_client import Client

        # one browser session: its own state on the server
        client = Client(url + "/", verbose=False, headers={"Authorization": f"Bearer {token}"} if token else None)
        chat: list[Any] = []

        def ui(q: str) -> str:
            nonlocal chat
            _, chat, _ = client.predict(q, chat, api_name="/chat")
            last_user = max(i for i, m in enumerate(chat) if m["role"] == "user")
            return "\n".join(_text(m) for m in chat[last_user + 1:])  # the lead, the folded Belege and Quellen
        return ui
    http = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"} if token else {})
    turns: list[str] = []

    def api(q: str) -> str:
        if door == "rest":
            r = http.post("/api/v1/ask", json={"question": q, "history": turns})
            r.raise_for_status()
            body = r.json()
            text, cites = body["answer"], body["citations"]
        else:
            messages = [{"role": "user", "content": t} for t in turns] + [{"role": "user", "content": q}]
            r = http.post("/v1/chat/completions", json={"model": "kepol", "messages": messages})
            r.raise_for_status()
            msg = r.json()["choices"][0]["message"]
            text, cites = msg["content"].split("\n\nQuellen:\n")[0], msg["citations"]
        turns.append(q)
        return _shown(text, [c["quote"] for c in cites])
    return api


def run(sessions: int = 20, during_ingest: bool = False, data_dir: Path | None = None,
        timeout_s: float = 300, door: str = "ui", intern: bool = False, collections: bool = False) -> dict[str, Any]:
    """`intern`: the library also holds an internal paper in rat-intern and every conversation asks about
    it; `collections`: sessions alternate between tokens reading öffentlich only and öffentlich and
    rat-intern (without it every session reads everything, as before collections existed)."""
    from assistant.faces.server import launch

    with tempfile.TemporaryDirectory() as tmp:
        data = data_dir or Path(tmp) / "data"
        a = Assistant(Settings(data_dir=data, rate_limit_per_minute=60))
        a.ingest([BUNDLED_CORPUS])
        rights: list[Rights | None] = [None] * sessions
        convos = conversations(sessions)
        if intern or collections:
            folder = Path(tmp) / "intern"
            folder.mkdir()
            for name, text in INTERN_DOCUMENTS.items():
                (folder / name).write_text(text, encoding="utf-8")
            a.ingest([folder], collection=INTERN)
            convos = [c + [INTERN_QUESTION] for c in convos]
        if collections:
            rights = [Rights(frozenset({PUBLIC, INTERN}) if i % 2 else frozenset({PUBLIC})) for i in range(sessions)]
        a.warm_up()
        keys = [(tuple(c), r) for c, r in zip(convos, rights)]
        before = {k: expected(a, list(k[0]), door, k[1]) for k in dict.fromkeys(keys)}
        extra = Path(tmp) / "neu"
        extra.mkdir()
        for name, text in NEW_DOCUMENTS.items():
            (extra / name).write_text(text, encoding="utf-8")
        # through the API doors every session has a token of its own: the rate limit is per token, as
        # for separate client applications
        store = TokenStore(data / "tokens.json")
        every = [PUBLIC, INTERN] if intern else []  # without collections every session reads everything
        tokens = [store.create(f"load-{i}", collections=sorted(r.collections) if r and r.collections else every)
                  for i, r in enumerate(rights)] if door != "ui" or collections else [""] * sessions
        app = launch(a, "127.0.0.1", free_port(), block=False)
        assert app is not None
        latencies: list[float] = []
        errors: list[str] = []
        mismatches: list[dict[str, Any]] = []
        lock = threading.Lock()
        start = threading.Barrier(sessions + (1 if during_ingest else 0))
        deadline = time.monotonic() + timeout_s

        def session(i: int) -> list[str]:
            ask = _session_asker(door, app.url, tokens[i])
            shown = []
            start.wait(timeout=60)
            for q in convos[i]:
                if time.monotonic() > deadline:
                    raise TimeoutError("load run exceeded its time bound")
                t = time.perf_counter()
                shown.append(ask(q))
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)
            return shown

        ingest_s = 0.0

        def ingest() -> None:
            nonlocal ingest_s
            start.wait(timeout=60)
            t = time.perf_counter()
            a.ingest([extra])
            ingest_s = time.perf_counter() - t

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=sessions + 1) as pool:
            ing = pool.submit(ingest) if during_ingest else None
            futures = [pool.submit(session, i) for i in range(sessions)]
            results: list[list[str] | None] = []
            for f in futures:
                try:
                    results.append(f.result(timeout=timeout_s))
                except Exception as exc:  # counted, not raised: the report says what failed
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    results.append(None)
            if ing is not None:
                ing.result(timeout=timeout_s)
        wall = time.perf_counter() - t0
        after = {k: expected(a, list(k[0]), door, k[1]) for k in before} if during_ingest else before
        leaks = 0
        for i, got in enumerate(results):
            if got is None:
                continue
            key = keys[i]
            for turn, text in enumerate(got):
                if text not in acceptable(before[key], after[key], turn, door):
                    mismatches.append({"session": i, "turn": turn, "question": convos[i][turn], "got": text[:200]})
                if collections and rights[i] is not None and not rights[i].sees(INTERN):  # type: ignore[union-attr]
                    leaks += any(m in text for m in INTERN_MARKS)
        app.close()
        a.close()
    return {
        "door": door, "sessions": sessions, "turns": sum(len(c) for c in convos), "during_ingest": during_ingest,
        "collections": collections, "cross_collection_leaks": leaks,
        "errors": errors, "mismatches": mismatches, "wall_s": round(wall, 2),
        "ingest_s": round(ingest_s, 2) if during_ingest else None,
        "conversations_changed_by_ingest": sum([x.answer for x in before[k]] != [x.answer for x in after[k]]
                                               for k in before) if during_ingest else 0,
        "turns_per_s": round(len(latencies) / wall, 2) if wall else None,
        "answers_per_s": round(len(latencies) / wall, 1) if wall else None,
        "latency_ms": {"p50": round(statistics.median(latencies), 1), "p95": round(percentile(latencies, 95), 1),
                       "max": round(max(latencies), 1)} if latencies else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--doors", nargs="+", choices=DOORS, default=list(DOORS))
    ap.add_argument("--collections", action="store_true",
                    help="only the collections comparison: sessions from two collections at once against the "
                         "same sessions without collections, in one run")
    args = ap.parse_args()
    r: dict[str, Any] = {"cpu": cpu()}  # the load generator shares these cores: the figures are this CPU's
    if args.collections:
        # the per-question evidence cache off in both runs: sessions that differ in rights never share an
        # entry, so with it the comparison would measure how often sessions ask alike, not the cost of rights
        import assistant.api

        assistant.api.EVIDENCE_CACHE = 0
        r["evidence_cache"] = 0
        for door in args.doors:
            plain = run(args.sessions, door=door, intern=True)
            mixed = run(args.sessions, door=door, intern=True, collections=True)
            r[door] = {"without_collections": plain, "two_collections": mixed,
                       "throughput_ratio": round(mixed["turns_per_s"] / plain["turns_per_s"], 3)
                       if plain["turns_per_s"] and mixed["turns_per_s"] else None}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "load_collections.json").write_text(json.dumps(r, indent=1, ensure_ascii=False), encoding="utf-8")
        print(json.dumps(r, indent=1, ensure_ascii=False))
        return
    r |= {door: {"plain": run(args.sessions, door=door), "during_ingest": run(args.sessions, True, door=door)}
          for door in args.doors}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(r, indent=1, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(r, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
