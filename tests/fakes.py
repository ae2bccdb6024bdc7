"""Test doubles for the LLM: scripted answers, failures, and call records."""

from __future__ import annotations

from collections.abc import Iterator

from rag.llm import Generation, GenerationParams, LLMUnavailable, Message, Usage


class ScriptedLLM:
    """Answers each call with the next scripted reply (a string, or an exception)."""

    name = "scripted"

    def __init__(self, *replies: str | Exception, fail_after: int | None = None) -> None:
        self.replies = list(replies)
        self.calls: list[list[Message]] = []
        self.fail_after = fail_after  # raise LLMUnavailable after this many pieces

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def generate(self, messages: list[Message], params: GenerationParams) -> Generation:
        self.calls.append(messages)
        reply = self.replies.pop(0) if self.replies else "Réponse [1]."
        if isinstance(reply, Exception):
            raise reply
        usage = Usage(prompt_tokens=self.count_tokens(str(messages)))

        def pieces() -> Iterator[str]:
            for i, word in enumerate(reply.split(" ")):
                if self.fail_after is not None and i >= self.fail_after:
                    raise LLMUnavailable("the model server went away")
                yield word if i == 0 else " " + word
            usage.completion_tokens = len(reply.split(" "))

        return Generation(pieces(), usage)
