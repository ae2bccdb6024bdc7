"""Judged answer metrics of ragas: faithfulness and answer relevancy.

Faithfulness (ragas `Faithfulness`; Es et al., "RAGAS: Automated Evaluation of
Retrieval Augmented Generation", EACL 2024, §3): the judge splits the answer into
standalone statements; each statement is judged against the retrieved context;
faithfulness = supported statements / statements. Here a statement is supported when
the judge's P(yes) >= 0.5; `faithfulness_graded` is the mean P(yes) itself, which
separates answers that the binary score ties (see the HaluEval calibration).

Answer relevancy (ragas `AnswerRelevancy`, same paper): the judge writes the questions
the answer answers and says whether the answer is noncommittal; the score is the mean
cosine similarity between the embeddings of those questions and of the real question,
and 0 for a noncommittal answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eval import prompts
from eval.correctness import cosine, strip_markers
from eval.judge import Judge
from rag.embedding import Embedder


@dataclass
class Scored:
    """A metric's value for one question (None: the judge failed), and why."""

    value: float | None
    detail: dict[str, Any] = field(default_factory=dict)


def join_contexts(contexts: Sequence[str]) -> str:
    return "\n\n".join(contexts)


def faithfulness(
    judge: Judge,
    question: str,
    answer: str,
    contexts: Sequence[str],
    statements: Sequence[str] | None = None,
) -> dict[str, Scored]:
    """{"faithfulness": ..., "faithfulness_graded": ...} for one answer.

    `statements`, when given, are the answer's claims already split (an extractive
    answer's quotes): the judge does not split them again.
    """
    if statements is None:
        split = judge.structured(
            "faithfulness", prompts.statements(question, strip_markers(answer)), prompts.Statements
        )
        if not split.ok:
            failed = Scored(None, {"error": split.error})
            return {"faithfulness": failed, "faithfulness_graded": failed}
        statements = split.value["statements"]
    statements = [s.strip() for s in statements if s.strip()]
    if not statements:
        failed = Scored(None, {"error": "the judge found no statement in the answer"})
        return {"faithfulness": failed, "faithfulness_graded": failed}
    context = join_contexts(contexts)
    verdicts = [
        judge.yes_probability("faithfulness", prompts.supported(context, s)) for s in statements
    ]
    detail = {
        "statements": [
            {"statement": s, "p_yes": v.value, "supported": v.yes, "ok": v.ok}
            for s, v in zip(statements, verdicts, strict=True)
        ]
    }
    if not all(v.ok for v in verdicts):
        failed = Scored(None, {**detail, "error": "a statement verdict failed"})
        return {"faithfulness": failed, "faithfulness_graded": failed}
    return {
        "faithfulness": Scored(sum(v.yes for v in verdicts) / len(verdicts), detail),
        "faithfulness_graded": Scored(float(np.mean([v.value for v in verdicts])), detail),
    }


def answer_relevancy(judge: Judge, embedder: Embedder, question: str, answer: str) -> Scored:
    generated = judge.structured(
        "answer_relevancy", prompts.questions_for(answer), prompts.GeneratedQuestions
    )
    if not generated.ok:
        return Scored(None, {"error": generated.error})
    questions = [q for q in generated.value["questions"] if q.strip()]
    noncommittal = bool(generated.value["noncommittal"])
    detail = {"generated_questions": questions, "noncommittal": noncommittal}
    if noncommittal or not questions:
        return Scored(0.0, detail)
    target = embedder.embed_query(question)
    similarities = [cosine(embedder.embed_query(q), target) for q in questions]
    detail["similarities"] = [round(s, 4) for s in similarities]
    return Scored(float(np.mean(similarities)), detail)
