"""The embedded LLM: llama-cpp-python running a GGUF model in-process.

Loaded once on first use and kept warm. llama.cpp is not safe for concurrent
calls on one context, so generations are serialised by a lock.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ConfigurationError
from rag.llm.base import (
    Generation,
    GenerationParams,
    LLMUnavailable,
    Message,
    Usage,
    normalise_choices,
    spellings,
)
from rag.llm.model_files import embedded_model_path, verify_model_file


class LlamaCppLLM:
    def __init__(
        self,
        model_path: Path | None,
        cache_dir: Path,
        context_size: int = 4096,
        threads: int = 0,
        timeout_s: float = 120.0,
        flash_attention: bool = True,
    ) -> None:
        self._flash_attention = flash_attention
        self._timeout_s = timeout_s
        self._model_path = model_path
        self._cache_dir = cache_dir
        self._context_size = context_size
        self._threads = threads or (os.cpu_count() or 1)
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self.name = f"llamacpp:{(model_path or Path('embedded-qwen2.5-coder-1.5b')).name}"

    def _load(self) -> Any:
        if self._llama is None:
            with self._load_lock:
                if self._llama is None:
                    path = self._model_path or embedded_model_path(self._cache_dir)
                    verify_model_file(path)
                    try:
                        from llama_cpp import Llama
                    except ImportError as exc:
                        raise ConfigurationError(
                            "The embedded LLM needs llama-cpp-python: `pip install -e '.[llm]'`."
                        ) from exc
                    try:
                        self._llama = Llama(
                            model_path=str(path),
                            n_ctx=self._context_size,
                            n_threads=self._threads,
                            n_threads_batch=self._threads,
                            flash_attn=self._flash_attention,
                            verbose=False,
                        )
                    except (ValueError, RuntimeError) as exc:
                        raise ConfigurationError(
                            f"llama.cpp could not load {path} ({exc}). The file may be corrupt: "
                            "delete it to have the embedded model assembled again."
                        ) from exc
        return self._llama

    def warm_up(self) -> None:
        self._load()

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def count_tokens(self, text: str) -> int:
        return len(self._load().tokenize(text.encode(), add_bos=False, special=False))

    def generate(self, messages: list[Message], params: GenerationParams) -> Generation:
        llama = self._load()
        usage = Usage()

        def stream() -> Iterator[str]:
            with self._generate_lock:
                try:
                    chunks = llama.create_chat_completion(
                        messages=messages,
                        temperature=params.temperature,
                        top_p=params.top_p,
                        top_k=params.top_k,
                        max_tokens=params.max_tokens,
                        seed=params.seed,
                        stop=list(params.stop) or None,
                        response_format=_response_format(params),
                        stream=True,
                    )
                    completion = 0
                    deadline = time.monotonic() + self._timeout_s
                    for chunk in chunks:
                        if time.monotonic() > deadline:
                            chunks.close()  # stops llama.cpp's decoding loop
                            raise LLMUnavailable(
                                f"the embedded model did not finish within {self._timeout_s:g} s "
                                "(RAG_LLM__TIMEOUT_S)"
                            )
                        delta = chunk["choices"][0].get("delta", {}).get("content")
                        if delta:
                            completion += 1
                            yield delta
                except ValueError as exc:  # llama.cpp: prompt longer than the context
                    raise LLMUnavailable(f"the prompt does not fit the model ({exc})") from exc
                prompt = "".join(m["content"] for m in messages)
                usage.prompt_tokens = self.count_tokens(prompt)
                usage.completion_tokens = completion

        return Generation(stream(), usage)

    def choice_probabilities(
        self, messages: list[Message], choices: Sequence[str], params: GenerationParams
    ) -> dict[str, float]:
        """One decoding step; the logits of that step are read through a logits processor
        (llama-cpp-python only returns logprobs for models loaded with `logits_all`, which
        would cost n_ctx x 152k floats). The prompt prefix shared with the previous call
        is reused from the KV cache, so several checks against one context are cheap."""
        from llama_cpp import LogitsProcessorList

        llama = self._load()
        captured: list[np.ndarray] = []

        def capture(_ids: Any, logits: Any) -> Any:
            if not captured:
                captured.append(np.array(logits, dtype=np.float64, copy=True))
            return logits

        with self._generate_lock:
            try:
                llama.create_chat_completion(
                    messages=messages,
                    max_tokens=1,
                    temperature=0.0,
                    seed=params.seed,
                    logits_processor=LogitsProcessorList([capture]),
                )
            except ValueError as exc:
                raise LLMUnavailable(f"the prompt does not fit the model ({exc})") from exc
        if not captured:
            raise LLMUnavailable("llama.cpp returned no logits for the judge's question")
        logits = captured[0]
        log_z = float(np.logaddexp.reduce(logits))
        first_ids = {
            c: {llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in spellings(c)}
            for c in choices
        }
        return normalise_choices(
            {c: [float(logits[i]) - log_z for i in ids] for c, ids in first_ids.items()}
        )


def _response_format(params: GenerationParams) -> dict[str, Any] | None:
    if params.json_schema is None:
        return None
    return {"type": "json_object", "schema": dict(params.json_schema)}
