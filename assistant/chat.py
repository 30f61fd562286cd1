"""Conversation: turn a follow-up ("Und welche Schwerpunkte hat das BMZ dabei?") into a standalone question."""
from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.core.text import keyword_terms, words

_FOLLOWUP_OPENERS = re.compile(
    r"^\s*(und|aber|also|dann|außerdem|zudem|sowie|ebenso|noch|was ist mit|wie ist es mit|und was|"
    r"and|what about|how about)\b", re.IGNORECASE)
_ANAPHORA = {
    "dabei", "dazu", "dafür", "darüber", "davon", "damit", "daran", "darin", "darauf", "hierzu", "hierfür",
    "hierbei", "diese", "dieser", "dieses", "diesen", "diesem", "deren", "dessen", "dort", "jene", "solche",
    "ihnen", "ebenfalls", "derselbe", "dieselbe", "this", "that", "those", "these", "there", "it", "they",
}
_WEAK_PRONOUNS = {"sie", "es", "er", "ihr", "ihre", "ihren", "ihrer", "sein", "seine", "seiner"}
# "das"/"dies" standing for something said before ("wer bezahlt das?"), not an article ("das Leitmotto")
_DEMONSTRATIVE = re.compile(r"\b(?i:das|dies)\b(?!\s+[A-ZÄÖÜ0-9„\"])")


@dataclass(frozen=True)
class Condensed:
    """The question as asked, and the earlier turns it leans on (empty when it stands alone)."""

    question: str
    context: str = ""

    @property
    def standalone(self) -> str:
        return f"{self.context} – {self.question}" if self.context else self.question


def is_followup(question: str) -> bool:
    """Rule-based: opener words, anaphora, or a bare pronoun in a question with few content words."""
    toks = [w.lower() for w in words(question)]
    if _FOLLOWUP_OPENERS.match(question) or any(t in _ANAPHORA for t in toks):
        return True
    weak = any(t in _WEAK_PRONOUNS for t in toks) or bool(_DEMONSTRATIVE.search(question))
    return weak and len(keyword_terms(question)) <= 2


def condense(question: str, history: list[str], max_turns: int) -> Condensed:
    """Attach the most recent earlier user turns to a follow-up; history is bounded to `max_turns`."""
    turns = [h.strip() for h in history if h and h.strip()][-max_turns:] if max_turns else []
    if not turns or not is_followup(question):
        return Condensed(question)
    # the nearest turn that itself stood alone carries the topic; keep follow-ups after it
    context: list[str] = []
    for turn in reversed(turns):
        context.insert(0, turn)
        if not is_followup(turn):
            break
    return Condensed(question, " ".join(context))
