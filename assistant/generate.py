"""The optional generative stage: a configured language model writes the answer from the passages,
every sentence is verified against them, and whatever fails makes way for the extractive answer
with a notice that says why."""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any

from assistant import llm as llm_module
from assistant.answer import REFUSAL
from assistant.chat import Condensed
from assistant.core.types import Answer, Delta, StreamEvent
from assistant.llm import LLMUnavailable

UNVERIFIED = "Die Antwort des Sprachmodells ließ sich nicht mit den Dokumenten belegen; hier die belegte extraktive Antwort."


def fallback_notice(exc: Exception) -> str:
    return f"Generatives Sprachmodell nicht verfügbar ({getattr(exc, 'message', exc)}); extraktive Antwort."


def nothing() -> Generator[StreamEvent, None, Answer | str | None]:
    """No model configured: nothing generated, nothing streamed."""
    return None
    yield  # a generator that yields nothing and returns None


def generate(llm: Any, base: Answer, c: Condensed) -> Generator[StreamEvent, None, Answer | str | None]:
    """Stream the model's answer and verify its citations; returns the Answer, or the notice for
    the extractive answer that stands in (the model failed, or nothing it said could be verified)."""
    passages = list(base.passages)
    text = ""
    try:
        for delta in llm_module.stream_answer(llm, c.standalone, passages):
            text += delta
            yield Delta(delta)
    except LLMUnavailable as exc:
        return fallback_notice(exc)
    if llm_module.NO_ANSWER in text and "[" not in text:
        return replace(base, answer=REFUSAL, mode="generative", notice="")
    checked, citations, dropped = llm_module.verify(text, passages)
    if not citations:
        return UNVERIFIED
    note = f"{dropped} Satz/Sätze der generierten Antwort ohne Beleg in den Passagen wurden entfernt." if dropped else ""
    return replace(base, answer=checked, refused=False, citations=tuple(citations), mode="generative", notice=note)


def condense(llm: Any, c: Condensed, history: list[str], max_turns: int) -> tuple[Condensed, Any, str]:
    """The question with the earlier turns it leans on, rewritten by the model when one is
    configured (the rules' version `c` stands when it fails)."""
    if llm is None or not c.context:
        return c, llm, ""
    try:
        turns = [h for h in history if h.strip()][-max_turns:]
        return Condensed(llm_module.condense(llm, c.question, turns)), llm, ""
    except LLMUnavailable as exc:
        return c, None, fallback_notice(exc)
