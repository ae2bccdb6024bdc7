"""The interface every LLM backend implements, and the errors they raise.

A backend streams text for a list of chat messages. It reports token usage at
the end, and raises LLMUnavailable when it cannot answer (server down, model
missing, timeout) so the caller can fall back to an extractive answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from rag.errors import RagError


class LLMUnavailable(RagError):
    """The LLM cannot answer now; the message says why and what to do."""


class NoTokenProbabilities(LLMUnavailable):
    """The backend answers, but cannot tell the probabilities of its next token (an
    Ollama older than 0.12.11): checks that need them are skipped, not failed."""


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 40
    max_tokens: int = 384
    seed: int = 42
    context_size: int = 4096
    stop: tuple[str, ...] = ()
    json_schema: Mapping[str, Any] | None = None
    """Constrain the output to JSON matching this schema (llama.cpp grammar, Ollama
    `format`). Small models break free-form JSON; the eval judge relies on this."""


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


def spellings(choice: str) -> tuple[str, ...]:
    """The ways a model may start a one-word answer: "yes", "Yes", "YES"."""
    return tuple(dict.fromkeys((choice, choice.lower(), choice.capitalize(), choice.upper())))


def normalise_choices(logprobs: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Per choice, the log-probabilities of its spellings -> probabilities summed per
    choice and renormalised over the choices (softmax over log-sum-exp)."""
    import math

    totals = {
        c: math.log(sum(math.exp(v) for v in values)) if values else -math.inf
        for c, values in logprobs.items()
    }
    top = max(totals.values())
    if top == -math.inf:
        return {c: 1.0 / len(totals) for c in totals}
    weights = {c: math.exp(v - top) for c, v in totals.items()}
    norm = sum(weights.values())
    return {c: w / norm for c, w in weights.items()}


@runtime_checkable
class ScoresChoices(Protocol):
    """A backend that can read the model's next-token distribution.

    Used by the eval judge for yes/no verdicts: the probability of "yes" grades a
    verdict where a sampled answer would only give 0 or 1 (the G-Eval idea of
    probability-weighted scores, Liu et al. 2023)."""

    def choice_probabilities(
        self, messages: list[Message], choices: Sequence[str], params: GenerationParams
    ) -> dict[str, float]:
        """Probability of each choice as the answer's first token, renormalised over the
        choices (each choice's spelling variants, e.g. "yes"/"Yes", are summed)."""
        ...
