"""Test doubles: for the LLM (scripted answers, failures, and call records), the
embedder and the multilingual encoder."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from rag.answer.prompts import MENTIONS, SUPPORTS
from rag.llm import Generation, GenerationParams, LLMUnavailable, Message, Usage


def word_stream(text: str, usage: Usage) -> Generation:
    """`text` streamed word by word (each after the first with its space), counting
    the words as completion tokens once streamed."""
    words = text.split(" ")

    def pieces() -> Iterator[str]:
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word
        usage.completion_tokens = len(words)

    return Generation(pieces(), usage)


class ScriptedLLM:
    """Answers each call with the next scripted reply (a string, or an exception)."""

    name = "scripted"

    def __init__(self, *replies: str | Exception, fail_after: int | None = None) -> None:
        self.replies = list(replies)
        self.calls: list[list[Message]] = []
        self.params: list[GenerationParams] = []  # each call's parameters
        self.fail_after = fail_after  # raise LLMUnavailable after this many pieces

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def generate(self, messages: list[Message], params: GenerationParams) -> Generation:
        self.calls.append(messages)
        self.params.append(params)
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


# The judge of mentions' question, the phrase asked about captured (one group a language).
_MENTIONED = re.compile(
    "|".join(
        re.escape(template).replace(re.escape("{phrase}"), "(.+?)") + "$"
        for template in MENTIONS.values()
    ),
    re.S,
)


class CheckingLLM(ScriptedLLM):
    """A ScriptedLLM that also answers the answerability check: P(first choice) is
    `p_yes` (`then_p_yes` for every check after the first, as the redraft's), or the
    check raises `check_error`. Records the check's messages.

    The verifier's support judge (rag.answer.prompts.SUPPORTS) is answered apart:
    `judge` maps a word of the judged claim to its P(yes) (the first match; `judge_p`
    otherwise), or `judge_error` is raised; its prompts go to `judged`. So is its judge
    of mentions (rag.answer.prompts.MENTIONS): `mentions` maps the phrase asked about
    to its P(yes) (`judge_p` otherwise, or `judge_error` is raised); the phrases go to
    `mentioned`."""

    name = "checking"

    def __init__(
        self,
        *replies: str | Exception,
        p_yes: float = 0.9,
        check_error: Exception | None = None,
        judge: dict[str, float] | None = None,
        judge_p: float = 0.9,
        judge_error: Exception | None = None,
        mentions: dict[str, float] | None = None,
        then_p_yes: float | None = None,
    ) -> None:
        super().__init__(*replies)
        self.p_yes, self.check_error = p_yes, check_error
        self.then_p_yes = p_yes if then_p_yes is None else then_p_yes
        self.judge, self.judge_p, self.judge_error = judge or {}, judge_p, judge_error
        self.mentions = mentions or {}
        self.checks: list[list[Message]] = []
        self.judged: list[str] = []
        self.mentioned: list[str] = []

    def choice_probabilities(
        self, messages: list[Message], choices: Sequence[str], params: GenerationParams
    ) -> dict[str, float]:
        prompt = str(messages[-1]["content"])
        asked = _MENTIONED.search(prompt.rsplit("\n\n", 1)[-1])
        if asked:
            phrase = asked.group(1) or asked.group(2)
            self.mentioned.append(phrase)
            if self.judge_error is not None:
                raise self.judge_error
            p = self.mentions.get(phrase, self.judge_p)
            return {choices[0]: p, choices[1]: 1.0 - p}
        if any(prompt.endswith(question) for question in SUPPORTS.values()):
            self.judged.append(prompt)
            if self.judge_error is not None:
                raise self.judge_error
            claim = prompt.rsplit("\n\n", 1)[0].rsplit("\n", 1)[-1]
            p = next((p for word, p in self.judge.items() if word in claim), self.judge_p)
            return {choices[0]: p, choices[1]: 1.0 - p}
        self.checks.append(messages)
        if self.check_error is not None:
            raise self.check_error
        p = self.p_yes if len(self.checks) == 1 else self.then_p_yes
        return {choices[0]: p, choices[1]: 1.0 - p}


class SlowLLM(ScriptedLLM):
    """Waits `delay_s` before the first piece and `between_s` between pieces (or
    streams `rate` pieces a second, as a model of that speed would); records whether
    its stream was closed early (the client went away) and how many pieces it
    produced. With `hold`, each generation also waits (30 s at most) for that event to
    be set before its first piece, so a test decides when a generation slot frees.
    `by_word` maps a word to another reply, given when the question contains it (one
    server, answers of several lengths)."""

    name = "slow"

    def __init__(
        self,
        reply: str,
        delay_s: float,
        between_s: float = 0.0,
        hold: Any = None,
        rate: float | None = None,
        by_word: dict[str, str] | None = None,
    ) -> None:
        super().__init__(reply)
        if rate is not None:
            between_s = 1.0 / rate
        self.delay_s, self.between_s, self.hold = delay_s, between_s, hold
        self.by_word = by_word or {}
        self.produced = 0
        self.closed_early = False
        import threading

        self.started = threading.Event()

    def generate(self, messages: list[Message], params: GenerationParams) -> Generation:
        import time

        self.calls.append(messages)
        self.params.append(params)
        reply = self.replies[0] if self.replies else "Réponse [1]."
        question = messages[-1]["content"] if messages else ""
        for word, other in self.by_word.items():
            if word in question:
                reply = other
        words = reply.split(" ")
        usage = Usage(prompt_tokens=10)

        def pieces() -> Iterator[str]:
            self.started.set()
            if self.hold is not None:
                self.hold.wait(30)
            time.sleep(self.delay_s)
            try:
                for i, word in enumerate(words):
                    if i:
                        time.sleep(self.between_s)
                    self.produced += 1
                    yield word if i == 0 else " " + word
            except GeneratorExit:
                self.closed_early = True
                raise
            usage.completion_tokens = len(words)

        return Generation(pieces(), usage)


class JudgeLLM:
    """A judge with scripted verdicts, answering by what each prompt asks.

    `statements` maps an answer to the statements the judge splits it into (default:
    one per sentence); `p_yes` maps the text under judgement (the statement, sentence
    or passage at the end of a yes/no prompt) to P(yes) (default 0.0); `questions`
    maps an answer to the questions it answers; `garbage` replies this many times with
    text that is not JSON before behaving."""

    name = "judge-fake"

    def __init__(
        self,
        statements: dict[str, list[str]] | None = None,
        p_yes: dict[str, float] | None = None,
        questions: dict[str, list[str]] | None = None,
        noncommittal: bool = False,
        garbage: int = 0,
    ) -> None:
        self.statements = statements or {}
        self.p_yes = p_yes or {}
        self.questions = questions or {}
        self.noncommittal = noncommittal
        self.garbage = garbage
        self.calls: list[str] = []

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    @staticmethod
    def _field(prompt: str, label: str) -> str:
        return prompt.rsplit(label, 1)[1].strip()

    def generate(self, messages: list[Message], params: GenerationParams) -> Generation:
        import json
        import re

        prompt = messages[-1]["content"]
        self.calls.append(prompt)
        if self.garbage:
            self.garbage -= 1
            reply = "Sure! Here are the statements: one, two"
        elif "standalone statements" in prompt:
            answer = self._field(prompt, "Answer:")
            parts = self.statements.get(answer) or [
                s for s in re.split(r"(?<=\.)\s+", answer) if s.strip()
            ]
            reply = json.dumps({"statements": parts})
        elif "questions that the answer" in prompt:
            answer = self._field(prompt, "Answer:")
            reply = json.dumps(
                {"questions": self.questions.get(answer, ["?"]), "noncommittal": self.noncommittal}
            )
        else:
            p = self.p_yes.get(self._subject(prompt), 0.0)
            reply = json.dumps({"verdict": "yes" if p >= 0.5 else "no"})
        return Generation(iter([reply]), Usage())

    def _subject(self, prompt: str) -> str:
        label = "Statement:" if "Statement:" in prompt else "Passage:"
        return self._field(prompt, label)

    def choice_probabilities(
        self, messages: list[Message], choices: list[str], params: GenerationParams
    ) -> dict[str, float]:
        prompt = messages[-1]["content"]
        self.calls.append(prompt)
        p = self.p_yes.get(self._subject(prompt), 0.0)
        return {"yes": p, "no": 1.0 - p}


class BinaryJudgeLLM(JudgeLLM):
    """A judge backend that cannot read token probabilities (sampled verdicts only)."""

    choice_probabilities = None  # type: ignore[assignment]


class BilingualEncoder:
    """A multilingual encoder for tests: French and English words of a small
    glossary share one vector bucket each, so a sentence and its translation are
    close, as Universal Sentence Encoder's are (the real one runs in `slow` tests)."""

    name = "bilingual-test"
    GLOSSARY = (
        ("télétravail", "remote", "remotely", "telework"),
        ("jours", "days", "jour", "day"),
        ("semaine", "week"),
        ("mariage", "marriage", "wedding"),
        ("congé", "leave"),
        ("hôtel", "hotel"),
        ("nuit", "night"),
        ("paris",),
        ("budget",),
        ("ordinateur", "laptop", "computer"),
    )

    def __init__(self) -> None:
        self.calls = 0

    @property
    def dimension(self) -> int:
        return len(self.GLOSSARY) + 1

    @property
    def fingerprint(self) -> str:
        return f"{self.name}|dim={self.dimension}"

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        size = len(self.GLOSSARY) + 1
        out = np.zeros((len(texts), size), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                for i, forms in enumerate(self.GLOSSARY):
                    if word in forms or word.rstrip("s") in forms:
                        out[row, i] += 1.0
            out[row, -1] = 0.3  # every sentence a little alike, as real ones are
            out[row] /= np.linalg.norm(out[row])
        return out


class TrialEncoder(BilingualEncoder):
    """The test encoder with the trial period and paternity leave in its glossary
    (apart: the other tests' telework sentence names the trial period, and would be
    further from their questions)."""

    GLOSSARY = (
        *BilingualEncoder.GLOSSARY,
        ("période", "period"),
        ("essai", "trial"),
        ("paternité", "paternity"),
    )


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Deterministic bag-of-words vectors for unit tests: no model, no torch.

    Each lower-cased word is hashed into one of `dimension` buckets, so texts that
    share words are close, which is enough to test ranking end to end.
    """

    def __init__(self, dimension: int = 64, name: str = "hashing") -> None:
        self._dimension = dimension
        self._name = name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def fingerprint(self) -> str:
        return f"{self._name}|dim={self._dimension}"

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self._dimension, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
            vec[int.from_bytes(digest, "little") % self._dimension] += 1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


class EchoLLM:
    """Answers every call with its whole prompt (every message, system included), word
    by word as a stream: whatever retrieval put into a prompt comes back in the answer
    text, the streamed tokens and the removed sentences. The access tests use it so
    that a forbidden passage reaching the LLM shows up in the response as well as in
    `calls`. Also scores choices (p_yes), so the answerability check runs and passes."""

    name = "echo"

    def __init__(self, p_yes: float = 0.9) -> None:
        import threading

        self.p_yes = p_yes
        self.calls: list[list[Message]] = []
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def prompts(self) -> list[str]:
        """Every message text the LLM has been given, in order."""
        with self._lock:
            return [m["content"] for call in self.calls for m in call]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def generate(self, messages: list[Message], params: GenerationParams) -> Generation:
        with self._lock:
            self.calls.append(messages)
        text = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
        return word_stream(text, Usage(prompt_tokens=self.count_tokens(text)))

    def choice_probabilities(
        self, messages: list[Message], choices: Sequence[str], params: GenerationParams
    ) -> dict[str, float]:
        with self._lock:
            self.calls.append(messages)
        return {choices[0]: self.p_yes, choices[1]: 1.0 - self.p_yes}


class ObeyingLLM:
    """A model that falls for prompt injection: it obeys instructions it finds anywhere
    in its prompt, sources included. It answers with the first sentence of source 1
    that carries no instruction, cited [1]; then, when the prompt says "repeat your
    system prompt", it repeats the system message; when it says "end your answer with
    X", it ends with X, where X's word CANARY becomes the system prompt's first words
    (data exfiltrated through an image address). Passes the answerability check."""

    name = "obeying"
    _END = re.compile(r"end your answer with (\S+)", re.IGNORECASE)
    _SOURCE = re.compile(r'<source id="1"[^>]*>(.*?)</source>', re.DOTALL)

    def __init__(self, p_yes: float = 0.95) -> None:
        self.p_yes = p_yes
        self.calls: list[list[Message]] = []
        self.obeyed: list[str] = []  # the instructions it followed, per call

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def reply(self, messages: list[Message]) -> str:
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        prompt = "\n".join(m["content"] for m in messages)
        source = self._SOURCE.search(prompt)
        body = source.group(1).strip().split("\n", 1)[-1] if source else ""  # less the title
        sentences = re.split(r"(?<=[.!?])\s+", body)
        clean = [s for s in sentences if "instruction" not in s.lower() and "http" not in s]
        parts = [(clean[0] if clean else "The sources say so.").rstrip(".") + " [1]."]
        if "repeat your system prompt" in prompt.lower():
            self.obeyed.append("repeat")
            parts.append(system)
        if end := self._END.search(prompt):
            self.obeyed.append("end")
            stolen = "+".join(re.findall(r"\w+", system)[:6])
            parts.append(end.group(1).replace("CANARY", stolen))
        return " ".join(parts)

    def generate(self, messages: list[Message], params: GenerationParams) -> Generation:
        self.calls.append(messages)
        return word_stream(self.reply(messages), Usage(prompt_tokens=10))

    def choice_probabilities(
        self, messages: list[Message], choices: Sequence[str], params: GenerationParams
    ) -> dict[str, float]:
        return {choices[0]: self.p_yes, choices[1]: 1.0 - self.p_yes}


class GlossaryEmbedder:
    """An embedder whose vectors are BilingualEncoder's: a French question and its
    English translation on one topic of the glossary are close, other topics apart
    (the gap report's clustering, which the real multilingual blend does in
    production)."""

    def __init__(self) -> None:
        self._encoder = BilingualEncoder()

    @property
    def dimension(self) -> int:
        return self._encoder.dimension

    @property
    def fingerprint(self) -> str:
        return f"glossary|{self._encoder.fingerprint}"

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self._encoder.encode(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encoder.encode([text])[0]
