"""LLM backends behind one interface; `create_llm` picks one from settings."""

from __future__ import annotations

from pydantic import ValidationError

from rag.errors import ConfigurationError, RagError
from rag.llm.base import (
    LLM,
    Generation,
    GenerationParams,
    LLMUnavailable,
    Message,
    NoTokenProbabilities,
    ScoresChoices,
    Usage,
)
from rag.settings import Settings

__all__ = [
    "LLM",
    "Generation",
    "GenerationParams",
    "LLMUnavailable",
    "Message",
    "NoTokenProbabilities",
    "ScoresChoices",
    "Usage",
    "create_llm",
    "generation_params",
]


def create_llm(settings: Settings) -> LLM:
    """The one place that picks the LLM backend; heavy imports happen here, lazily."""
    cfg = settings.llm
    if cfg.backend == "llamacpp":
        from rag.llm.llamacpp import LlamaCppLLM

        return LlamaCppLLM(
            cfg.model_path,
            settings.model_cache_dir,
            cfg.context_size,
            cfg.threads,
            cfg.timeout_s,
            flash_attention=cfg.flash_attention,
        )
    if cfg.backend == "ollama":
        from rag.llm.ollama_backend import OllamaLLM

        return OllamaLLM(cfg.ollama_url, cfg.ollama_model, cfg.timeout_s, cfg.keep_alive)
    raise ConfigurationError(f"unknown LLM backend {cfg.backend!r}: use llamacpp or ollama")


OVERRIDABLE = ("temperature", "top_p", "top_k", "max_tokens", "seed", "context_size")


def generation_params(settings: Settings, **overrides: object) -> GenerationParams:
    """Settings' generation parameters with per-request overrides, checked against the
    same bounds as the settings themselves. The context cannot grow past the configured
    one: the embedded model was loaded with that size."""
    cfg = settings.llm
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(OVERRIDABLE))
    if unknown:
        raise RagError(
            f"cannot override {', '.join(unknown)}; overridable: {', '.join(OVERRIDABLE)}"
        )
    try:
        checked = cfg.model_validate({**cfg.model_dump(), **given})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RagError(f"invalid generation parameters: {problems}") from None
    if checked.context_size > cfg.context_size:
        raise RagError(
            f"context_size {checked.context_size} is larger than this server's "
            f"{cfg.context_size} (RAG_LLM__CONTEXT_SIZE)"
        )
    return GenerationParams(**{k: getattr(checked, k) for k in OVERRIDABLE})
