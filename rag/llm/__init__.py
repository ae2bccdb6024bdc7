"""LLM backends behind one interface; `create_llm` picks one from settings."""

from __future__ import annotations

from rag.errors import ConfigurationError
from rag.llm.base import (
    LLM,
    Generation,
    GenerationParams,
    LLMUnavailable,
    Message,
    Usage,
)
from rag.settings import Settings

__all__ = [
    "LLM",
    "Generation",
    "GenerationParams",
    "LLMUnavailable",
    "Message",
    "Usage",
    "create_llm",
    "generation_params",
]


def create_llm(settings: Settings) -> LLM:
    """The one place that picks the LLM backend; heavy imports happen here, lazily."""
    cfg = settings.llm
    if cfg.backend == "llamacpp":
        from rag.llm.llamacpp import LlamaCppLLM

        return LlamaCppLLM(cfg.model_path, settings.model_cache_dir, cfg.context_size, cfg.threads)
    if cfg.backend == "ollama":
        from rag.llm.ollama_backend import OllamaLLM

        return OllamaLLM(cfg.ollama_url, cfg.ollama_model, cfg.timeout_s, cfg.keep_alive)
    raise ConfigurationError(f"unknown LLM backend {cfg.backend!r}: use llamacpp or ollama")


def generation_params(settings: Settings, **overrides: object) -> GenerationParams:
    """Settings' generation parameters, with per-request overrides (already validated)."""
    cfg = settings.llm
    values: dict[str, object] = {
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "top_k": cfg.top_k,
        "max_tokens": cfg.max_tokens,
        "seed": cfg.seed,
        "context_size": cfg.context_size,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return GenerationParams(**values)  # type: ignore[arg-type]
