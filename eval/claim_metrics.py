"""Claim-level RAG metrics of RAGChecker, computed from entailment labels.

RAGChecker (Ru et al., "RAGChecker: A Fine-grained Framework for Diagnosing
Retrieval-Augmented Generation", NeurIPS 2024, arXiv:2408.08067) splits the ground-truth
answer and the response into claims, has a judge label each claim against a reference
("Entailment", "Neutral" or "Contradiction"), and derives every metric from four label sets.
The definitions below mirror `ragchecker/computation.py` (per-sample metrics) and
`ragchecker/evaluator.py` (`RAGChecker.evaluate`, aggregation) of
github.com/amazon-science/RAGChecker at commit 6091f08, and reproduce the values in its
`examples/checking_outputs.json` exactly. No judge is called here: the labels come in.

Naming, as upstream: in "X2Y" X is the reference (premise) and Y's claims are checked:

- `answer2response[i]`: does the ground-truth answer entail response claim i?
  (one label per response claim; its mean is *precision*)
- `response2answer[j]`: does the response entail ground-truth claim j?
  (one label per ground-truth claim; its mean is *recall*)
- `retrieved2response[i][k]`: does retrieved chunk k entail response claim i?
- `retrieved2answer[j][k]`: does retrieved chunk k entail ground-truth claim j?

Only "Entailment" counts as true; "Neutral" and "Contradiction" both count as false.
A claim is "entailed by the context" when at least one chunk entails it (the maximum
over the chunk axis). A chunk is *relevant* when it entails at least one ground-truth claim.
Where a denominator would be empty (no claims, no chunks), a metric is 0.0, as upstream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

ENTAILMENT = "Entailment"
NEUTRAL = "Neutral"
CONTRADICTION = "Contradiction"
LABELS = frozenset({ENTAILMENT, NEUTRAL, CONTRADICTION})

Labels = Sequence[str]
"""One label per claim."""
LabelMatrix = Sequence[Sequence[str]]
"""One row per claim, one label per retrieved chunk in each row."""

PRECISION = "precision"
RECALL = "recall"
F1 = "f1"
CLAIM_RECALL = "claim_recall"
CONTEXT_PRECISION = "context_precision"
CONTEXT_UTILIZATION = "context_utilization"
NOISE_SENSITIVITY_IN_RELEVANT = "noise_sensitivity_in_relevant"
NOISE_SENSITIVITY_IN_IRRELEVANT = "noise_sensitivity_in_irrelevant"
HALLUCINATION = "hallucination"
SELF_KNOWLEDGE = "self_knowledge"
FAITHFULNESS = "faithfulness"

METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "overall": (PRECISION, RECALL, F1),
    "retriever": (CLAIM_RECALL, CONTEXT_PRECISION),
    "generator": (
        CONTEXT_UTILIZATION,
        NOISE_SENSITIVITY_IN_RELEVANT,
        NOISE_SENSITIVITY_IN_IRRELEVANT,
        HALLUCINATION,
        SELF_KNOWLEDGE,
        FAITHFULNESS,
    ),
}
"""The report groups of `ragchecker/metrics.py` (there named overall_metrics, ...)."""

ALL_METRICS: tuple[str, ...] = tuple(name for group in METRIC_GROUPS.values() for name in group)


# --- label helpers ------------------------------------------------------------------------


def entailed(labels: Labels) -> list[bool]:
    """True where a label is "Entailment" (upstream `to_bool`); rejects unknown labels."""
    flags: list[bool] = []
    for label in labels:
        if label not in LABELS:
            raise ValueError(
                f"unknown entailment label {label!r}; expected one of {sorted(LABELS)}"
            )
        flags.append(label == ENTAILMENT)
    return flags


def _entailed_matrix(matrix: LabelMatrix) -> list[list[bool]]:
    rows = [entailed(row) for row in matrix]
    if rows and any(len(row) != len(rows[0]) for row in rows):
        raise ValueError("every claim needs one label per retrieved chunk (ragged label matrix)")
    return rows


def _n_chunks(rows: Sequence[Sequence[bool]]) -> int:
    return len(rows[0]) if rows else 0


def _by_any_chunk(rows: Sequence[Sequence[bool]]) -> list[bool]:
    """Per claim: entailed by at least one chunk (max over the chunk axis)."""
    return [any(row) for row in rows]


def _relevant_chunks(answer_rows: Sequence[Sequence[bool]]) -> list[bool]:
    """Per chunk: entails at least one ground-truth claim (max over the claim axis)."""
    return [any(row[k] for row in answer_rows) for k in range(_n_chunks(answer_rows))]


def _check_same_claims(labels: Labels, rows: Sequence[object], what: str) -> None:
    if len(labels) != len(rows):
        raise ValueError(f"{what}: {len(labels)} labels but {len(rows)} label rows")


def _check_same_chunks(response_rows: list[list[bool]], answer_rows: list[list[bool]]) -> None:
    if response_rows and answer_rows and _n_chunks(response_rows) != _n_chunks(answer_rows):
        raise ValueError(
            f"retrieved2response has {_n_chunks(response_rows)} chunks, "
            f"retrieved2answer {_n_chunks(answer_rows)}"
        )


def _mean(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags)


# --- overall metrics ----------------------------------------------------------------------


def precision(answer2response: Labels) -> float:
    """Share of response claims entailed by the ground-truth answer (correctness).

    precision = |{response claims entailed by the answer}| / |response claims|; 0.0 with no
    response claims. Source: RAGChecker (arXiv:2408.08067), overall metrics;
    `evaluate_precision` in ragchecker/computation.py.
    """
    flags = entailed(answer2response)
    return _mean(flags) if flags else 0.0


def recall(response2answer: Labels) -> float:
    """Share of ground-truth claims entailed by the response (completeness).

    recall = |{answer claims entailed by the response}| / |answer claims|; 0.0 with no
    answer claims. Source: RAGChecker (arXiv:2408.08067), overall metrics;
    `evaluate_recall` in ragchecker/computation.py.
    """
    flags = entailed(response2answer)
    return _mean(flags) if flags else 0.0


def f1_score(precision_value: float, recall_value: float) -> float:
    """Harmonic mean of one sample's precision and recall.

    f1 = 2 * P * R / (P + R) when P > 0 and R > 0, else 0.0. The overall F1 of a run is the
    mean of per-sample F1 values, not the F1 of the mean precision and recall.
    Source: RAGChecker (arXiv:2408.08067), overall metrics; `evaluate_f1` in
    ragchecker/computation.py.
    """
    if precision_value > 0 and recall_value > 0:
        return 2 * precision_value * recall_value / (precision_value + recall_value)
    return 0.0


# --- retriever metrics --------------------------------------------------------------------


def claim_recall(retrieved2answer: LabelMatrix) -> float:
    """Share of ground-truth claims entailed by at least one retrieved chunk.

    claim_recall = |{answer claims entailed by any chunk}| / |answer claims|; 0.0 with no
    answer claims or no chunks. Source: RAGChecker (arXiv:2408.08067), retriever metrics;
    `evaluate_retrieval` in ragchecker/computation.py.
    """
    rows = _entailed_matrix(retrieved2answer)
    if not rows or _n_chunks(rows) == 0:
        return 0.0
    return _mean(_by_any_chunk(rows))


def context_precision(retrieved2answer: LabelMatrix) -> float:
    """Share of retrieved chunks that are relevant (entail at least one ground-truth claim).

    context_precision = |{chunks entailing any answer claim}| / |chunks|; rank plays no part.
    0.0 with no answer claims or no chunks. Source: RAGChecker (arXiv:2408.08067),
    retriever metrics; `evaluate_retrieval` in ragchecker/computation.py.
    """
    rows = _entailed_matrix(retrieved2answer)
    if not rows or _n_chunks(rows) == 0:
        return 0.0
    return _mean(_relevant_chunks(rows))


# --- generator metrics --------------------------------------------------------------------


def context_utilization(retrieved2answer: LabelMatrix, response2answer: Labels) -> float:
    """Of the ground-truth claims found in the context, the share the response also states.

    context_utilization = |{answer claims entailed by any chunk and by the response}| /
    |{answer claims entailed by any chunk}|; 0.0 with no answer claims, no chunks, or no
    answer claim in the context. Source: RAGChecker (arXiv:2408.08067), generator metrics;
    `evaluate_context_utilization` in ragchecker/computation.py.
    """
    rows = _entailed_matrix(retrieved2answer)
    in_response = entailed(response2answer)
    _check_same_claims(response2answer, rows, "response2answer vs retrieved2answer")
    if not rows or _n_chunks(rows) == 0:
        return 0.0
    in_context = _by_any_chunk(rows)
    n_in_context = sum(in_context)
    if n_in_context == 0:
        return 0.0
    used = sum(c and r for c, r in zip(in_context, in_response, strict=True))
    return used / n_in_context


def _noise_sensitivity(
    retrieved2response: LabelMatrix, answer2response: Labels, retrieved2answer: LabelMatrix
) -> tuple[float, float]:
    response_rows = _entailed_matrix(retrieved2response)
    answer_rows = _entailed_matrix(retrieved2answer)
    correct = entailed(answer2response)
    _check_same_claims(answer2response, response_rows, "answer2response vs retrieved2response")
    _check_same_chunks(response_rows, answer_rows)
    if not correct or _n_chunks(response_rows) == 0 or not answer_rows:
        return 0.0, 0.0
    relevant = _relevant_chunks(answer_rows)
    n_relevant = n_irrelevant = 0
    for row, is_correct in zip(response_rows, correct, strict=True):
        if is_correct:
            continue
        if any(e and r for e, r in zip(row, relevant, strict=True)):
            n_relevant += 1
        elif any(e and not r for e, r in zip(row, relevant, strict=True)):
            n_irrelevant += 1
    return n_relevant / len(correct), n_irrelevant / len(correct)


def noise_sensitivity_in_relevant(
    retrieved2response: LabelMatrix, answer2response: Labels, retrieved2answer: LabelMatrix
) -> float:
    """Share of response claims that are incorrect yet entailed by a relevant chunk.

    NS(relevant) = |{response claims not entailed by the answer, entailed by at least one
    relevant chunk}| / |response claims|, a relevant chunk being one that entails at least
    one ground-truth claim. Lower is better. 0.0 with no response claims, no chunks or no
    answer claims. Source: RAGChecker (arXiv:2408.08067), generator metrics;
    `evaluate_noise_sensitivity` in ragchecker/computation.py.
    """
    return _noise_sensitivity(retrieved2response, answer2response, retrieved2answer)[0]


def noise_sensitivity_in_irrelevant(
    retrieved2response: LabelMatrix, answer2response: Labels, retrieved2answer: LabelMatrix
) -> float:
    """Share of response claims that are incorrect and entailed only by irrelevant chunks.

    NS(irrelevant) = |{response claims not entailed by the answer, entailed by at least one
    irrelevant chunk and by no relevant chunk}| / |response claims|; the two noise
    sensitivities are exclusive (a claim entailed by both kinds counts as relevant only).
    Lower is better. 0.0 with no response claims, no chunks or no answer claims.
    Source: RAGChecker (arXiv:2408.08067), generator metrics;
    `evaluate_noise_sensitivity` in ragchecker/computation.py.
    """
    return _noise_sensitivity(retrieved2response, answer2response, retrieved2answer)[1]


def _unfaithful_split(
    retrieved2response: LabelMatrix, answer2response: Labels
) -> tuple[float, float]:
    rows = _entailed_matrix(retrieved2response)
    correct = entailed(answer2response)
    _check_same_claims(answer2response, rows, "answer2response vs retrieved2response")
    if not correct or _n_chunks(rows) == 0:
        return 0.0, 0.0
    unfaithful = [not e for e in _by_any_chunk(rows)]
    n_wrong = sum(u and not c for u, c in zip(unfaithful, correct, strict=True))
    n_right = sum(u and c for u, c in zip(unfaithful, correct, strict=True))
    return n_wrong / len(correct), n_right / len(correct)


def hallucination(retrieved2response: LabelMatrix, answer2response: Labels) -> float:
    """Share of response claims that are incorrect and entailed by no retrieved chunk.

    hallucination = |{response claims entailed by no chunk and not by the answer}| /
    |response claims|. Lower is better. 0.0 with no response claims or no chunks (so with
    an empty context nothing counts as hallucinated). Source: RAGChecker (arXiv:2408.08067),
    generator metrics; `evaluate_unfaithfulness` in ragchecker/computation.py.
    """
    return _unfaithful_split(retrieved2response, answer2response)[0]


def self_knowledge(retrieved2response: LabelMatrix, answer2response: Labels) -> float:
    """Share of response claims that are correct but entailed by no retrieved chunk.

    self_knowledge = |{response claims entailed by no chunk but by the answer}| /
    |response claims|. 0.0 with no response claims or no chunks. Source: RAGChecker
    (arXiv:2408.08067), generator metrics; `evaluate_unfaithfulness` in
    ragchecker/computation.py.
    """
    return _unfaithful_split(retrieved2response, answer2response)[1]


def faithfulness(retrieved2response: LabelMatrix) -> float:
    """Share of response claims entailed by at least one retrieved chunk.

    faithfulness = |{response claims entailed by any chunk}| / |response claims|; 0.0 with
    no response claims or no chunks. With both present, faithfulness + hallucination +
    self_knowledge = 1. Source: RAGChecker (arXiv:2408.08067), generator metrics;
    `evaluate_faithfulness` in ragchecker/computation.py.
    """
    rows = _entailed_matrix(retrieved2response)
    if not rows or _n_chunks(rows) == 0:
        return 0.0
    return _mean(_by_any_chunk(rows))


# --- one sample, many samples -------------------------------------------------------------


def compute_claim_metrics(
    *,
    answer2response: Labels,
    response2answer: Labels,
    retrieved2response: LabelMatrix,
    retrieved2answer: LabelMatrix,
) -> dict[str, float]:
    """All eleven RAGChecker metrics of one sample, keyed as in `ALL_METRICS`, in [0, 1].

    Checks that the four label sets agree in shape: one row of `retrieved2response` per
    response claim, one row of `retrieved2answer` per answer claim, the same chunks in both.
    """
    response_rows = _entailed_matrix(retrieved2response)
    answer_rows = _entailed_matrix(retrieved2answer)
    _check_same_claims(answer2response, response_rows, "answer2response vs retrieved2response")
    _check_same_claims(response2answer, answer_rows, "response2answer vs retrieved2answer")
    _check_same_chunks(response_rows, answer_rows)
    p = precision(answer2response)
    r = recall(response2answer)
    ns_relevant, ns_irrelevant = _noise_sensitivity(
        retrieved2response, answer2response, retrieved2answer
    )
    halluc, self_know = _unfaithful_split(retrieved2response, answer2response)
    values = {
        PRECISION: p,
        RECALL: r,
        F1: f1_score(p, r),
        CLAIM_RECALL: claim_recall(retrieved2answer),
        CONTEXT_PRECISION: context_precision(retrieved2answer),
        CONTEXT_UTILIZATION: context_utilization(retrieved2answer, response2answer),
        NOISE_SENSITIVITY_IN_RELEVANT: ns_relevant,
        NOISE_SENSITIVITY_IN_IRRELEVANT: ns_irrelevant,
        HALLUCINATION: halluc,
        SELF_KNOWLEDGE: self_know,
        FAITHFULNESS: faithfulness(retrieved2response),
    }
    return {name: values[name] for name in ALL_METRICS}


def round_percent(value: float) -> float:
    """`value` x 100 rounded to one decimal the way upstream's `round(np.float64, 1)` does.

    That is numpy's rounding (scale by 10, round half to even, scale back), which can differ
    from Python's `round(float, 1)`: 0.0245 gives 2.4 here, where `round(2.45, 1)` is 2.5.
    """
    return float(np.round(np.float64(value) * 100, 1))


def aggregate_claim_metrics(
    per_sample: Sequence[Mapping[str, float]], metrics: Sequence[str] = ALL_METRICS
) -> dict[str, float]:
    """Run-level metrics: per metric, the mean over samples, x 100, rounded to one decimal.

    Every sample counts, including those whose metrics fell back to 0.0 on empty inputs.
    The mean is numpy's (pairwise summation) so that the rounded numbers match upstream's
    `RAGChecker.evaluate` in ragchecker/evaluator.py to the last digit.
    """
    if not per_sample:
        raise ValueError("no samples to aggregate")
    return {
        name: round_percent(float(np.mean([sample[name] for sample in per_sample])))
        for name in metrics
    }


def group_metrics(flat: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Nest flat metrics into RAGChecker's report groups (overall, retriever, generator)."""
    return {
        group: {name: flat[name] for name in names if name in flat}
        for group, names in METRIC_GROUPS.items()
    }
