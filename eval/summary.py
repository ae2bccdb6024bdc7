"""From per-question records to the run's summary, the worst questions, and the
comparison with a baseline.

Abstention (from `answerable`): `abstention_accuracy` is the share of questions where
the service answered exactly when the set says it can; `answered_unanswerable_rate`
is the share of unanswerable questions that got an answer anyway (the worst failure:
an invented answer), and `answered_answerable_rate` the share of answerable ones that
got one. A question counts as answered unless its mode is `not_found`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ORDER = (
    "hit@1",
    "hit@5",
    "hit@10",
    "mrr@10",
    "recall@10",
    "ndcg@10",
    "abstention_accuracy",
    "answered_answerable_rate",
    "answered_unanswerable_rate",
    "faithfulness",
    "faithfulness_graded",
    "answer_relevancy",
    "context_precision",
    "context_recall",
    "citation_recall",
    "citation_precision",
    "gold_cited",
    "gold_quote",
    "token_f1",
    "semantic_similarity",
)
LOWER_IS_BETTER = frozenset({"answered_unanswerable_rate"})


def summarise(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """{metric: {"mean", "n", "failures"}}; failures are questions where the metric
    applied but the judge failed, so they are not in the mean, and are reported."""
    values: dict[str, list[float]] = {}
    failures: Counter[str] = Counter()
    for record in records:
        for name, value in record["metrics"].items():
            if value is None:
                failures[name] += 1
            else:
                values.setdefault(name, []).append(float(value))
    answered = [(r["answerable"], r["metrics"].get("answered")) for r in records]
    answered = [(a, v) for a, v in answered if v is not None]
    if answered:
        values["abstention_accuracy"] = [float(bool(v) == a) for a, v in answered]
        values["answered_answerable_rate"] = [float(v) for a, v in answered if a]
        values["answered_unanswerable_rate"] = [float(v) for a, v in answered if not a]
    summary: dict[str, dict[str, float | int | None]] = {}
    for name in [*ORDER, *sorted(set(values) | set(failures))]:
        if name in summary or name == "answered":
            continue
        vals = values.get(name, [])
        if not vals and not failures[name]:
            continue
        summary[name] = {
            "mean": round(float(np.mean(vals)), 4) if vals else None,
            "n": len(vals),
            "failures": failures[name],
        }
    return summary


def reasons(record: Mapping[str, Any]) -> list[str]:
    """Why a question went wrong, in plain words, worst first."""
    m = record["metrics"]
    d = record.get("details", {})
    why: list[str] = []
    answered = m.get("answered")
    if answered and not record["answerable"]:
        why.append("answered a question the documents do not answer")
    if answered == 0 and record["answerable"]:
        why.append("said not found, but the documents answer it")
    if m.get("hit@10") == 0:
        why.append("no gold document in the top 10")
    if m.get("faithfulness") is not None and m["faithfulness"] < 1:
        bad = [s["statement"] for s in d["faithfulness"]["statements"] if not s["supported"]]
        why.append(
            f"unsupported: {bad[0]!r}" + (f" (+{len(bad) - 1} more)" if len(bad) > 1 else "")
        )
    if m.get("citation_recall") is not None and m["citation_recall"] < 1:
        why.append(f"citation recall {m['citation_recall']:.2f}")
    if m.get("context_recall") is not None and m["context_recall"] < 1:
        why.append(f"context recall {m['context_recall']:.2f}: reference not all in the sources")
    if m.get("answer_relevancy") is not None and m["answer_relevancy"] < 0.5:
        why.append(f"answer relevancy {m['answer_relevancy']:.2f}")
    failed = sorted({k for k, v in m.items() if v is None})
    if failed:
        why.append("judge failed on " + ", ".join(failed))
    return why


def badness(record: Mapping[str, Any]) -> float:
    """A sort key for the worst questions: wrong abstention first, then low scores."""
    m = record["metrics"]
    score = 0.0
    if m.get("answered") is not None and bool(m["answered"]) != record["answerable"]:
        score += 3.0 if not record["answerable"] else 2.0
    for name in ("faithfulness", "citation_recall", "context_recall", "answer_relevancy"):
        value = m.get(name)
        score += 1.0 if value is None and name in m else (1.0 - value if value is not None else 0.0)
    return score


def worst(records: Sequence[Mapping[str, Any]], n: int = 10) -> list[Mapping[str, Any]]:
    ranked = sorted(records, key=badness, reverse=True)
    return [r for r in ranked[:n] if badness(r) > 0]


@dataclass
class Comparison:
    metric: str
    current: float | None
    baseline: float
    tolerance: float
    regressed: bool

    @property
    def delta(self) -> float | None:
        return None if self.current is None else round(self.current - self.baseline, 4)


def baseline_section(baseline: Mapping[str, Any], dataset: str) -> Mapping[str, Any]:
    """A baseline file holds one section per data set (`datasets.<name>`), or is one."""
    if "datasets" in baseline:
        if dataset not in baseline["datasets"]:
            raise KeyError(
                f"the baseline has no section for data set {dataset!r} "
                f"(it has {', '.join(baseline['datasets'])})"
            )
        return baseline["datasets"][dataset]
    return baseline


def compare(
    summary: Mapping[str, Mapping[str, Any]], baseline: Mapping[str, Any]
) -> list[Comparison]:
    """A metric regresses when it moves the wrong way by more than its tolerance, or
    when the baseline has it and this run could not compute it."""
    rows = []
    tolerances = baseline.get("tolerances", {})
    for name, base in baseline["metrics"].items():
        tolerance = float(tolerances.get(name, baseline.get("default_tolerance", 0.0)))
        current = summary.get(name, {}).get("mean")
        if current is None:
            regressed = True
        elif name in LOWER_IS_BETTER:
            regressed = current > base + tolerance + 1e-9
        else:
            regressed = current < base - tolerance - 1e-9
        rows.append(Comparison(name, current, float(base), tolerance, regressed))
    return rows


def make_baseline(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A baseline section from repeated runs of one data set (their `report.json`).

    The value of a metric is its mean over the runs. Its tolerance is the larger of
    twice the spread measured between the runs and the weight of one question in that
    metric (1 / n): with 20 questions a single question flipping moves a mean by 0.05,
    which is noise for a gate, while two flipping is a signal."""
    names = [n for n in runs[0]["summary"] if runs[0]["summary"][n]["mean"] is not None]
    metrics: dict[str, float] = {}
    tolerances: dict[str, float] = {}
    spreads: dict[str, float] = {}
    for name in names:
        values = [
            r["summary"][name]["mean"]
            for r in runs
            if r["summary"].get(name, {}).get("mean") is not None
        ]
        n = min(r["summary"][name]["n"] for r in runs if name in r["summary"])
        spread = max(values) - min(values)
        metrics[name] = round(float(np.mean(values)), 4)
        spreads[name] = round(spread, 4)
        tolerances[name] = round(max(2 * spread, 1 / max(n, 1)) + 1e-4, 4)
    return {
        "metrics": metrics,
        "tolerances": tolerances,
        "measured_spread": spreads,
        "runs": len(runs),
        "questions": runs[0]["config"]["questions"],
        "generator": runs[0]["config"]["generator"],
        "judge": runs[0]["config"]["judge"],
    }
