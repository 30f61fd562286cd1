"""The refusal gate: answer only when the documents say. A fitted logistic model over the evidence
(assistant/evidence.py GATE_FEATURES) decides; two rules come first, each for a general reason:
a question that tries to change the assistant's instructions is never followed, and a question far
from everything in the library (below the on-topic cosine) gets no "closest passage" either. A
refused question whose probability reaches half the bar "comes close": its closest passage is
shown, marked as such."""
from __future__ import annotations

from dataclasses import dataclass

from assistant.evidence import Evidence
from assistant.understand import Understood
from assistant.weights import Weights


@dataclass(frozen=True)
class Verdict:
    answerable: bool
    probability: float  # fitted probability that the documents answer the question
    near: bool  # not answerable, but the library comes close: show the closest passage


def judge(u: Understood, ev: Evidence, weights: Weights, min_dense: float) -> Verdict:
    if u.instruction or not ev.sentences:
        return Verdict(False, 0.0, False)
    gate, threshold = weights.gate_for(ev.read)
    p = float(gate.prob(ev.gate_features[None, :])[0])
    on_topic = max((x.score for x in ev.passages[:5]), default=0.0) >= min_dense
    return Verdict(p >= threshold, p, on_topic and p >= threshold / 2)
