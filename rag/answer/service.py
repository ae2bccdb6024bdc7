"""Grounded answers: retrieve, prompt with numbered sources, stream, verify citations.

Modes: `generative` (the LLM answered from the sources), `extractive` (the LLM is
unreachable or timed out: the most relevant passages, labelled as such), and
`not_found` (nothing relevant was retrieved, so the LLM is not called, or the LLM
said the sources do not answer).

With `web=True` (and web search enabled for the deployment), SearXNG is asked
alongside retrieval; its results join the prompt as `[W1]`, `[W2]`... in a block of
their own, are cited and verified apart (`kind: "web"`), and never join the
internal sources, the store or the index (see rag/web.py).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from opentelemetry.trace import Span

from rag.answer.citations import parse_citations
from rag.answer.definition import defined_term, only_in_passing
from rag.answer.evidence import Evidence, Source, is_heading, rarity, without_heading
from rag.answer.language import cleaned, off_language, says_the_same
from rag.answer.links import HTML, UNTRUSTED_URL, DraftGuard, defang, strip_untrusted
from rag.answer.prompts import (
    ANSWERABLE,
    DECLINED_INTRO,
    EXTRACTIVE_INTRO,
    NOT_FOUND,
    UNVERIFIED_INTRO,
    YES_NO,
    Closeness,
    Prompt,
    answer_now,
    build_prompt,
    looks_not_found,
    mentions_messages,
    only_echoes,
    rewrite_messages,
    supports_messages,
    translate_messages,
    with_line,
    without_echo,
)
from rag.answer.verify import (
    NO_QUANTITY,
    OFF_TOPIC,
    RESTATES,
    Judge,
    Mentions,
    Removal,
    Translate,
    Verification,
    Verifier,
    VerifySettings,
)
from rag.answer.web import PendingWebSearch, SearxngClient, WebResult, WebSearchUnavailable
from rag.embedding import BlendedEmbedder, retrieval_model
from rag.llm import (
    LLM,
    GenerationParams,
    LLMUnavailable,
    Message,
    NoTokenProbabilities,
    ScoresChoices,
    Usage,
    generation_params,
)
from rag.multilingual import Usem3Encoder, create_multilingual
from rag.retrieval.hybrid import SearchHit
from rag.retrieval.service import SearchService
from rag.settings import Settings
from rag.text import detect_language, sentences, stem_terms
from rag.tracing import span
from rag.types import SearchFilters

log = logging.getLogger(__name__)

# Notices users see when a backend fails: what happened, never where (the backends'
# messages name their servers' addresses and settings: they go to the server log).
LLM_UNAVAILABLE = "LLM unavailable: the language model is not answering (details in the server log)"
NOT_REWRITTEN = "follow-up not rewritten: the language model is not answering"
NO_PROBABILITIES = (
    "answerability not checked: the language model does not report token probabilities"
)

REDRAFTED = (
    "the first draft could not be verified: answered again from the sentence that bears "
    "most on the question"
)
WEB_ONLY = "answered from web results only: external sources, not checked by the company"
WEB_DISABLED = (
    "web search is not enabled on this deployment (RAG_WEB__ENABLED); the answer uses "
    "internal documents only"
)


def web_query(question: str, history: Sequence[Message] | None, limit: int) -> str:
    """What is sent to SearXNG: the user's own words, never the standalone rewrite.

    The rewrite is the LLM's, made from the whole conversation, whose assistant turns
    quote internal documents: an answer's figure, a client's name, could leave the
    company in it. The question as asked, after the user's previous question (a
    follow-up such as "Et pour un PACS ?" says nothing alone), is what the user chose
    to send when asking for web results."""
    previous = [
        m["content"].strip()
        for m in history or ()
        if m.get("role") == "user" and isinstance(m.get("content"), str) and m["content"].strip()
    ]
    if not previous:
        return question
    return f"{previous[-1][: max(0, limit - len(question) - 1)]} {question}".strip()


def new_answer_id() -> str:
    """An answer's id: 32 random hex digits (a UUID4), unguessable, so an id seen in a
    log or a URL says nothing about other answers."""
    return uuid.uuid4().hex


# How an answer was made (module docstring).
Mode = Literal["generative", "extractive", "not_found"]


@dataclass
class Citation:
    n: int
    document_id: int
    title: str
    path: str
    page: int
    quote: str
    start: int  # offsets of the quote in the document's text
    end: int
    chunk_id: int
    score: float
    supported: bool
    support: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "document",
            "n": self.n,
            "document_id": self.document_id,
            "title": self.title,
            "path": self.path,
            "page": self.page,
            "quote": self.quote,
            "start": self.start,
            "end": self.end,
            "chunk_id": self.chunk_id,
            "score": round(self.score, 6),
            "supported": self.supported,
            "support": round(self.support, 3),
        }


@dataclass
class WebCitation:
    """A citation of a web result: checked against its snippet, as a document
    citation is against its passage; no page, no document."""

    n: int  # [Wn]
    title: str
    url: str
    quote: str
    start: int  # offsets of the quote in the snippet
    end: int
    supported: bool
    support: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "web",
            "n": f"W{self.n}",
            "title": self.title,
            "url": self.url,
            "quote": self.quote,
            "start": self.start,
            "end": self.end,
            "supported": self.supported,
            "support": round(self.support, 3),
        }


@dataclass
class Answer:
    question: str
    text: str
    mode: Mode
    language: str
    citations: list[Citation] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    standalone_question: str | None = None
    sources: list[SearchHit] = field(default_factory=list)
    """The passages the answer was built from, in `[n]` order (for the eval; the API's
    citations already carry what a reader needs)."""
    web_citations: list[WebCitation] = field(default_factory=list)
    web_sources: list[WebResult] = field(default_factory=list)
    """The web results in the prompt, in `[Wn]` order: never among `sources`."""
    answerability: dict[str, float] | None = None
    """The check before answering: score, the LLM's p_yes and the best dense
    similarity (None when the check did not run)."""
    web_search: str | None = None
    """How the web search went, when one was asked for: ok, empty, unavailable or
    disabled (for the metrics; readers get the notices)."""
    removed: list[Removal] = field(default_factory=list)
    """What verification took out of the model's draft, with the reason: sentences,
    `unsupported` (no source sentence says it), `off_topic` (a source says it, but not
    in a sentence about the question), `restates_question` or `no_quantity` (the
    question asks how many and no sentence says it); and, within kept
    sentences, `untrusted_url` (a link, image or address no cited source holds) or
    `html` (rag.answer.links). Never part of `text`; addresses in it are defanged."""
    id: str = field(default_factory=new_answer_id)
    """What a rating names (POST /v1/answers/{id}/feedback)."""

    def to_dict(self) -> dict[str, Any]:
        cited: list[Citation | WebCitation] = [*self.citations, *self.web_citations]
        return {
            "id": self.id,
            "question": self.question,
            "standalone_question": self.standalone_question,
            "answer": self.text,
            "mode": self.mode,
            "language": self.language,
            "citations": [c.to_dict() for c in cited],
            "all_citations_supported": all(c.supported for c in cited),
            "web_sources": [r.to_dict(n) for n, r in enumerate(self.web_sources, start=1)],
            "removed": [r.to_dict() for r in self.removed],
            "notices": self.notices,
            "answerability": (
                {
                    # coverage: null where it did not count (no weight, across languages);
                    # redraft_p_yes: where the redraft's sentence was checked
                    k: round(self.answerability[k], 4) if k in self.answerability else None
                    # sentence, sure: where the closest sentence counted (below)
                    for k in (
                        "score",
                        "p_yes",
                        "dense",
                        "sentence",
                        "sure",
                        "coverage",
                        "threshold",
                        "redraft_p_yes",
                    )
                }
                if self.answerability
                else None
            ),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "usage": self.usage.to_dict(),
        }


Event = dict[str, Any]  # {"type": "token" | "answer", ...}


@dataclass
class _Run:
    """One answer in the making: what each stage leaves for the next."""

    root: Span
    lang: str
    params: GenerationParams
    answer: Answer
    started: float
    standalone: str  # the question, made standalone when it follows a conversation
    web_query: str = ""  # what SearXNG is asked: the user's own words only (web_query)
    wanted: int = 0  # sources the prompt may hold
    hits: list[SearchHit] = field(default_factory=list)
    found: list[WebResult] = field(default_factory=list)  # web results
    web_only: bool = False  # nothing internal was relevant: answering from the web
    prompt: Prompt | None = None
    messages: list[Message] = field(default_factory=list)
    draft: str = ""  # the generated answer, before verification
    streamed: bool = False  # tokens went out that a reset has not taken back
    told: bool = False  # the prompt ends with ANSWER_NOW (a sure check added it)
    verified_notices: int = 0  # the answer's notices before verification added its own
    groups: tuple[str, ...] | None = None  # the caller's, when not every one (filters)


def _count(answer: Answer, used: Usage) -> None:
    """Add one generation's tokens to the answer's: every draft and translation costs."""
    before = answer.usage
    answer.usage = Usage(
        before.prompt_tokens + used.prompt_tokens,
        before.completion_tokens + used.completion_tokens,
        before.truncated_prompt or used.truncated_prompt,
    )


def _sentence_texts(hits: Sequence[SearchHit]) -> list[str]:
    """Every sentence of these sources, in order."""
    return [hit.chunk.text[s:e] for hit in hits for s, e in sentences(hit.chunk.text)]


class _Finish(Exception):
    """A stage decided that the answer ends now, and how: `not_found`, or the
    passages quoted under `intro` (`extractive`); `reset` when streamed tokens must be
    taken back."""

    def __init__(
        self,
        mode: Literal["not_found", "extractive"],
        intro: dict[str, str] = EXTRACTIVE_INTRO,
        reset: bool = False,
    ) -> None:
        super().__init__(mode)
        self.mode, self.intro, self.reset = mode, intro, reset


class AnswerService:
    def __init__(
        self,
        settings: Settings,
        search: SearchService | None = None,
        llm: LLM | None = None,
        llm_factory: Callable[[], LLM] | None = None,
        web: SearxngClient | None = None,
        multilingual: Usem3Encoder | None = None,
    ) -> None:
        self.settings = settings
        self._multilingual = multilingual
        self._multilingual_lock = threading.Lock()
        self.search = search or SearchService(settings)
        self._llm = llm
        self._llm_factory = llm_factory
        self._web = web
        self._web_lock = threading.Lock()  # the API answers from several threads

    @property
    def web(self) -> SearxngClient:
        with self._web_lock:
            if self._web is None:
                self._web = SearxngClient.from_settings(self.settings.web)
            return self._web

    @property
    def multilingual(self) -> Usem3Encoder | None:
        """The multilingual encoder (RAG_EMBEDDING__MULTILINGUAL), or None when off."""
        with self._multilingual_lock:
            if self._multilingual is None:
                self._multilingual = create_multilingual(self.settings.embedding.multilingual)
            return self._multilingual

    def close(self) -> None:
        if self._web is not None:
            self._web.close()

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            if self._llm_factory is not None:
                self._llm = self._llm_factory()
            else:
                from rag.llm import create_llm

                self._llm = create_llm(self.settings)
        return self._llm

    def ask(self, question: str, **kwargs: Any) -> Answer:
        answer: Answer | None = None
        for event in self.stream(question, **kwargs):
            if event["type"] == "answer":
                answer = event["answer"]
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        history: list[Message] | None = None,
        filters: SearchFilters | None = None,
        k: int | None = None,
        web: bool = False,
        answer_id: str | None = None,
        **overrides: Any,
    ) -> Generator[Event, None, None]:
        """Events: {"type": "stage", "name"} as each stage starts (rewrite, retrieve,
        web, generate, verify), {"type": "token", "text"} while generating,
        {"type": "reset"} if streamed tokens were abandoned, then one {"type": "answer"}.
        `answer_id`: the answer's id, when the caller has to name it before the
        answer exists (an OpenAI-style stream sends its id first); else a new one.

        Closing the generator early stops the generation (the API does so when the
        client disconnects). Traced as an `answer` span with a child span per stage
        (rag.tracing); spans carry sizes and outcomes, never the question's text."""
        with span("answer", web=web, history_turns=len(history or [])) as root:
            events = self._stream(root, question, history, filters, k, web, answer_id, **overrides)
            try:
                for event in events:
                    if event["type"] == "answer":
                        done: Answer = event["answer"]
                        root.set_attributes(
                            {
                                "answer.mode": done.mode,
                                "answer.language": done.language,
                                "answer.citations": len(done.citations),
                                "answer.notices": len(done.notices),
                            }
                        )
                    yield event
            finally:
                events.close()  # a client gone mid-answer stops the generation

    def _stream(
        self,
        root: Span,
        question: str,
        history: list[Message] | None,
        filters: SearchFilters | None,
        k: int | None,
        web: bool,
        answer_id: str | None,
        **overrides: Any,
    ) -> Generator[Event, None, None]:
        """The stages in order; each may end the answer early by raising _Finish, and
        every answer leaves through `_finish`."""
        question = self.search.validate_question(question)
        lang = detect_language(question)
        run = _Run(
            root=root,
            lang=lang,
            params=generation_params(self.settings, **overrides),
            answer=Answer(question, "", "generative", lang, id=answer_id or new_answer_id()),
            started=time.perf_counter(),
            standalone=question,
            web_query=web_query(question, history, self.settings.retrieval.max_question_chars),
            groups=filters.groups if filters is not None else None,
        )
        try:
            if history:
                yield from self._stage_rewrite(run, history)
            yield from self._stage_retrieve(run, filters, k, web)
            yield from self._stage_evidence(run)
            yield from self._stage_check(run)
            yield from self._stage_generate(run)
            yield from self._stage_verify(run)
        except _Finish as finish:
            if finish.reset:
                # Tokens already streamed belong to an abandoned answer: say so.
                yield {"type": "reset"}
            yield self._finish(run, finish.mode, finish.intro)
            return
        yield self._finish(run, "generative")

    # -- stages ------------------------------------------------------------------------

    @contextmanager
    def _timed(self, run: _Run, name: str, **attributes: Any) -> Iterator[Span]:
        """A stage's span (a child of the answer's) and its time in `timings[name_s]`,
        recorded however the stage ends."""
        t0 = time.perf_counter()
        try:
            with span(name, run.root, **attributes) as stage_span:
                yield stage_span
        finally:
            # A stage run more than once (a translation per sentence) counts them all.
            key = f"{name}_s"
            run.answer.timings[key] = run.answer.timings.get(key, 0.0) + time.perf_counter() - t0

    def _stage_rewrite(self, run: _Run, history: list[Message]) -> Iterator[Event]:
        yield {"type": "stage", "name": "rewrite"}
        with self._timed(run, "rewrite"):
            run.standalone = self._rewrite(run.standalone, history, run.params, run.answer)
        run.answer.standalone_question = run.standalone

    def _stage_retrieve(
        self, run: _Run, filters: SearchFilters | None, k: int | None, web: bool
    ) -> Iterator[Event]:
        """Internal passages (and web results, asked alongside); ends `not_found` when
        nothing relevant came back from either."""
        yield {"type": "stage", "name": "retrieve"}
        pending = self._start_web(run.web_query, run.lang, run.answer) if web else None
        run.wanted = self.settings.answer.sources if k is None else k
        with self._timed(run, "retrieve") as retrieve:
            result = self.search.search(run.standalone, self.retrieval_k(run.wanted), filters)
            retrieve.set_attribute("hits", len(result.hits))
            # Whether anything relevant was found is the retriever's say, before the
            # hits are ordered across languages: that order put the demo's English
            # expense policy above the French handbook's telework allowance for "What
            # is the telework allowance?", the one passage over the vector threshold
            # fell out of the first `wanted`, and the answer was "not found".
            found = self.relevant(result.hits[: run.wanted])
            run.hits = self.order_across_languages(
                run.standalone, run.lang, result.hits, keep=run.wanted
            )
        if pending is not None:
            yield {"type": "stage", "name": "web"}
            with span("web", run.root) as web_span:
                run.found = self._web_results(pending, run.answer)
                web_span.set_attribute("results", len(run.found))
        if not found:
            if not run.found:
                raise _Finish("not_found")
            # Nothing internal, but the web has something: answer from it, and say so
            # (the page also shows these sources apart, as web results).
            run.answer.notices.append("not found in the internal documents")
            run.hits, run.web_only = [], True

    def _stage_evidence(self, run: _Run) -> Iterator[Event]:
        """The prompt: the sources that fit the context, each with its sentences
        about the question first (rag.answer.prompts)."""
        yield {"type": "stage", "name": "generate"}
        prompt = self._fitted_prompt(run)
        answer = run.answer
        if run.hits and not prompt.hits:
            # Relevant passages, and not one fits beside the question and the answer's
            # room: a generation now would answer from nothing. The passages instead.
            answer.notices.append(
                f"the question and the answer's {run.params.max_tokens} tokens leave no room "
                f"for a source in the {run.params.context_size}-token context "
                "(RAG_LLM__CONTEXT_SIZE, RAG_LLM__MAX_TOKENS): the most relevant passages "
                "instead of a generated answer; a shorter question makes room"
            )
            run.hits = answer.sources = run.hits[: run.wanted]
            raise _Finish("extractive")
        if prompt.left_out:
            answer.notices.append(f"{prompt.left_out} sources left out to fit the context")
        if prompt.web < len(run.found):
            answer.notices.append(
                f"{len(run.found) - prompt.web} web results left out to fit the context"
            )
        run.prompt, run.messages, run.hits = prompt, prompt.messages, prompt.hits
        answer.sources = prompt.hits
        answer.web_sources = run.found[: prompt.web]
        if run.web_only and not prompt.web:  # not even one web result fits the context
            raise _Finish("not_found")

    def _fitted_prompt(self, run: _Run) -> Prompt:
        """The prompt, with the answer's room in the context. A request's max_tokens
        above the server's (RAG_LLM__MAX_TOKENS) may take what the sources leave,
        never push a source out: where it would, it is lowered, with a notice. (It
        caps the answer's length, so a lower cap keeps its promise; a prompt without
        its sources would not. docs/answers.md)"""

        def build(params: GenerationParams) -> Prompt:
            return self.prompt(
                run.standalone, run.hits, run.lang, params, web=run.found, limit=run.wanted
            )

        prompt = build(run.params)
        asked, default = run.params.max_tokens, self.settings.llm.max_tokens
        if asked <= default:
            return prompt
        server = build(replace(run.params, max_tokens=default))
        if server.sources <= prompt.sources and server.web <= prompt.web:
            return prompt
        # The server's prompt, and the answer gets what its sources leave.
        run.params = replace(run.params, max_tokens=default + server.spare)
        run.answer.notices.append(
            f"max_tokens lowered from {asked} to {run.params.max_tokens}: more would leave "
            f"sources out of the {run.params.context_size}-token context"
        )
        return server

    def _stage_check(self, run: _Run) -> Iterator[Event]:
        """The answerability check, where it is on and the backend can score choices:
        `not_found` under its threshold, and a sure check tells the model to answer."""
        threshold = self.settings.answer.answerable_threshold.get(run.lang, 0.0)
        if threshold <= 0 or not isinstance(self.llm, ScoresChoices):
            return
        assert run.prompt is not None
        yield {"type": "stage", "name": "check"}
        try:
            with self._timed(run, "check") as check:
                score = self.answerability(
                    run.standalone,
                    run.prompt,
                    run.hits,
                    run.lang,
                    run.params,
                    run.answer,
                    run.groups,
                )
                if score is not None:
                    check.set_attribute("score", score)
        except LLMUnavailable as exc:
            log.warning("answerability check failed, answering with the passages: %s", exc)
            run.answer.notices.append(LLM_UNAVAILABLE)
            raise _Finish("extractive") from exc
        # The check says which threshold applied (across languages, another one).
        verdict = run.answer.answerability
        if score is not None and verdict is not None and score < verdict["threshold"]:
            raise _Finish("not_found")
        if score is not None and self._confident(run):
            run.messages = with_line(run.prompt, answer_now(run.prompt.lang, run.lang))
            run.told = True

    def _stage_generate(self, run: _Run) -> Iterator[Event]:
        """Stream the draft; a declined or failed generation ends here. A draft that
        only repeats the line telling the model to answer is written again once,
        without that line: the 1.5B model answered the demo's "Combien de jours de
        télétravail par semaine ?" with that line alone, and with the plain prompt
        "2 jours par semaine… [1]"."""
        assert run.prompt is not None
        answer = run.answer
        attributes = {"sources": len(run.hits), "web_sources": run.prompt.web}
        try:
            with self._timed(run, "generate", **attributes) as generate:
                draft = yield from self._draft(run, run.messages, generate)
                told = answer_now(run.prompt.lang, run.lang)
                if run.told and draft.strip() and only_echoes(draft, told, run.prompt.lang):
                    log.info("the draft only repeated the instruction: written again")
                    generate.set_attribute("redrafted", True)
                    if run.streamed:
                        yield {"type": "reset"}
                        run.streamed = False
                    # The first token the user keeps is the second draft's.
                    answer.timings.pop("first_token_s", None)
                    run.messages, run.told = run.prompt.messages, False
                    draft = yield from self._draft(run, run.messages, generate)
        except LLMUnavailable as exc:
            log.warning("generation failed, answering with the passages: %s", exc)
            answer.notices.append(LLM_UNAVAILABLE)
            raise _Finish("extractive", reset=run.streamed) from exc
        if answer.usage.truncated_prompt:
            answer.notices.append("the LLM server cut the prompt: raise RAG_LLM__CONTEXT_SIZE")
        raw = draft.strip()
        if answer.answerability is not None:  # checked, and passed: it did not stop us
            raw = without_echo(raw, answer_now(run.prompt.lang, run.lang))
        if looks_not_found(raw) or not raw:
            if run.hits and self._confident(run):
                # The check says the sources hold the answer and the model declined
                # anyway (a 1.5B model often does): the passages, labelled, beat a
                # wrong "not found".
                answer.notices.append("the LLM declined to answer although its sources seem to")
                raise _Finish("extractive", DECLINED_INTRO, reset=run.streamed)
            raise _Finish("not_found")
        run.draft = raw

    def _draft(
        self, run: _Run, messages: list[Message], generate: Span
    ) -> Generator[Event, None, str]:
        """Generate from these messages, streaming tokens; returns the whole draft as
        generated (empty when no token came). The answer's usage counts every draft."""
        answer = run.answer
        # The draft streams without any address, image or HTML tag (rag.answer.links):
        # which of them its sources hold is known only after verification.
        guard = DraftGuard()
        pieces: list[str] = []
        generation = self.llm.generate(messages, run.params)
        for piece in generation:
            if "first_token_s" not in answer.timings:
                answer.timings["first_token_s"] = time.perf_counter() - run.started
            pieces.append(piece)
            if shown := guard.feed(piece):
                run.streamed = True
                yield {"type": "token", "text": shown}
        if rest := guard.flush():
            run.streamed = True
            yield {"type": "token", "text": rest}
        _count(answer, generation.usage)  # after a first draft's, if any
        generate.set_attributes(
            {
                "prompt_tokens": answer.usage.prompt_tokens,
                "completion_tokens": answer.usage.completion_tokens,
            }
        )
        return "".join(pieces)

    def _stage_verify(self, run: _Run) -> Iterator[Event]:
        """Keep the draft's verified sentences (rag.answer.verify); with none left, the
        passages when the check was sure, else `not_found`."""
        yield {"type": "stage", "name": "verify"}
        run.verified_notices = len(run.answer.notices)
        with self._timed(run, "verify") as verify:
            judge, mentions = self._judges(run.standalone, run.lang, run.params, run.answer)
            verification = self._verify(
                run.answer,
                run.draft,
                run.standalone,
                run.hits,
                run.lang,
                judge,
                mentions,
                translate=self._translator(run),
            )
            verify.set_attribute("removed", len(run.answer.removed))
        if not verification.kept:
            if run.hits and not verification.in_passing and self._confident(run):
                # The model itself judged that the sources hold the answer, but no
                # sentence of the draft could be verified: written again from the
                # sentence that bears most on the question, else the passages,
                # labelled. Not when its claim of how long or how much something is
                # came from a sentence naming it only in passing (rag.answer.measure):
                # that sentence is what made the sources look as if they held the
                # answer, as "…jusqu'à 2 jours par semaine, après la période
                # d'essai…" does for "How long is the trial period?".
                if self.settings.answer.redraft and not run.found:
                    yield from self._stage_redraft(run)
                    return
                raise _Finish("extractive", UNVERIFIED_INTRO)
            raise _Finish("not_found")
        self._in_question_language(run, verification)

    def _stage_redraft(self, run: _Run) -> Iterator[Event]:
        """The draft again, from one sentence: the lead passage's that bears most on
        the question, the one the labelled passages would quote first. Given five
        passages cut to their sentences, the 1.5B model often answers from the wrong
        one (the demo's "Quel est le montant de l'indemnité de repas ?" got the
        telework allowance, removed as off topic, though the expense policy's meal
        sentence led) or paraphrases past what verification accepts; given the one
        sentence, it restates it. The second draft is verified against every source,
        as the first was; with nothing verified, the passages, labelled."""
        assert run.prompt is not None
        answer = run.answer
        # Scored among every source, as the passages are: a word's weight depends on
        # the sentences it is weighed against.
        lead = self.evidence(run.standalone, run.lang, run.hits).best_for_question(0)
        if lead is None:
            raise _Finish("extractive", UNVERIFIED_INTRO, reset=run.streamed)
        prompt = self.prompt(
            run.standalone, run.hits[:1], run.lang, run.params, limit=1, texts=[lead.text]
        )
        if not self._lead_answers(run, prompt):
            raise _Finish("extractive", UNVERIFIED_INTRO, reset=run.streamed)
        if run.streamed:
            yield {"type": "reset"}
            run.streamed = False
        told = answer_now(prompt.lang, run.lang)
        messages = with_line(prompt, told) if run.told else prompt.messages
        removed = list(answer.removed)
        yield {"type": "stage", "name": "redraft"}
        try:
            with self._timed(run, "redraft") as redraft:
                draft = yield from self._draft(run, messages, redraft)
        except LLMUnavailable as exc:
            log.warning("redraft failed, answering with the passages: %s", exc)
            answer.notices.append(LLM_UNAVAILABLE)
            raise _Finish("extractive", UNVERIFIED_INTRO, reset=run.streamed) from exc
        raw = draft.strip()
        if run.told:
            raw = without_echo(raw, told)
        if not raw or looks_not_found(raw):
            raise _Finish("extractive", UNVERIFIED_INTRO, reset=run.streamed)
        # The first draft's removals are reported with this one's, and counted once.
        del answer.notices[run.verified_notices :]
        with self._timed(run, "verify_redraft") as verify:
            judge, mentions = self._judges(run.standalone, run.lang, run.params, answer)
            verification = self._verify(
                answer,
                raw,
                run.standalone,
                run.hits,
                run.lang,
                judge,
                mentions,
                removed,
                self._translator(run),
            )
            verify.set_attribute("removed", len(answer.removed))
        if not verification.kept:
            raise _Finish("extractive", UNVERIFIED_INTRO, reset=run.streamed)
        self._in_question_language(run, verification)
        answer.notices.append(REDRAFTED)

    def _in_question_language(self, run: _Run, verification: Verification) -> None:
        """A verified sentence in the language of the source it cites, not the
        question's, is translated, and the translation replaces it when it says the
        same (rag.answer.language); the citations stay the sentence's."""
        encoder = self.multilingual
        changed = False
        for sentence in verification.kept:
            if not off_language(sentence.text, run.lang) or not any(
                check.window.source < len(run.hits)
                and off_language(run.hits[check.window.source].chunk.text, run.lang)
                for check in sentence.checks
            ):
                continue
            translation = self._translate(run, sentence.text, run.lang)
            if says_the_same(
                sentence.text, translation, run.lang, encoder.encode if encoder else None
            ):
                sentence.text, changed = translation, True
        if changed:
            run.answer.text = verification.text()

    def _translator(self, run: _Run) -> Translate | None:
        """The LLM as the verifier's translator of claims (RAG_ANSWER__TRANSLATE_CLAIMS)."""
        if not self.settings.answer.translate_claims:
            return None
        return lambda claim, lang: self._translate(run, claim, lang)

    def _translate(self, run: _Run, sentence: str, lang: str) -> str:
        """The sentence in `lang` by the LLM ("" when it fails)."""
        answer = run.answer
        with self._timed(run, "translate", into=lang):
            try:
                generation = self.llm.generate(translate_messages(sentence, lang), run.params)
                text = "".join(generation)
            except LLMUnavailable as exc:
                log.warning("answer sentence left untranslated: %s", exc)
                return ""
        _count(answer, generation.usage)
        return cleaned(text)

    def _lead_answers(self, run: _Run, prompt: Prompt) -> bool:
        """Does the one sentence a redraft would restate answer the question by itself,
        by the LLM's probability of "yes" to ANSWERABLE over it alone
        (RAG_ANSWER__REDRAFT_THRESHOLD)? The check before generation judged the five
        passages together; the sentence that bears most on the question's words may
        still not answer it. clapnq's unanswerable "what were key resources exploited
        by colonial settlers in new england" passed that check, its draft was removed,
        and the redraft restated the lead sentence, verified word for word: "Since the
        soil and weather in New England was not suitable for farming, many people did
        not farm [1]", served as the answer. Unsure, or unable to ask: the passages,
        labelled, as without the redraft."""
        bar = self.settings.answer.redraft_threshold
        if bar <= 0:
            return True
        # A redraft follows a sure answerability check: the backend scores choices.
        assert run.answer.answerability is not None
        try:
            with self._timed(run, "redraft_check"):
                p_yes = self._p_answerable(prompt, run.lang, run.params)
        except (LLMUnavailable, NoTokenProbabilities) as exc:
            log.warning("redraft not checked, answering with the passages: %s", exc)
            return False
        run.answer.answerability["redraft_p_yes"] = p_yes
        return p_yes >= bar

    def _p_answerable(self, prompt: Prompt, lang: str, params: GenerationParams) -> float:
        """The LLM's probability of "yes" to ANSWERABLE over this prompt's sources."""
        assert isinstance(self.llm, ScoresChoices)
        yes, no = YES_NO[lang]
        return self.llm.choice_probabilities(
            with_line(prompt, ANSWERABLE[lang]), [yes, no], params
        )[yes]

    def _finish(self, run: _Run, mode: Mode, intro: dict[str, str] = EXTRACTIVE_INTRO) -> Event:
        """The one way an answer leaves: its mode's text, its notices, its total time."""
        answer = run.answer
        if mode == "not_found":
            answer.mode, answer.text = "not_found", NOT_FOUND[run.lang]
        elif mode == "extractive":
            self._quote_passages(answer, run.standalone, run.hits, run.lang, intro)
        if mode != "not_found" and run.web_only:
            answer.notices.append(WEB_ONLY)
        answer.timings["total_s"] = time.perf_counter() - run.started
        return {"type": "answer", "answer": answer}

    # -- steps -----------------------------------------------------------------------------

    def _start_web(self, question: str, lang: str, answer: Answer) -> PendingWebSearch | None:
        """Ask SearXNG in the background, so it runs alongside retrieval.

        A request for web results on a deployment without them gets the internal
        answer and a notice, not a 4xx: web results are an extra, the answer from the
        documents is still what was asked for, and a client (the page, a script)
        that sends `web: true` keeps working when an operator turns web search off."""
        if not self.settings.web.enabled:
            answer.notices.append(WEB_DISABLED)
            answer.web_search = "disabled"
            return None
        return self.web.submit(question, lang)

    def _web_results(self, pending: PendingWebSearch, answer: Answer) -> list[WebResult]:
        try:
            found = pending.results()
        except WebSearchUnavailable as exc:
            log.warning("web search unavailable: %s", exc)
            answer.notices.append(
                f"web search unavailable: {exc.public} (answered from internal documents only)"
            )
            found = []
            answer.web_search = "unavailable"
        else:
            answer.web_search = "ok" if found else "empty"
            if not found:
                answer.notices.append("web search found no results")
        answer.timings["web_s"] = time.perf_counter() - pending.started
        return found

    def prompt(
        self,
        question: str,
        hits: list[SearchHit],
        lang: str,
        params: GenerationParams,
        web: Sequence[WebResult] = (),
        limit: int | None = None,
        texts: Sequence[str] | None = None,
    ) -> Prompt:
        """The answer's prompt for up to `limit` of these sources (the setting by
        default), as the service builds it (the benches compare against exactly this
        prompt). Its instructions are in the language of the source that leads
        (system_prompt), its answer in the question's. `texts`: what each source shows
        instead of its sentences about the question."""
        lead = hits[0].chunk.text if hits else ""
        return build_prompt(
            question,
            hits,
            lang,
            self.llm.count_tokens,
            params.context_size,
            params.max_tokens,
            self.settings.answer.source_tokens,
            web=web,
            limit=self.settings.answer.sources if limit is None else limit,
            closeness=self._closeness(question),
            prompt_lang=detect_language(lead, default=lang) if lead else lang,
            texts=texts,
        )

    def _closeness(self, question: str) -> Closeness | None:
        """Cosines of sentences to the question in the multilingual space (None
        without the encoder), each sentence encoded once per question."""
        encoder = self.multilingual
        if encoder is None:
            return None
        cache: dict[str, float] = {}
        asked: list[np.ndarray] = []  # encoded on first use: most prompts never cross

        def closeness(texts: list[str]) -> list[float]:
            missing = [t for t in dict.fromkeys(texts) if t not in cache]
            if missing:
                vectors = encoder.encode(([] if asked else [question]) + missing)
                if not asked:
                    asked.append(vectors[0])
                    vectors = vectors[1:]
                scores = (float(v @ asked[0]) for v in vectors)
                cache.update(zip(missing, scores, strict=True))
            return [cache[t] for t in texts]

        return closeness

    def order_across_languages(
        self, question: str, lang: str, hits: list[SearchHit], keep: int | None = None
    ) -> list[SearchHit]:
        """When the hits mix the question's language with another, order them by their
        sentence closest to the question in the multilingual space. BM25 shares no
        word across languages, so in a mixed store it lifts passages in the question's
        language that only share its common words ("days", "work") above the one in
        another language that answers; a sentence-level similarity both languages share
        does not. Hits in one language keep the retriever's order.
        `keep`: the retriever's first hit stays among the first `keep` (the ones the
        prompt takes): the encoder alone put the demo's English expense-policy
        sentences above "Une indemnité de 2,50 euros est versée par jour télétravaillé"
        for "What is the telework allowance?", the retriever's first, and the answer
        was written from passages that do not hold it."""
        ordered = self._closest_first(question, lang, hits)
        if keep and hits and hits[0] in ordered[keep:]:
            ordered.remove(hits[0])
            ordered.insert(keep - 1, hits[0])
        return ordered

    def _closest_first(self, question: str, lang: str, hits: list[SearchHit]) -> list[SearchHit]:
        encoder = self.multilingual
        if encoder is None or len(hits) < 2:
            return list(hits)
        languages = {detect_language(hit.chunk.text, default=lang) for hit in hits}
        if languages == {lang}:
            return list(hits)
        evidence = self.evidence(question, lang, hits)
        closest = [
            max((evidence.similarity(w) for w in evidence.windows_of(i)), default=0.0)
            for i in range(len(hits))
        ]
        order = sorted(range(len(hits)), key=lambda i: -closest[i])
        return [hits[i] for i in order]

    def retrieval_k(self, sources: int) -> int:
        """Hits to retrieve for a prompt of `sources` passages: spares replace the
        hits that only repeat an earlier one (neighbouring chunks overlap). Past
        RAG_RETRIEVAL__MAX_K, `sources` itself is refused by the search."""
        return max(sources, min(2 * sources, self.settings.retrieval.max_k))

    def answerability(
        self,
        question: str,
        prompt: Prompt,
        hits: list[SearchHit],
        lang: str,
        params: GenerationParams,
        answer: Answer,
        groups: Sequence[str] | None = None,
    ) -> float | None:
        """How sure we are that the sources answer the question, in [0, 1]: the LLM's
        probability of "yes" to ANSWERABLE, blended, with per-language weights, with
        the best source's vector similarity and with the question's coverage (how much
        of it, words weighed by rarity, the best source sentence holds). A 1.5B model
        asked to answer or refuse in one go refused half the answerable clapnq
        questions; its yes/no probability ranks them better, and the blends better
        still (bench/answerability.py). `groups`: the caller's, when it may not see every
        document. None when the backend cannot tell probabilities."""
        try:
            p_yes = self._p_answerable(prompt, lang, params)
        except NoTokenProbabilities as exc:
            log.warning("answerability not checked: %s", exc)
            answer.notices.append(NO_PROBABILITIES)
            return None
        dense, closest = self._model_similarity(question, hits)
        a = self.settings.answer
        weight = a.answerable_dense_weight.get(lang, 0.0) if hits else 0.0
        coverage_weight = a.answerable_coverage_weight.get(lang, 0.0)
        threshold = a.answerable_threshold.get(lang, 0.0)
        # The closest source by MiniLM, or the first one (ordered in the multilingual
        # space when languages mix): an English question whose answer is in a French
        # page finds its MiniLM-closest in whatever English page there is.
        leads = [h for h in (closest, hits[0] if hits else None) if h is not None]
        if any(detect_language(h.chunk.text, default=lang) != lang for h in leads):
            # A similarity across languages is on another scale than the one the weight
            # was calibrated on, and the question's words are not the sources': the LLM,
            # which reads both, decides alone, as a screen (verification after
            # generation checks what it says).
            weight, coverage_weight = 0.0, 0.0
            threshold = min(threshold, a.cross_language_threshold)
        coverage = self.coverage(question, lang, hits, groups) if coverage_weight else None
        if coverage is None:
            coverage_weight = 0.0

        def blend(similarity: float) -> float:
            return (
                weight * max(similarity, 0.0)
                + coverage_weight * (coverage or 0.0)
                + max(1.0 - weight - coverage_weight, 0.0) * p_yes
            )

        score = blend(dense)
        answer.answerability = {"score": score, "p_yes": p_yes, "dense": dense}
        if weight and a.answerable_sentence.get(lang, False):
            # The closest single sentence, where it is closer than its source: a
            # section holding several facts is far from a question about one of them.
            # It earns the question a draft, which verification checks; the labelled
            # passages, when nothing the model writes is verified, still need the
            # source itself to be close (`sure`, read by _confident).
            sentence = self.sentence_similarity(question, hits)
            answer.answerability["sentence"] = sentence
            answer.answerability["sure"] = score
            score = blend(max(dense, sentence))
            answer.answerability["score"] = score
        if coverage is not None:
            answer.answerability["coverage"] = coverage
        answer.answerability["threshold"] = threshold
        return score

    def _model_similarity(
        self, question: str, hits: list[SearchHit]
    ) -> tuple[float, SearchHit | None]:
        """The best cosine between the question and a source by the retrieval model
        alone (MiniLM, without the multilingual part the blended embedder adds): the
        scale the answerability weights were calibrated on. And that source."""
        if not hits:
            return 0.0, None
        embedder = self.search.embedder
        if not isinstance(embedder, BlendedEmbedder):
            best = max(hits, key=lambda h: h.dense_score or 0.0)
            return best.dense_score or 0.0, best
        stored = self.search.store.embeddings([h.chunk.id for h in hits], embedder.dimension)
        query = embedder.primary.embed_query(question)
        scores = {cid: float(embedder.primary_part(v) @ query) for cid, v in stored.items()}
        best = max(hits, key=lambda h: scores.get(h.chunk.id, 0.0))
        return scores.get(best.chunk.id, 0.0), best

    def sentence_similarity(self, question: str, hits: list[SearchHit]) -> float:
        """The best cosine, by the retrieval model alone, between the question and one
        sentence of these sources (headings left out). A source holding several facts
        is further from a question about one of them than that fact's sentence is: the
        demo's "What is the hotel ceiling in Paris?" is 0.44 from its policy's Travel
        section (trains, flights, hotels) and closer to "Hotel nights are capped at 120
        euros in Paris and 90 euros elsewhere." alone."""
        model = retrieval_model(self.search.embedder)
        texts = [t for t in _sentence_texts(hits) if not is_heading(t)]
        if not texts:
            return 0.0
        vectors = model.embed_documents(texts)
        return float(np.max(vectors @ model.embed_query(question)))

    def _confident(self, run: _Run) -> bool:
        """Did the answerability check find, surely enough, that the sources hold the
        answer (RAG_ANSWER__EXTRACTIVE_THRESHOLD)? Then the model is told so, and when
        it declines or nothing it wrote can be verified, the passages are shown rather
        than "not found". A check with a low threshold only screens questions out;
        passing it earns no passages. Nor does a question asking what something is
        whose sources name it only after a preposition or in a clause about something
        else (rag.answer.definition): the demo's "Qu'est-ce que la période d'essai ?" found
        the telework sentence ("…après la période d'essai…"), the check said yes
        (every word of the question is there), and the model, told the sources hold
        the answer, made a definition of it."""
        answer = run.answer
        if answer.answerability is None:
            return False
        bar = self.settings.answer.extractive_threshold.get(answer.language, 1.0)
        if answer.answerability.get("sure", answer.answerability["score"]) < bar:
            return False
        term = defined_term(run.standalone, run.lang)
        if term is None:
            return True
        # Each sentence, and each title and heading: a fiche titled "Médiation
        # familiale" may define it in a sentence opening "Il s'agit…".
        texts = _sentence_texts(run.hits)
        texts += [t for hit in run.hits for t in (hit.document.title, hit.chunk.heading) if t]
        return not only_in_passing(texts, term, run.lang)

    def relevant(self, hits: list[SearchHit]) -> bool:
        """Anything worth giving the LLM? A full-text match or a close enough vector."""
        if not hits:
            return False
        top = hits[0]
        lexical = any(h.bm25_score for h in hits)
        dense = max((h.dense_score or -1.0) for h in hits)
        return lexical or dense >= self.settings.answer.min_dense_score or top.dense_score is None

    def _rewrite(
        self, question: str, history: list[Message], params: GenerationParams, answer: Answer
    ) -> str:
        """A follow-up question made standalone with the conversation; without an LLM,
        the last user question is prepended so retrieval still sees the topic."""
        try:
            rewrite = GenerationParams(**{**params.__dict__, "max_tokens": 96})
            text = "".join(self.llm.generate(rewrite_messages(question, history), rewrite))
            text = text.strip().strip('"«» ').splitlines()[0] if text.strip() else ""
            # An address in the rewrite is the model's, unless the user wrote it.
            theirs = [question] + [
                str(m.get("content", "")) for m in history if m.get("role") == "user"
            ]
            text = strip_untrusted(text, theirs).text
            if 3 <= len(text) <= 2 * self.settings.retrieval.max_question_chars:
                return text
        except LLMUnavailable as exc:
            log.warning("follow-up not rewritten: %s", exc)
            answer.notices.append(NOT_REWRITTEN)
        previous = [m["content"] for m in history if m.get("role") == "user"]
        return f"{previous[-1]} {question}" if previous else question

    def evidence(
        self,
        question: str,
        lang: str,
        hits: list[SearchHit],
        web: Sequence[WebResult] = (),
        rarities: dict[str, float] | None = None,
    ) -> Evidence:
        """The sentences of these sources, scored for the question (rag.answer.evidence):
        internal sources are cited as "1".."n", web results as "W1".."Wm"."""
        sources = [
            Source(
                str(n),
                hit.chunk.text,
                hit.chunk.heading or "",
                hit.document.title or "",
                str(hit.document.id),
                hit.chunk.start,
            )
            for n, hit in enumerate(hits, start=1)
        ]
        sources += [
            Source(f"W{n}", result.snippet or result.title) for n, result in enumerate(web, 1)
        ]
        encoder = self.multilingual
        return Evidence(question, lang, sources, encoder.encode if encoder else None, rarities)

    def coverage(
        self,
        question: str,
        lang: str,
        hits: list[SearchHit],
        groups: Sequence[str] | None = None,
    ) -> float | None:
        """How much of the question, its words weighed by their rarity in the store,
        the best sentence of these sources covers (rag.answer.evidence.Evidence.coverage).
        With `groups` (the caller's), rarity is counted over those groups' chunks only:
        over the whole store, a word found only in a document the caller cannot see
        would weigh less than one found nowhere, and the coverage the response shows
        would tell the caller that such a document exists."""
        terms = stem_terms(question, lang)
        if not terms or not hits:
            return None
        counts, chunks = self.search.store.term_chunk_counts(terms.values(), groups)
        weights = rarity({stem: counts[token] for stem, (token, _) in terms.items()}, chunks)
        return self.evidence(question, lang, hits, rarities=weights).coverage()

    def _judges(
        self, question: str, lang: str, params: GenerationParams, answer: Answer
    ) -> tuple[Judge | None, Mentions | None]:
        """The LLM as the verifier's judges of one cited sentence: does it say what the
        claim says (RAG_ANSWER__JUDGE_VETO, bench/citation_support.py), does it speak
        of a question phrase no source holds (RAG_ANSWER__MENTION_VETO)? The verifier
        leaves out one whose veto is 0; both are None where the backend cannot score
        choices. A failure turns both off for the rest of the answer: the word-level
        check then stands alone, as it does without them."""
        if not isinstance(self.llm, ScoresChoices):
            return None, None
        llm, (yes, no) = self.llm, YES_NO[lang]
        failed: list[str] = []

        def ask(messages: list[Message]) -> float | None:
            if failed:
                return None
            t0 = time.perf_counter()
            try:
                return llm.choice_probabilities(messages, [yes, no], params)[yes]
            except (LLMUnavailable, NoTokenProbabilities) as exc:
                log.warning("citations checked without the LLM judge: %s", exc)
                failed.append(str(exc))
                return None
            finally:  # both judges' time, as one figure
                answer.timings["judge_s"] = answer.timings.get("judge_s", 0.0) + (
                    time.perf_counter() - t0
                )

        def judge(sentence: str, claim: str) -> float | None:
            return ask(supports_messages(sentence, question, claim, lang))

        def mentions(sentence: str, phrase: str) -> float | None:
            return ask(mentions_messages(sentence, phrase, lang))

        return judge, mentions

    def _verify(
        self,
        answer: Answer,
        raw: str,
        question: str,
        hits: list[SearchHit],
        lang: str,
        judge: Judge | None = None,
        mentions: Mentions | None = None,
        earlier: Sequence[Removal] = (),
        translate: Translate | None = None,
    ) -> Verification:
        """Keep the draft's sentences that a source sentence about the question
        supports, re-cited where the model cited the wrong source or none
        (rag.answer.verify); the answer holds them, and the verification says what is
        kept. `earlier`: what an earlier draft lost, reported with this one's."""
        web = answer.web_sources
        parsed = parse_citations(raw, len(hits), len(web))
        if parsed.dropped or parsed.dropped_web:
            answer.notices.append(
                "citations to sources that do not exist were removed: "
                + ", ".join(
                    [f"[{n}]" for n in parsed.dropped] + [f"[W{n}]" for n in parsed.dropped_web]
                )
            )
        evidence = self.evidence(question, lang, hits, web)
        labels = {source.label: i for i, source in enumerate(evidence.sources)}
        a = self.settings.answer
        settings = VerifySettings(
            support_threshold=a.support_threshold,
            relevance_ratio=a.relevance_ratio,
            cross_language_support=a.cross_language_support,
            judge_veto=a.judge_veto.get(lang, 0.0),
            mention_veto=a.mention_veto.get(lang, 0.0),
        )
        verification = Verifier(evidence, settings, judge, mentions, translate).verify(
            parsed.statements, labels
        )
        self._strip_links(verification, hits, web)
        removed = {(r.text, r.reason): r for r in [*earlier, *verification.removed]}
        verification.removed = list(removed.values())
        answer.removed = verification.removed
        self._removal_notices(answer, verification)
        if not verification.kept:
            return verification
        answer.text = verification.text()
        best: dict[str, Citation | WebCitation] = {}
        for sentence in verification.kept:
            for check in sentence.checks:
                window = check.window
                citation: Citation | WebCitation
                if check.label.startswith("W"):
                    result = web[window.source - len(hits)]
                    citation = WebCitation(
                        int(check.label[1:]),
                        result.title,
                        result.url,
                        window.text,
                        window.start,
                        window.end,
                        True,
                        check.support,
                    )
                else:
                    hit = hits[window.source]
                    citation = self._citation(
                        int(check.label),
                        hit,
                        window.text,
                        window.start,
                        window.end,
                        True,
                        check.support,
                    )
                # A source cited by several sentences is reported once, by its weakest
                # support.
                if check.label not in best or check.support < best[check.label].support:
                    best[check.label] = citation
        answer.citations = sorted(
            (c for c in best.values() if isinstance(c, Citation)), key=lambda c: c.n
        )
        answer.web_citations = sorted(
            (c for c in best.values() if isinstance(c, WebCitation)), key=lambda c: c.n
        )
        return verification

    @staticmethod
    def _strip_links(
        verification: Verification, hits: list[SearchHit], web: Sequence[WebResult]
    ) -> None:
        """Take out of the verified sentences every image, link address and bare
        address that is not verbatim in a source the sentence cites, and any HTML tag
        (rag.answer.links: a prompt injection's way out through a markdown client).
        What is taken out is reported in `removed`, defanged; a sentence left with no
        word goes."""

        def source_text(index: int) -> str:
            if index < len(hits):
                return hits[index].chunk.text
            result = web[index - len(hits)]
            return f"{result.url}\n{result.title}\n{result.snippet}"

        kept = []
        for sentence in verification.kept:
            trusted = [source_text(check.window.source) for check in sentence.checks]
            cleaned = strip_untrusted(sentence.text, trusted)
            verification.removed += [Removal(what, why) for what, why in cleaned.removed]
            if re.search(r"\w", cleaned.text):
                sentence.text = cleaned.text
                kept.append(sentence)
        verification.kept = kept
        for removal in verification.removed:  # a draft sentence may hold one too
            removal.text = defang(removal.text)

    @staticmethod
    def _removal_notices(answer: Answer, verification: Verification) -> None:
        off_topic = sum(1 for r in verification.removed if r.reason == OFF_TOPIC)
        restating = sum(1 for r in verification.removed if r.reason == RESTATES)
        unquantified = sum(1 for r in verification.removed if r.reason == NO_QUANTITY)
        links = sum(1 for r in verification.removed if r.reason == UNTRUSTED_URL)
        tags = sum(1 for r in verification.removed if r.reason == HTML)
        unsupported = (
            len(verification.removed) - off_topic - restating - unquantified - links - tags
        )
        if links:
            answer.notices.append(
                f"{links} link(s), image(s) or web address(es) removed from the answer: "
                "the sources it cites do not hold them"
            )
        if tags:
            answer.notices.append(f"{tags} HTML tag(s) removed from the answer")
        if restating:
            answer.notices.append(
                f"{restating} sentence(s) removed from the answer: they only repeat the question"
            )
        if unquantified:
            answer.notices.append(
                f"{unquantified} sentence(s) removed from the answer: the question asks how "
                "many, how much or how long, and they do not say"
            )
        if unsupported:
            answer.notices.append(
                f"{unsupported} sentence(s) removed from the answer: no source supports them"
            )
        if off_topic:
            answer.notices.append(
                f"{off_topic} sentence(s) removed from the answer: their source does not "
                "answer the question"
            )
        moved = sum(1 for v in verification.kept if v.reattributed)
        if moved:
            answer.notices.append(f"{moved} sentence(s) now cite the source that supports them")

    def _citation(
        self,
        n: int,
        hit: SearchHit,
        quote: str,
        start: int,
        end: int,
        supported: bool,
        score: float,
    ) -> Citation:
        quote, start = without_heading(quote, start)
        doc_start = hit.chunk.start + start
        page = hit.chunk.page_start
        for page_span in self.search.store.page_map(hit.document.id):
            if page_span.start <= doc_start <= page_span.end:
                page = page_span.number
                break
        return Citation(
            n=n,
            document_id=hit.document.id,
            title=hit.document.title,
            path=hit.document.path,
            page=page,
            quote=quote,
            start=doc_start,
            end=hit.chunk.start + end,
            chunk_id=hit.chunk.id,
            score=hit.score,
            supported=supported,
            support=score,
        )

    def _quote_passages(
        self,
        answer: Answer,
        question: str,
        hits: list[SearchHit],
        lang: str,
        intro: dict[str, str] = EXTRACTIVE_INTRO,
    ) -> None:
        """The most relevant passages (three at most), each quoted by its sentence that
        bears most on the question (rag.answer.evidence), under a label saying what
        they are. Each keeps its source's number; a passage whose quote an earlier one
        already shows (overlapping chunks of one document, or two versions of one
        fiche) gives way to the next."""
        answer.mode = "extractive"
        answer.citations, answer.web_citations = [], []
        lines = [intro[lang]]
        web = [] if hits else answer.web_sources[:3]
        evidence = self.evidence(question, lang, hits, web)
        quoted: set[str] = set()
        for i, hit in enumerate(hits):
            if len(answer.citations) == 3:
                break
            window = evidence.best_for_question(i)
            quote, qs, qe = (
                (window.text, window.start, window.end)
                if window
                else (hit.chunk.text[:300], 0, min(len(hit.chunk.text), 300))
            )
            citation = self._citation(i + 1, hit, quote, qs, qe, True, 1.0)
            normal = " ".join(citation.quote.split())
            if normal in quoted:
                continue
            quoted.add(normal)
            lines.append(
                f"[{i + 1}] {hit.document.title}, p. {citation.page} : « {citation.quote} »"
            )
            answer.citations.append(citation)
        for j, result in enumerate(web):  # answering from the web only: labelled as web
            window = evidence.best_for_question(len(hits) + j)
            passage = result.snippet or result.title
            quote, qs, qe = (
                (window.text, window.start, window.end) if window else (passage, 0, len(passage))
            )
            lines.append(f"[W{j + 1}] {result.title} ({result.url}) : « {quote} »")
            answer.web_citations.append(
                WebCitation(j + 1, result.title, result.url, quote, qs, qe, True, 1.0)
            )
        answer.text = "\n".join(lines)
