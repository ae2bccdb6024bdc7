"""One evaluation run: each question through `rag`'s search and answer, then every metric.

Records are appended to `progress.jsonl` in the output folder as each question ends,
so an interrupted run resumes where it stopped (`--resume`) and the judge cache makes
re-judging the finished ones free anyway.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.answer_metrics import Scored, answer_relevancy, faithfulness
from eval.citation_metrics import CitedSentence, citation_scores, gold_scores
from eval.context_metrics import context_precision, context_recall
from eval.correctness import semantic_similarity, token_f1, yardstick
from eval.datasets import DatasetError, Question, is_relevant
from eval.judge import Judge
from eval.prompts import supported
from eval.retrieval_metrics import hit_at_k, mrr_at_k, ndcg_at_k, recall_at_k
from rag.answer.citations import parse_citations
from rag.answer.service import Answer, AnswerService
from rag.retrieval.hybrid import SearchHit
from rag.store import DocumentStore
from rag.types import SearchFilters

RETRIEVAL_K = 10
ALL_JUDGED = (
    "faithfulness",
    "answer_relevancy",
    "context_precision",
    "context_recall",
    "citations",
)


class ResumeError(ValueError):
    """The progress file belongs to another run configuration."""


def select(questions: list[Question], limit: int | None) -> list[Question]:
    """The first `limit` questions in file order, alternating answerable and unanswerable
    ones when the set has both, so a small run still measures abstention."""
    if limit is None or limit >= len(questions):
        return list(questions)
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    if not answerable or not unanswerable:
        return questions[:limit]
    picked: list[Question] = []
    for pair in zip(answerable, unanswerable, strict=False):
        picked.extend(pair)
    rest = answerable[len(unanswerable) :] or unanswerable[len(answerable) :]
    return (picked + rest)[:limit]


def exclusion_filters(store: DocumentStore, doc_ids: tuple[str, ...]) -> SearchFilters | None:
    """Search filters that hide these documents (file stems, as `doc_ids`) and every
    stored document with the same content: spf holds some pages twice under two
    names, and a copy left visible would still answer the question.

    None when nothing is to be hidden. A doc id that names no stored document raises
    DatasetError: asked on the wrong store, the question would silently stay
    answerable and count as a wrong answer."""
    if not doc_ids:
        return None
    documents = store.list_documents()
    named = [d for d in documents if is_relevant(d.path, doc_ids)]
    missing = [i for i in doc_ids if not any(is_relevant(d.path, (i,)) for d in named)]
    if missing:
        raise DatasetError(
            f"documents to exclude not in the store: {', '.join(missing)}; ingest the data "
            "set's corpus into this store, or point --data-dir at the right one"
        )
    hashes = {d.sha256 for d in named}
    hidden = sorted({d.id for d in documents if d.sha256 in hashes})
    return SearchFilters(exclude_document_ids=tuple(hidden))


def retrieval_metrics(hits: list[SearchHit], doc_ids: tuple[str, ...]) -> dict[str, float]:
    """hit@k and MRR over the ranked chunks (as bench/retrieval_quality.py); recall and
    nDCG over the ranked documents, first occurrence of each."""
    flags = [is_relevant(h.document.path, doc_ids) for h in hits]
    documents = list(dict.fromkeys(Path(h.document.path).stem for h in hits))
    gold_found = [next((d for d in doc_ids if is_relevant(stem, (d,))), stem) for stem in documents]
    doc_flags = [is_relevant(stem, doc_ids) for stem in documents]
    return {
        "hit@1": hit_at_k(flags, 1),
        "hit@5": hit_at_k(flags, 5),
        "hit@10": hit_at_k(flags, 10),
        "mrr@10": mrr_at_k(flags, 10),
        "recall@10": recall_at_k(gold_found, list(doc_ids), RETRIEVAL_K),
        "ndcg@10": ndcg_at_k(doc_flags, RETRIEVAL_K, len(doc_ids)),
    }


def _hit_record(rank: int, hit: SearchHit, doc_ids: tuple[str, ...]) -> dict[str, Any]:
    return {
        "rank": rank,
        "chunk_id": hit.chunk.id,
        "document_id": hit.document.id,
        "path": hit.document.path,
        "title": hit.document.title,
        "page": hit.chunk.page_start,
        "score": round(hit.score, 6),
        "relevant": is_relevant(hit.document.path, doc_ids),
        "text": hit.chunk.text,
    }


@dataclass
class Evaluator:
    """Everything one question needs: the service under test and the judge."""

    service: AnswerService
    judge: Judge
    metrics: frozenset[str] = field(default_factory=lambda: frozenset(ALL_JUDGED))

    def evaluate(self, question: Question) -> dict[str, Any]:
        started = time.perf_counter()
        record: dict[str, Any] = {
            "id": question.id,
            "question": question.question,
            "lang": question.lang,
            "answerable": question.answerable,
            "reference_answers": list(question.reference_answers),
            "doc_ids": list(question.doc_ids),
            "exclude_doc_ids": list(question.exclude_doc_ids),
            "metrics": {},
            "details": {},
        }
        metrics: dict[str, float | None] = record["metrics"]
        details: dict[str, Any] = record["details"]
        # The same documents are hidden from the retrieval metrics and the answer.
        filters = exclusion_filters(self.service.search.store, question.exclude_doc_ids)
        hits = self.service.search.search(question.question, RETRIEVAL_K, filters).hits
        record["retrieved"] = [_hit_record(r, h, question.doc_ids) for r, h in enumerate(hits, 1)]
        if question.doc_ids:
            metrics.update(retrieval_metrics(hits, question.doc_ids))
        answer = self.service.ask(question.question, filters=filters)
        record["answer"] = answer.to_dict()
        record["sources"] = [s.chunk.id for s in answer.sources]
        answered = answer.mode != "not_found"
        metrics["answered"] = 1.0 if answered else 0.0
        contexts = [
            h.chunk.text for h in (answer.sources or hits[: self.service.settings.answer.sources])
        ]
        references = list(question.reference_answers)

        def put(name: str, scored: Scored) -> None:
            metrics[name] = scored.value
            details[name] = scored.detail

        # An extractive answer's claims are its quotes: split by the judge, the label line
        # before them became claims of its own ("The model's answer could not be
        # verified...", judged unsupported) and a quote glued to the next passage's title.
        quotes = [c.quote for c in answer.citations if answer.mode == "extractive"] or None
        claimed = "\n".join(quotes) if quotes else answer.text
        if answered and "faithfulness" in self.metrics:
            for name, scored in faithfulness(
                self.judge, question.question, answer.text, contexts, quotes
            ).items():
                put(name, scored)
        if question.answerable and references and "context_recall" in self.metrics:
            put("context_recall", context_recall(self.judge, references[0], contexts))
        if answered and answer.sources and "citations" in self.metrics:
            put_citations(self.judge, answer, metrics, details)
        if answered and question.answerable and question.doc_ids:
            cited = [(is_relevant(c.path, question.doc_ids), c.quote) for c in answer.citations]
            metrics.update(gold_scores(cited, references))
        if question.answerable and references and "context_precision" in self.metrics:
            put(
                "context_precision",
                context_precision(self.judge, question.question, references[0], contexts),
            )
        if answered and "answer_relevancy" in self.metrics:
            put(
                "answer_relevancy",
                answer_relevancy(
                    self.judge, yardstick(self.service.search.embedder), question.question, claimed
                ),
            )
        if question.answerable and references:
            metrics["token_f1"] = token_f1(claimed, references) if answered else 0.0
            metrics["semantic_similarity"] = (
                semantic_similarity(yardstick(self.service.search.embedder), claimed, references)
                if answered
                else 0.0
            )
        record["verdicts"] = [v.to_dict() for v in self.judge.take_verdicts()]
        record["seconds"] = round(time.perf_counter() - started, 3)
        return record


def put_citations(
    judge: Judge, answer: Answer, metrics: dict[str, float | None], details: dict[str, Any]
) -> None:
    passages = [h.chunk.text for h in answer.sources]
    if answer.mode == "extractive":
        # Its claims are the quotes, each from the passage it cites; the label line
        # before them is not a claim (re-parsing the text would glue it to quote [1]).
        sentences = [CitedSentence(c.quote, (c.n - 1,)) for c in answer.citations]
    else:
        parsed = parse_citations(answer.text, len(passages))
        sentences = [
            CitedSentence(s.text, tuple(n - 1 for n in s.sources)) for s in parsed.statements
        ]
    failed: list[str] = []
    memo: dict[tuple[str, str], bool] = {}

    def entails(premise: str, hypothesis: str) -> bool:
        if (premise, hypothesis) not in memo:
            verdict = judge.yes_probability("citations", supported(premise, hypothesis))
            if not verdict.ok:
                failed.append(verdict.error or "verdict failed")
            memo[premise, hypothesis] = verdict.yes
        return memo[premise, hypothesis]

    recall, precision, detail = citation_scores(sentences, passages, entails)
    details["citation_recall"] = details["citation_precision"] = {"sentences": detail}
    if failed:
        metrics["citation_recall"] = metrics["citation_precision"] = None
        details["citation_recall"]["error"] = failed[0]
    else:
        metrics["citation_recall"], metrics["citation_precision"] = recall, precision


class Progress:
    """`progress.jsonl`: a header with the run's configuration, then one record a line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def start(self, config: dict[str, Any], resume: bool) -> list[dict[str, Any]]:
        done: list[dict[str, Any]] = []
        if resume and self.path.exists():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            header = json.loads(lines[0]) if lines else {}
            if header.get("config") != config:
                raise ResumeError(
                    f"{self.path} was written by a run with other settings "
                    f"({header.get('config')}); run without --resume to start over"
                )
            for line in lines[1:]:
                try:
                    done.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # the line being written when the run was stopped
            self._rewrite(config, done)
            return done
        self._rewrite(config, [])
        return done

    def _rewrite(self, config: dict[str, Any], records: Iterable[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", encoding="utf-8") as f:
            f.write(json.dumps({"config": config}) + "\n")
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def run(
    evaluator: Evaluator,
    questions: list[Question],
    progress: Progress,
    config: dict[str, Any],
    resume: bool = False,
    on_record: Callable[[dict[str, Any], int, int], None] | None = None,
) -> list[dict[str, Any]]:
    done = progress.start(config, resume)
    finished = {r["id"] for r in done}
    records = [r for r in done if r["id"] in {q.id for q in questions}]
    for record in records:
        if on_record:
            on_record(record, len(records), len(questions))
    for question in questions:
        if question.id in finished:
            continue
        record = evaluator.evaluate(question)
        progress.append(record)
        records.append(record)
        if on_record:
            on_record(record, len(records), len(questions))
    return records
