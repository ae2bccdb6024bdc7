"""RAGChecker claim metrics: parity with upstream's example outputs, hand-made cases."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eval import claim_metrics as cm
from eval.claim_metrics import (
    ALL_METRICS,
    aggregate_claim_metrics,
    claim_recall,
    compute_claim_metrics,
    context_precision,
    context_utilization,
    f1_score,
    faithfulness,
    group_metrics,
    hallucination,
    noise_sensitivity_in_irrelevant,
    noise_sensitivity_in_relevant,
    precision,
    recall,
    round_percent,
    self_knowledge,
)
from tests.conftest import DATASETS

E, N, C = "Entailment", "Neutral", "Contradiction"
LABEL_KEYS = ("answer2response", "response2answer", "retrieved2response", "retrieved2answer")

CHECKING_OUTPUTS = DATASETS / "ragchecker" / "checking_outputs.json"


# --- parity with RAGChecker's examples/checking_outputs.json -------------------------------


@pytest.fixture(scope="module")
def ragchecker_outputs() -> dict[str, Any]:
    if not CHECKING_OUTPUTS.is_file():
        pytest.skip(f"RAGChecker's examples/checking_outputs.json not found at {CHECKING_OUTPUTS}")
    data: dict[str, Any] = json.loads(CHECKING_OUTPUTS.read_text(encoding="utf-8"))
    return data


def _labels(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in LABEL_KEYS}


def test_per_question_metrics_reproduce_ragchecker(ragchecker_outputs: dict[str, Any]) -> None:
    records = ragchecker_outputs["results"]
    assert len(records) == 2
    for record in records:
        got = compute_claim_metrics(**_labels(record))
        assert set(got) == set(record["metrics"]) == set(ALL_METRICS)
        for name, expected in record["metrics"].items():
            assert got[name] == pytest.approx(expected, abs=1e-12), (record["query_id"], name)


def test_single_metric_functions_reproduce_ragchecker(ragchecker_outputs: dict[str, Any]) -> None:
    for r in ragchecker_outputs["results"]:
        a2r, r2a, ret2r, ret2a = (r[key] for key in LABEL_KEYS)
        p, rc = precision(a2r), recall(r2a)
        got = {
            "precision": p,
            "recall": rc,
            "f1": f1_score(p, rc),
            "claim_recall": claim_recall(ret2a),
            "context_precision": context_precision(ret2a),
            "context_utilization": context_utilization(ret2a, r2a),
            "noise_sensitivity_in_relevant": noise_sensitivity_in_relevant(ret2r, a2r, ret2a),
            "noise_sensitivity_in_irrelevant": noise_sensitivity_in_irrelevant(ret2r, a2r, ret2a),
            "hallucination": hallucination(ret2r, a2r),
            "self_knowledge": self_knowledge(ret2r, a2r),
            "faithfulness": faithfulness(ret2r),
        }
        assert got == pytest.approx(r["metrics"], abs=1e-12), r["query_id"]


def test_overall_metrics_reproduce_ragchecker(ragchecker_outputs: dict[str, Any]) -> None:
    records = ragchecker_outputs["results"]
    overall = aggregate_claim_metrics([compute_claim_metrics(**_labels(r)) for r in records])
    # Same groups, same names, same numbers (percentages rounded to one decimal).
    assert group_metrics(overall) == ragchecker_outputs["metrics"]
    # Aggregating upstream's own per-question values gives the same numbers.
    assert aggregate_claim_metrics([r["metrics"] for r in records]) == overall


# --- a hand-made sample exercising every metric --------------------------------------------
#
# Ground-truth claims g0..g2, response claims r0..r4, chunks k0..k2.
# k0 entails g0 and g2 (relevant); k1 only contradicts g2, k2 entails no g (irrelevant).
RETRIEVED2ANSWER = [
    [E, N, N],  # g0: in k0
    [N, N, N],  # g1: in no chunk
    [E, C, N],  # g2: in k0 (a contradiction is not an entailment)
]
RESPONSE2ANSWER = [E, E, N]  # the response states g0 and g1, not g2
ANSWER2RESPONSE = [E, N, C, E, N]  # r0 and r3 are correct
RETRIEVED2RESPONSE = [
    [E, N, N],  # r0: correct, from relevant k0
    [E, E, N],  # r1: incorrect, from relevant k0 (and k1): relevant noise
    [N, N, E],  # r2: incorrect, only from irrelevant k2: irrelevant noise
    [N, N, N],  # r3: correct, from no chunk: self-knowledge
    [N, C, N],  # r4: incorrect, from no chunk: hallucination
]


def test_hand_made_sample_overall_metrics() -> None:
    assert precision(ANSWER2RESPONSE) == pytest.approx(2 / 5)
    assert recall(RESPONSE2ANSWER) == pytest.approx(2 / 3)
    assert f1_score(2 / 5, 2 / 3) == pytest.approx(0.5)


def test_hand_made_sample_retriever_metrics() -> None:
    assert claim_recall(RETRIEVED2ANSWER) == pytest.approx(2 / 3)  # g0, g2
    assert context_precision(RETRIEVED2ANSWER) == pytest.approx(1 / 3)  # k0 only


def test_hand_made_sample_generator_metrics() -> None:
    # g0 and g2 are in the context; the response states g0 only (g1 it states from elsewhere).
    assert context_utilization(RETRIEVED2ANSWER, RESPONSE2ANSWER) == pytest.approx(1 / 2)
    args = (RETRIEVED2RESPONSE, ANSWER2RESPONSE, RETRIEVED2ANSWER)
    assert noise_sensitivity_in_relevant(*args) == pytest.approx(1 / 5)  # r1
    assert noise_sensitivity_in_irrelevant(*args) == pytest.approx(1 / 5)  # r2
    assert hallucination(RETRIEVED2RESPONSE, ANSWER2RESPONSE) == pytest.approx(1 / 5)  # r4
    assert self_knowledge(RETRIEVED2RESPONSE, ANSWER2RESPONSE) == pytest.approx(1 / 5)  # r3
    assert faithfulness(RETRIEVED2RESPONSE) == pytest.approx(3 / 5)  # r0, r1, r2


def test_hand_made_sample_all_at_once() -> None:
    got = compute_claim_metrics(
        answer2response=ANSWER2RESPONSE,
        response2answer=RESPONSE2ANSWER,
        retrieved2response=RETRIEVED2RESPONSE,
        retrieved2answer=RETRIEVED2ANSWER,
    )
    assert tuple(got) == ALL_METRICS
    assert got == pytest.approx(
        {
            "precision": 0.4,
            "recall": 2 / 3,
            "f1": 0.5,
            "claim_recall": 2 / 3,
            "context_precision": 1 / 3,
            "context_utilization": 0.5,
            "noise_sensitivity_in_relevant": 0.2,
            "noise_sensitivity_in_irrelevant": 0.2,
            "hallucination": 0.2,
            "self_knowledge": 0.2,
            "faithfulness": 0.6,
        }
    )


def test_noise_sensitivities_are_exclusive() -> None:
    # One incorrect claim entailed by a relevant (k0) and an irrelevant (k1) chunk.
    retrieved2answer = [[E, N]]
    retrieved2response = [[E, E]]
    args = (retrieved2response, [N], retrieved2answer)
    assert noise_sensitivity_in_relevant(*args) == 1.0
    assert noise_sensitivity_in_irrelevant(*args) == 0.0


def test_correct_claims_are_never_noise() -> None:
    args = ([[E, E]], [E], [[E, N]])
    assert noise_sensitivity_in_relevant(*args) == 0.0
    assert noise_sensitivity_in_irrelevant(*args) == 0.0


def test_contradiction_counts_as_neutral() -> None:
    def swap(labels: list[str]) -> list[str]:
        return [C if label == N else label for label in labels]

    original = compute_claim_metrics(
        answer2response=ANSWER2RESPONSE,
        response2answer=RESPONSE2ANSWER,
        retrieved2response=RETRIEVED2RESPONSE,
        retrieved2answer=RETRIEVED2ANSWER,
    )
    swapped = compute_claim_metrics(
        answer2response=swap(ANSWER2RESPONSE),
        response2answer=swap(RESPONSE2ANSWER),
        retrieved2response=[swap(row) for row in RETRIEVED2RESPONSE],
        retrieved2answer=[swap(row) for row in RETRIEVED2ANSWER],
    )
    assert swapped == original


@pytest.mark.parametrize(
    ("p", "r", "expected"),
    [(1.0, 1.0, 1.0), (0.5, 0.5, 0.5), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 0.0)],
)
def test_f1_score(p: float, r: float, expected: float) -> None:
    assert f1_score(p, r) == pytest.approx(expected)


# --- edge cases ---------------------------------------------------------------------------


def test_no_claims_at_all_gives_zeros() -> None:
    got = compute_claim_metrics(
        answer2response=[], response2answer=[], retrieved2response=[], retrieved2answer=[]
    )
    assert got == dict.fromkeys(ALL_METRICS, 0.0)


def test_no_response_claims() -> None:
    got = compute_claim_metrics(
        answer2response=[],
        response2answer=[N, N],
        retrieved2response=[],
        retrieved2answer=[[E, N], [N, N]],
    )
    assert got["precision"] == got["f1"] == 0.0
    assert got["recall"] == 0.0
    assert got["claim_recall"] == 0.5
    assert got["context_precision"] == 0.5
    assert got["context_utilization"] == 0.0  # g0 is in the context, the response misses it
    for name in ("noise_sensitivity_in_relevant", "noise_sensitivity_in_irrelevant"):
        assert got[name] == 0.0
    assert got["hallucination"] == got["self_knowledge"] == got["faithfulness"] == 0.0


def test_no_answer_claims() -> None:
    # An incorrect response claim entailed by a chunk: no chunk can be relevant without
    # ground-truth claims, yet upstream reports no noise sensitivity at all in that case.
    got = compute_claim_metrics(
        answer2response=[N, N],
        response2answer=[],
        retrieved2response=[[E], [N]],
        retrieved2answer=[],
    )
    assert got["recall"] == got["f1"] == 0.0
    assert got["claim_recall"] == got["context_precision"] == got["context_utilization"] == 0.0
    assert got["noise_sensitivity_in_relevant"] == 0.0
    assert got["noise_sensitivity_in_irrelevant"] == 0.0
    assert got["faithfulness"] == 0.5
    assert got["hallucination"] == 0.5
    assert got["self_knowledge"] == 0.0


def test_no_retrieved_chunks() -> None:
    # Claims exist but nothing was retrieved: every context metric falls back to 0.0, so
    # faithfulness + hallucination + self_knowledge is 0 here, not 1.
    got = compute_claim_metrics(
        answer2response=[E, N],
        response2answer=[E, N, N, N],
        retrieved2response=[[], []],
        retrieved2answer=[[], [], [], []],
    )
    assert got["precision"] == 0.5
    assert got["recall"] == 0.25
    assert got["f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    for name in ALL_METRICS:
        if name not in ("precision", "recall", "f1"):
            assert got[name] == 0.0, name


def test_all_neutral() -> None:
    got = compute_claim_metrics(
        answer2response=[N, N, N],
        response2answer=[N, N],
        retrieved2response=[[N, N]] * 3,
        retrieved2answer=[[N, N]] * 2,
    )
    expected = dict.fromkeys(ALL_METRICS, 0.0)
    expected["hallucination"] = 1.0  # every response claim is wrong and in no chunk
    assert got == expected


def test_context_utilization_without_recalled_claims_is_zero() -> None:
    assert context_utilization([[N, N], [C, N]], [E, E]) == 0.0


def test_single_functions_on_empty_input() -> None:
    assert precision([]) == recall([]) == 0.0
    assert claim_recall([]) == context_precision([]) == faithfulness([]) == 0.0
    assert claim_recall([[]]) == context_precision([[]]) == faithfulness([[]]) == 0.0
    assert context_utilization([], []) == 0.0
    assert hallucination([], []) == self_knowledge([], []) == 0.0
    assert noise_sensitivity_in_relevant([], [], []) == 0.0
    assert noise_sensitivity_in_irrelevant([], [], []) == 0.0


@pytest.mark.parametrize("label", ["entailment", "ENTAILMENT", "Entailed", "", "E"])
def test_unknown_labels_are_rejected(label: str) -> None:
    with pytest.raises(ValueError, match="unknown entailment label"):
        precision([E, label])
    with pytest.raises(ValueError, match="unknown entailment label"):
        faithfulness([[E, label]])


def test_a_string_is_not_a_label_list() -> None:
    with pytest.raises(ValueError, match="unknown entailment label"):
        precision(E)


def test_inconsistent_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="ragged"):
        claim_recall([[E, N], [E]])
    with pytest.raises(ValueError, match="labels but"):
        hallucination([[E], [N]], [E])
    with pytest.raises(ValueError, match="labels but"):
        context_utilization([[E]], [E, N])
    with pytest.raises(ValueError, match="chunks"):
        compute_claim_metrics(
            answer2response=[E],
            response2answer=[E],
            retrieved2response=[[E, N]],
            retrieved2answer=[[E]],
        )


# --- aggregation --------------------------------------------------------------------------


def test_aggregate_is_mean_times_100_rounded() -> None:
    samples = [
        dict.fromkeys(ALL_METRICS, 1.0),
        dict.fromkeys(ALL_METRICS, 0.0),  # a sample with no claims still counts
        dict.fromkeys(ALL_METRICS, 1 / 3),
    ]
    assert aggregate_claim_metrics(samples) == dict.fromkeys(ALL_METRICS, 44.4)


def test_aggregate_f1_is_mean_of_per_sample_f1() -> None:
    perfect = compute_claim_metrics(
        answer2response=[E], response2answer=[E], retrieved2response=[[E]], retrieved2answer=[[E]]
    )
    wrong = compute_claim_metrics(
        answer2response=[N], response2answer=[E], retrieved2response=[[E]], retrieved2answer=[[E]]
    )
    overall = aggregate_claim_metrics([perfect, wrong])
    assert (overall["precision"], overall["recall"], overall["f1"]) == (50.0, 100.0, 50.0)
    # Not 66.7, the F1 of the mean precision and recall.


def test_aggregate_subset_and_empty() -> None:
    assert aggregate_claim_metrics([{"precision": 0.25}], metrics=["precision"]) == {
        "precision": 25.0
    }
    with pytest.raises(ValueError, match="no samples"):
        aggregate_claim_metrics([])


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.0245, 2.4), (0.0015, 0.2), (0.0025, 0.2), (0.0125, 1.2), (0.0035, 0.4), (1.0, 100.0)],
)
def test_round_percent_follows_numpy(fraction: float, expected: float) -> None:
    # numpy rounds x * 10 half to even; Python's round(2.45, 1) would give 2.5.
    assert round_percent(fraction) == expected


def test_group_metrics() -> None:
    grouped = group_metrics(dict.fromkeys(ALL_METRICS, 1.0))
    assert list(grouped) == ["overall", "retriever", "generator"]
    assert list(grouped["overall"]) == ["precision", "recall", "f1"]
    assert list(grouped["retriever"]) == ["claim_recall", "context_precision"]
    assert "context_utilization" in grouped["generator"]
    assert sum(len(group) for group in grouped.values()) == len(ALL_METRICS) == 11


# --- properties ---------------------------------------------------------------------------

_label = st.sampled_from([E, N, C])


@st.composite
def _samples(draw: st.DrawFn) -> dict[str, Any]:
    n_response = draw(st.integers(1, 6))
    n_answer = draw(st.integers(1, 6))
    n_chunks = draw(st.integers(1, 4))
    return {
        "answer2response": draw(st.lists(_label, min_size=n_response, max_size=n_response)),
        "response2answer": draw(st.lists(_label, min_size=n_answer, max_size=n_answer)),
        "retrieved2response": draw(
            st.lists(
                st.lists(_label, min_size=n_chunks, max_size=n_chunks),
                min_size=n_response,
                max_size=n_response,
            )
        ),
        "retrieved2answer": draw(
            st.lists(
                st.lists(_label, min_size=n_chunks, max_size=n_chunks),
                min_size=n_answer,
                max_size=n_answer,
            )
        ),
    }


@settings(max_examples=200, deadline=None)
@given(_samples())
def test_metric_identities(sample: dict[str, Any]) -> None:
    m = compute_claim_metrics(**sample)
    assert all(0.0 <= value <= 1.0 for value in m.values())
    # Each response claim is faithful, hallucinated or self-knowledge.
    assert m["faithfulness"] + m["hallucination"] + m["self_knowledge"] == pytest.approx(1.0)
    # Each incorrect response claim is relevant noise, irrelevant noise or hallucinated.
    incorrect = (
        m["noise_sensitivity_in_relevant"]
        + m["noise_sensitivity_in_irrelevant"]
        + m["hallucination"]
    )
    assert incorrect == pytest.approx(1.0 - m["precision"])
    assert m["self_knowledge"] <= m["precision"] + 1e-12
    # Ground-truth claims used from the context are a subset of those the response states.
    assert m["context_utilization"] * m["claim_recall"] <= m["recall"] + 1e-12
    assert min(m["precision"], m["recall"]) - 1e-12 <= m["f1"]
    assert m["f1"] <= max(m["precision"], m["recall"]) + 1e-12


def test_module_imports_standard_library_and_numpy_only() -> None:
    tree = ast.parse(Path(cm.__file__).read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            roots.add((node.module or "").split(".")[0])
    assert roots <= {"__future__", "collections", "numpy"}
