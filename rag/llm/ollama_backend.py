"""Ollama backend, through the official `ollama` Python client.

Always sends `num_ctx`: Ollama otherwise silently cuts prompts to its default
context (R2R #1979, ragas #1120). Truncation is still detected afterwards: a
`prompt_eval_count` that reached the context size means the prompt was cut. (A
count below the prompt's size is not a sign: Ollama reuses cached prefixes and
counts only the tokens it evaluated.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from rag.llm.base import (
    Generation,
    GenerationParams,
    LLMUnavailable,
    Message,
    NoTokenProbabilities,
    Usage,
    normalise_choices,
    spellings,
)
from rag.logs import loggable_url


class OllamaLLM:
    def __init__(
        self,
        url: str,
        model: str,
        timeout_s: float = 120.0,
        keep_alive: str = "30m",
        **client_kwargs: Any,
    ) -> None:
        import ollama

        self._ollama = ollama
        # Extra keyword arguments reach httpx (tests pass a MockTransport).
        self._client = ollama.Client(host=url, timeout=timeout_s, **client_kwargs)
        self._url = loggable_url(url)  # for messages: the server log, never a user
        self._model = model
        self._keep_alive = keep_alive
        self.name = f"ollama:{model}"

    def count_tokens(self, text: str) -> int:
        # Ollama has no tokenize endpoint; ~4 characters a token is the usual
        # estimate for Latin scripts, enough to fit prompts and spot truncation.
        return max(1, len(text) // 4)

    def _unavailable(self, exc: Exception) -> LLMUnavailable:
        if isinstance(exc, self._ollama.ResponseError):
            if exc.status_code == 404:
                return LLMUnavailable(
                    f"Ollama at {self._url} does not have the model {self._model!r}: run "
                    f"`ollama pull {self._model}` on that server, or set RAG_LLM__OLLAMA_MODEL."
                )
            return LLMUnavailable(f"Ollama answered an error: {exc.error} ({exc.status_code})")
        if isinstance(exc, httpx.TimeoutException):
            return LLMUnavailable(f"Ollama at {self._url} did not answer in time")
        return LLMUnavailable(
            f"Ollama is unreachable at {self._url}: start it, or fix RAG_LLM__OLLAMA_URL"
        )

    def check(self) -> None:
        """Raise LLMUnavailable unless the server is up and has the model."""
        try:
            self._client.show(self._model)
        except (self._ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._unavailable(exc) from exc

    def _options(self, params: GenerationParams) -> dict[str, object]:
        options: dict[str, object] = {
            "num_ctx": params.context_size,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "top_k": params.top_k,
            "num_predict": params.max_tokens,
            "seed": params.seed,
        }
        if params.stop:
            options["stop"] = list(params.stop)
        return options

    def generate(self, messages: list[Message], params: GenerationParams) -> Generation:
        usage = Usage()
        expected = self.count_tokens("".join(m["content"] for m in messages))
        options = self._options(params)

        def stream() -> Iterator[str]:
            try:
                for part in self._client.chat(
                    model=self._model,
                    messages=messages,
                    stream=True,
                    options=options,
                    format=dict(params.json_schema) if params.json_schema else None,
                    keep_alive=self._keep_alive,
                ):
                    text = part.message.content if part.message else ""
                    if text:
                        yield text
                    if part.done:
                        usage.prompt_tokens = part.prompt_eval_count or 0
                        usage.completion_tokens = part.eval_count or 0
                        usage.truncated_prompt = (
                            expected > params.context_size
                            or usage.prompt_tokens >= params.context_size - 8
                        )
            except (self._ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
                raise self._unavailable(exc) from exc

        return Generation(stream(), usage)

    def choice_probabilities(
        self, messages: list[Message], choices: Sequence[str], params: GenerationParams
    ) -> dict[str, float]:
        """One token with its top log-probabilities (Ollama >= 0.12.11 returns them)."""
        options = {**self._options(params), "num_predict": 1, "temperature": 0.0}
        try:
            response = self._client.chat(
                model=self._model,
                messages=messages,
                options=options,
                logprobs=True,
                top_logprobs=20,
                keep_alive=self._keep_alive,
            )
        except (self._ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._unavailable(exc) from exc
        if not response.logprobs:
            raise NoTokenProbabilities(
                f"Ollama at {self._url} returned no logprobs: upgrade it to 0.12.11 or later"
            )
        first = response.logprobs[0]
        top = {t.token.strip(): t.logprob for t in (first.top_logprobs or [])}
        top.setdefault(first.token.strip(), first.logprob)
        return normalise_choices({c: [top[w] for w in spellings(c) if w in top] for c in choices})
