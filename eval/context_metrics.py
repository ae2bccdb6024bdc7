"""Judged context metrics of ragas, against the reference answer.

Context precision (ragas `LLMContextPrecisionWithReference`): the judge says, for each
retrieved passage in rank order, whether it was useful to arrive at the reference
answer (v_k in {0, 1}); the score is the average precision
    sum_k (precision@k * v_k) / sum_k v_k,
0 when no passage is useful. It rewards rankings that put the useful passages first.

Context recall (ragas `LLMContextRecall`): the reference answer is split into sentences
and the judge says whether each can be attributed to the retrieved context; the score
is attributed sentences / sentences. (ragas has the LLM split and classify in one call;
sentences are split here by rule, which a 1.5B judge does no better.)
"""

from __future__ import annotations

from collections.abc import Sequence

from eval import prompts
from eval.answer_metrics import Scored, join_contexts
from eval.judge import Judge
from rag.text import sentences


def average_precision(useful: Sequence[bool]) -> float:
    """ragas' formula for context precision over rank-ordered usefulness verdicts."""
    found = 0
    total = 0.0
    for rank, flag in enumerate(useful, start=1):
        if flag:
            found += 1
            total += found / rank
    return total / found if found else 0.0


def context_precision(
    judge: Judge, question: str, reference: str, contexts: Sequence[str]
) -> Scored:
    verdicts = [
        judge.yes_probability("context_precision", prompts.useful(question, reference, c))
        for c in contexts
    ]
    detail = {"useful": [v.yes for v in verdicts], "p_yes": [v.value for v in verdicts]}
    if not contexts:
        return Scored(0.0, detail)
    if not all(v.ok for v in verdicts):
        return Scored(None, {**detail, "error": "a passage verdict failed"})
    return Scored(average_precision([v.yes for v in verdicts]), detail)


def context_recall(judge: Judge, reference: str, contexts: Sequence[str]) -> Scored:
    parts = [reference[s:e] for s, e in sentences(reference)] or [reference]
    context = join_contexts(contexts)
    verdicts = [
        judge.yes_probability("context_recall", prompts.supported(context, p)) for p in parts
    ]
    detail = {
        "sentences": [
            {"sentence": p, "attributed": v.yes, "p_yes": v.value}
            for p, v in zip(parts, verdicts, strict=True)
        ]
    }
    if not all(v.ok for v in verdicts):
        return Scored(None, {**detail, "error": "a sentence verdict failed"})
    return Scored(sum(v.yes for v in verdicts) / len(verdicts), detail)
