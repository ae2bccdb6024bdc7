"""Prometheus metrics of one app: HTTP metrics come from
prometheus-fastapi-instrumentator, the service's own are below. Each app has its
own registry, so tests can build many apps in one process."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.retrieval = Histogram(
            "rag_retrieval_seconds", "Time to retrieve passages.", buckets=_LATENCY, registry=r
        )
        self.generation = Histogram(
            "rag_generation_seconds", "Time to generate an answer.", buckets=_LATENCY, registry=r
        )
        self.first_token = Histogram(
            "rag_first_token_seconds",
            "From request to first answer token.",
            buckets=_LATENCY,
            registry=r,
        )
        self.tokens = Counter("rag_tokens", "LLM tokens.", ["kind"], registry=r)
        self.answers = Counter("rag_answers", "Answers by mode.", ["mode"], registry=r)
        self.rejected = Counter(
            "rag_rejected_requests", "Requests refused by a limit.", ["reason"], registry=r
        )
        self.generations_running = Gauge(
            "rag_generations_running", "Answers being generated.", registry=r
        )
        self.generations_waiting = Gauge(
            "rag_generations_waiting", "Answers waiting for a slot.", registry=r
        )
        self.web_searches = Counter(
            "rag_web_searches",
            "SearXNG searches by outcome (ok, empty, unavailable, disabled).",
            ["outcome"],
            registry=r,
        )
        self.web_search = Histogram(
            "rag_web_search_seconds", "Time to get web results.", buckets=_LATENCY, registry=r
        )
        self.ingest_files = Counter(
            "rag_ingest_files", "Files handled by ingest jobs.", ["outcome"], registry=r
        )
        self.ingest_chunks = Counter("rag_ingest_chunks", "Chunks embedded.", registry=r)
        self.ingest_jobs = Counter(
            "rag_ingest_jobs", "Ingest jobs finished.", ["status"], registry=r
        )
        self.feedback = Counter(
            "rag_feedback",
            "Ratings of answers received (POST /v1/answers/{id}/feedback), by rating; a "
            "rating changed counts again.",
            ["rating"],
            registry=r,
        )
        for rating in ("up", "down"):
            self.feedback.labels(rating)  # shown at 0 before the first rating

    def observe_answer(self, answer: Any) -> None:
        t = answer.timings
        if "retrieve_s" in t:
            self.retrieval.observe(t["retrieve_s"])
        if "generate_s" in t:
            self.generation.observe(t["generate_s"])
        if "first_token_s" in t:
            self.first_token.observe(t["first_token_s"])
        self.tokens.labels("prompt").inc(answer.usage.prompt_tokens)
        self.tokens.labels("completion").inc(answer.usage.completion_tokens)
        self.answers.labels(answer.mode).inc()
        if answer.web_search:
            self.web_searches.labels(answer.web_search).inc()
        if "web_s" in t:
            self.web_search.observe(t["web_s"])
