"""The interface every LLM backend implements, and the errors they raise.

A backend streams text for a list of chat messages. It reports token usage at
the end, and raises LLMUnavailable when it cannot answer (server down, model
missing, timeout) so the caller can fall back to an extractive answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from rag.errors import RagError


class LLMUnavailable(RagError):
    """The LLM cannot answer now; the message says why and what to do."""


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 40
    max_tokens: int = 384
    seed: int = 42
    context_size: int = 4096
    stop: tuple[str, ...] = ()


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    truncated_prompt: bool = False

    def to_dict(self) -> dict[str, int | bool]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "truncated_prompt": self.truncated_prompt,
        }


@dataclass
class Generation:
    """Streams text pieces; `usage` is filled once the stream is exhausted."""

    pieces: Iterator[str]
    usage: Usage = field(default_factory=Usage)

    def __iter__(self) -> Iterator[str]:
        return self.pieces


Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


@runtime_checkable
class LLM(Protocol):
    name: str

    def count_tokens(self, text: str) -> int: ...

    def generate(self, messages: list[Message], params: GenerationParams) -> Generation: ...
