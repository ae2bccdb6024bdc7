"""Grounded answers: retrieve, prompt with numbered sources, stream, verify citations.

Modes: `generative` (the LLM answered from the sources), `extractive` (the LLM is
unreachable or timed out: the most relevant passages, labelled as such), and
`not_found` (nothing relevant was retrieved, so the LLM is not called, or the LLM
said the sources do not answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rag.citations import best_quote, parse_citations, support
from rag.llm import LLM, GenerationParams, LLMUnavailable, Message, Usage, generation_params
from rag.prompts import (
    EXTRACTIVE_INTRO,
    NOT_FOUND,
    build_messages,
    looks_not_found,
    rewrite_messages,
)
from rag.retrieval import SearchFilters, SearchHit
from rag.search_service import SearchService
from rag.settings import Settings
from rag.text import detect_language


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
class Answer:
    question: str
    text: str
    mode: str
    language: str
    citations: list[Citation] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    standalone_question: str | None = None
    sources: list[SearchHit] = field(default_factory=list)
    """The passages the answer was built from, in `[n]` order (for the eval; the API's
    citations already carry what a reader needs)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "answer": self.text,
            "mode": self.mode,
            "language": self.language,
            "citations": [c.to_dict() for c in self.citations],
            "all_citations_supported": all(c.supported for c in self.citations),
            "notices": self.notices,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "usage": self.usage.to_dict(),
        }


Event = dict[str, Any]  # {"type": "token" | "answer", ...}


class AnswerService:
    def __init__(
        self,
        settings: Settings,
        search: SearchService | None = None,
        llm: LLM | None = None,
        llm_factory: Callable[[], LLM] | None = None,
    ) -> None:
        self.settings = settings
        self.search = search or SearchService(settings)
        self._llm = llm
        self._llm_factory = llm_factory

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
        **overrides: Any,
    ) -> Iterator[Event]:
        """Events: {"type": "stage", "name"} as each stage starts (rewrite, retrieve,
        generate, verify), {"type": "token", "text"} while generating, {"type": "reset"}
        if streamed tokens were abandoned, then one {"type": "answer"}.

        Closing the generator early stops the generation (the API does so when the
        client disconnects)."""
        started = time.perf_counter()
        question = self.search.validate_question(question)
        lang = detect_language(question)
        params = generation_params(self.settings, **overrides)
        answer = Answer(question, "", "generative", lang)
        standalone = question
        if history:
            yield {"type": "stage", "name": "rewrite"}
            t0 = time.perf_counter()
            standalone = self._rewrite(question, history, params, answer)
            answer.standalone_question = standalone
            answer.timings["rewrite_s"] = time.perf_counter() - t0
        yield {"type": "stage", "name": "retrieve"}
        t0 = time.perf_counter()
        result = self.search.search(
            standalone, self.settings.answer.sources if k is None else k, filters
        )
        answer.timings["retrieve_s"] = time.perf_counter() - t0
        hits = result.hits
        if not self._relevant(hits):
            answer.mode, answer.text = "not_found", NOT_FOUND[lang]
            answer.timings["total_s"] = time.perf_counter() - started
            yield {"type": "answer", "answer": answer}
            return
        yield {"type": "stage", "name": "generate"}
        messages, used = build_messages(
            standalone,
            hits,
            lang,
            self.llm.count_tokens,
            params.context_size,
            params.max_tokens,
            self.settings.answer.source_tokens,
        )
        if used < len(hits):
            answer.notices.append(f"{len(hits) - used} sources left out to fit the context")
        hits = hits[:used]
        answer.sources = hits
        pieces: list[str] = []
        t0 = time.perf_counter()
        try:
            generation = self.llm.generate(messages, params)
            for piece in generation:
                if not pieces:
                    answer.timings["first_token_s"] = time.perf_counter() - started
                pieces.append(piece)
                yield {"type": "token", "text": piece}
            answer.usage = generation.usage
        except LLMUnavailable as exc:
            answer.notices.append(f"LLM unavailable: {exc}")
            if pieces:
                # Tokens already streamed belong to an abandoned answer: say so.
                yield {"type": "reset"}
            answer.timings["generate_s"] = time.perf_counter() - t0
            self._extractive(answer, standalone, hits, lang)
            answer.timings["total_s"] = time.perf_counter() - started
            yield {"type": "answer", "answer": answer}
            return
        answer.timings["generate_s"] = time.perf_counter() - t0
        if answer.usage.truncated_prompt:
            answer.notices.append("the LLM server cut the prompt: raise RAG_LLM__CONTEXT_SIZE")
        raw = "".join(pieces).strip()
        if looks_not_found(raw) or not raw:
            answer.mode, answer.text = "not_found", NOT_FOUND[lang]
        else:
            yield {"type": "stage", "name": "verify"}
            t0 = time.perf_counter()
            self._cite(answer, raw, hits, lang)
            answer.timings["verify_s"] = time.perf_counter() - t0
        answer.timings["total_s"] = time.perf_counter() - started
        yield {"type": "answer", "answer": answer}

    # -- steps -----------------------------------------------------------------------------

    def _relevant(self, hits: list[SearchHit]) -> bool:
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
            if 3 <= len(text) <= 2 * self.settings.retrieval.max_question_chars:
                return text
        except LLMUnavailable as exc:
            answer.notices.append(f"follow-up not rewritten: {exc}")
        previous = [m["content"] for m in history if m.get("role") == "user"]
        return f"{previous[-1]} {question}" if previous else question

    def _cite(self, answer: Answer, raw: str, hits: list[SearchHit], lang: str) -> None:
        parsed = parse_citations(raw, len(hits))
        answer.text = parsed.text
        if parsed.dropped:
            answer.notices.append(
                "citations to sources that do not exist were removed: "
                + ", ".join(f"[{n}]" for n in parsed.dropped)
            )
        threshold = self.settings.answer.support_threshold
        best: dict[int, Citation] = {}
        for statement in parsed.statements:
            for n in statement.sources:
                hit = hits[n - 1]
                score = support(statement.text, hit.chunk.text, lang)
                quote, qs, qe = best_quote(statement.text, hit.chunk.text, lang)
                citation = self._citation(n, hit, quote, qs, qe, score >= threshold, score)
                # A source cited by several statements is reported once, by its weakest
                # support: one unsupported use is enough to flag it.
                if n not in best or score < best[n].support:
                    best[n] = citation
        answer.citations = [best[n] for n in sorted(best)]
        if any(not c.supported for c in answer.citations):
            answer.notices.append("some citations are not supported by their source")
        uncited = sum(1 for st in parsed.statements if not st.sources)
        if uncited == len(parsed.statements):
            answer.notices.append("the answer cites no source")
        elif uncited:
            answer.notices.append(f"{uncited} sentence(s) of the answer cite no source")

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
        doc_start = hit.chunk.start + start
        page = hit.chunk.page_start
        for span in self.search.store.page_map(hit.document.id):
            if span.start <= doc_start <= span.end:
                page = span.number
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

    def _extractive(self, answer: Answer, question: str, hits: list[SearchHit], lang: str) -> None:
        answer.mode = "extractive"
        lines = [EXTRACTIVE_INTRO[lang]]
        for n, hit in enumerate(hits[:3], start=1):
            quote, qs, qe = best_quote(question, hit.chunk.text, lang)
            lines.append(f"[{n}] {hit.document.title}, p. {hit.chunk.page_start} : « {quote} »")
            answer.citations.append(self._citation(n, hit, quote, qs, qe, True, 1.0))
        answer.text = "\n".join(lines)
