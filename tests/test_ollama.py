"""The Ollama backend against a stand-in that speaks Ollama's HTTP protocol."""

from __future__ import annotations

import json

import httpx
import pytest

from rag.llm import GenerationParams, LLMUnavailable
from rag.llm.ollama_backend import OllamaLLM


class FakeOllama:
    """Just enough of Ollama: /api/chat (NDJSON stream), /api/show, /api/tags."""

    def __init__(
        self,
        models=("qwen2.5:1.5b-instruct",),
        reply="Cinq jours [1].",
        prompt_eval=120,
        top_logprobs=None,
    ):
        self.top_logprobs = top_logprobs  # [(token, logprob)] for requests with logprobs
        self.models = set(models)
        self.reply = reply
        self.prompt_eval = prompt_eval
        self.requests: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        self.requests.append({"path": request.url.path, **body})
        if request.url.path == "/api/tags":
            return httpx.Response(200, json={"models": [{"name": m} for m in self.models]})
        if body.get("model") not in self.models:
            return httpx.Response(404, json={"error": f"model '{body.get('model')}' not found"})
        if request.url.path == "/api/show":
            return httpx.Response(200, json={"modelfile": "", "details": {"family": "qwen2"}})
        if request.url.path == "/api/chat" and not body.get("stream", True):
            # A non-streamed chat is one object; with `logprobs` Ollama (>= 0.12.11) adds
            # one entry per generated token, each with its top alternatives.
            answer: dict = {
                "model": body["model"],
                "message": {"role": "assistant", "content": self.reply},
                "done": True,
                "prompt_eval_count": self.prompt_eval,
                "eval_count": 1,
            }
            if body.get("logprobs") and self.top_logprobs is not None:
                token, logprob = self.top_logprobs[0]
                answer["logprobs"] = [
                    {
                        "token": token,
                        "logprob": logprob,
                        "top_logprobs": [{"token": t, "logprob": p} for t, p in self.top_logprobs],
                    }
                ]
            return httpx.Response(200, json=answer)
        if request.url.path == "/api/chat":
            words = self.reply.split(" ")
            lines = [
                {
                    "model": body["model"],
                    "message": {"role": "assistant", "content": w if i == 0 else " " + w},
                    "done": False,
                }
                for i, w in enumerate(words)
            ]
            lines.append(
                {
                    "model": body["model"],
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "prompt_eval_count": self.prompt_eval,
                    "eval_count": len(words),
                }
            )
            return httpx.Response(
                200,
                content="\n".join(json.dumps(x) for x in lines).encode(),
                headers={"content-type": "application/x-ndjson"},
            )
        return httpx.Response(404, json={"error": "no such route"})


def llm(fake: FakeOllama, model: str = "qwen2.5:1.5b-instruct") -> OllamaLLM:
    return OllamaLLM("http://ollama.test:11434", model, transport=httpx.MockTransport(fake))


MESSAGES = [{"role": "system", "content": "Réponds."}, {"role": "user", "content": "Question ?"}]


def test_streams_tokens_and_usage_and_always_sends_num_ctx() -> None:
    fake = FakeOllama()
    generation = llm(fake).generate(MESSAGES, GenerationParams(context_size=8192, seed=7))
    assert "".join(generation) == "Cinq jours [1]."
    assert generation.usage.prompt_tokens == 120 and generation.usage.completion_tokens == 3
    assert not generation.usage.truncated_prompt
    sent = fake.requests[-1]
    assert sent["options"]["num_ctx"] == 8192 and sent["options"]["seed"] == 7
    assert sent["stream"] is True


def test_truncation_is_detected_from_prompt_eval_count() -> None:
    fake = FakeOllama(prompt_eval=2048)
    generation = llm(fake).generate(MESSAGES, GenerationParams(context_size=2048))
    list(generation)
    assert generation.usage.truncated_prompt


def test_model_not_pulled_says_what_to_do() -> None:
    with pytest.raises(LLMUnavailable, match="ollama pull mistral"):
        list(llm(FakeOllama(), model="mistral").generate(MESSAGES, GenerationParams()))
    with pytest.raises(LLMUnavailable, match="ollama pull mistral"):
        llm(FakeOllama(), model="mistral").check()


def test_unreachable_server() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    backend = OllamaLLM("http://ollama.test:11434", "m", transport=httpx.MockTransport(refuse))
    with pytest.raises(LLMUnavailable, match="unreachable"):
        list(backend.generate(MESSAGES, GenerationParams()))


def test_timeout() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    backend = OllamaLLM("http://ollama.test:11434", "m", transport=httpx.MockTransport(slow))
    with pytest.raises(LLMUnavailable, match="did not answer in time"):
        list(backend.generate(MESSAGES, GenerationParams()))


def test_json_schema_is_sent_as_format() -> None:
    fake = FakeOllama(reply='{"verdict": "yes"}')
    schema = {"type": "object", "properties": {"verdict": {"enum": ["yes", "no"]}}}
    text = "".join(llm(fake).generate(MESSAGES, GenerationParams(json_schema=schema)))
    assert json.loads(text) == {"verdict": "yes"}
    assert fake.requests[-1]["format"] == schema


def test_choice_probabilities_from_logprobs() -> None:
    import math

    fake = FakeOllama(
        reply="Yes",
        top_logprobs=[("Yes", math.log(0.6)), ("yes", math.log(0.1)), ("No", math.log(0.1))],
    )
    probabilities = llm(fake).choice_probabilities(MESSAGES, ["yes", "no"], GenerationParams())
    assert probabilities["yes"] == pytest.approx(0.7 / 0.8)
    assert probabilities["no"] == pytest.approx(0.1 / 0.8)
    sent = fake.requests[-1]
    assert sent["logprobs"] is True and sent["options"]["num_predict"] == 1
    assert sent["options"]["num_ctx"] == 4096


def test_choice_probabilities_need_an_ollama_that_returns_logprobs() -> None:
    fake = FakeOllama(reply="Yes", top_logprobs=None)
    with pytest.raises(LLMUnavailable, match=r"0\.12\.11"):
        llm(fake).choice_probabilities(MESSAGES, ["yes", "no"], GenerationParams())
