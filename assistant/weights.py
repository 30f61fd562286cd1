"""Every fitted number of the answer path, in one file (assistant/data/weights.json) written by
`python -m evals.fit`: three logistic models (passage relevance, sentence relevance, answerability)
and the composer's thresholds, each with how it was fitted. Nothing here is set by hand."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).with_name("data") / "weights.json"


@dataclass(frozen=True)
class Linear:
    """A logistic model over named features: p = σ(intercept + Σ coef[name] · x[name])."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    def prob(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for the rows of `x` (columns in the order of `features`)."""
        if x.size == 0:
            return np.zeros(len(x))
        z = x @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))

    @classmethod
    def fit(cls, features: tuple[str, ...], x: np.ndarray, y: np.ndarray, l2: float = 1.0,
            weight: np.ndarray | None = None, never_up: frozenset[str] = frozenset()) -> Linear:
        """L2-regularised logistic regression by Newton's method on standardised features (the
        penalty then treats every feature alike); the intercept is not penalised. A feature in
        `never_up` may only lower the probability: when its fitted coefficient is positive, it is
        left out (coefficient 0) and the rest fitted again."""
        model, out = cls._fit(features, x, y, l2, weight), set[int]()
        while up := {i for i, f in enumerate(features) if f in never_up and model.coef[i] > 0} - out:
            out |= up
            x = x.copy()
            x[:, sorted(out)] = 0.0
            model = cls._fit(features, x, y, l2, weight)
        return model

    @classmethod
    def _fit(cls, features: tuple[str, ...], x: np.ndarray, y: np.ndarray, l2: float,
             weight: np.ndarray | None) -> Linear:
        mu, sd = x.mean(0), x.std(0) + 1e-9
        z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
        w = np.zeros(z.shape[1])
        sw = np.ones(len(y)) if weight is None else weight
        reg = np.eye(len(w)) * l2
        reg[-1, -1] = 0.0
        for _ in range(100):
            p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -40, 40)))
            grad = z.T @ (sw * (p - y)) + reg @ w
            hess = (z * (sw * p * (1 - p))[:, None]).T @ z + reg
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        coef = w[:-1] / sd
        return cls(features, tuple(float(c) for c in coef), float(w[-1] - (mu * coef).sum()))


@dataclass(frozen=True)
class ReaderWeights:
    """The answer path's second stage, when the reader runs: the sentence model and the gate with the
    reader's features added (the first-stage models stay the fallback without it)."""

    sentence: Linear
    gate: Linear
    gate_threshold: float


@dataclass(frozen=True)
class Weights:
    """The fitted answer path. `compose` holds the composer's thresholds (chosen by cross-validated
    grid search), `fitted` how and on what all of it was fitted."""

    passage: Linear
    sentence: Linear
    gate: Linear
    gate_threshold: float
    compose: dict[str, float]
    fitted: dict[str, Any] = field(default_factory=dict)
    reader: ReaderWeights | None = None

    def gate_for(self, read: bool) -> tuple[Linear, float]:
        """The gate that matches the evidence: with the reader's column, or without."""
        if read and self.reader is not None:
            return self.reader.gate, self.reader.gate_threshold
        return self.gate, self.gate_threshold

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Weights:
        lin = lambda m: Linear(tuple(m["features"]), tuple(m["coef"]), float(m["intercept"]))  # noqa: E731
        r = d.get("reader")
        reader = ReaderWeights(lin(r["sentence"]), lin(r["gate"]), float(r["gate_threshold"])) if r else None
        return cls(lin(d["passage"]), lin(d["sentence"]), lin(d["gate"]), float(d["gate_threshold"]),
                   dict(d["compose"]), dict(d.get("fitted", {})), reader)

    def save(self, path: Path = WEIGHTS) -> None:
        path.write_text(self.to_json() + "\n", encoding="utf-8")


@lru_cache(maxsize=4)
def load(path: Path = WEIGHTS) -> Weights:
    return Weights.from_dict(json.loads(path.read_text(encoding="utf-8")))
