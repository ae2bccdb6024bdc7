"""Does our faithfulness measure what it claims? HaluEval pairs as a test.

Each HaluEval QA item (Li et al., "HaluEval: A Large-Scale Hallucination Evaluation
Benchmark for Large Language Models", EMNLP 2023) has a knowledge passage, a question,
a right answer and a hallucinated one. A faithfulness metric must score the right
answer above the hallucinated one against the passage. We report, for the binary
ragas score and the graded one (mean P(yes)), the share of pairs ordered correctly,
tied and reversed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.answer_metrics import faithfulness
from eval.datasets import read_records
from eval.judge import Judge


@dataclass(frozen=True)
class Pair:
    id: str
    knowledge: str
    question: str
    right_answer: str
    hallucinated_answer: str


def load_pairs(path: Path) -> list[Pair]:
    fields = ("id", "knowledge", "question", "right_answer", "hallucinated_answer")
    return [Pair(*(raw[f] for f in fields)) for raw in read_records(path, fields)]


def ordering(right: float | None, wrong: float | None) -> str:
    if right is None or wrong is None:
        return "failed"
    return "correct" if right > wrong else "tie" if right == wrong else "reversed"


def calibrate(
    judge: Judge, pairs: list[Pair], on_pair: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    rows = []
    for done, pair in enumerate(pairs, start=1):
        scores = {}
        for kind, answer in (
            ("right", pair.right_answer),
            ("hallucinated", pair.hallucinated_answer),
        ):
            result = faithfulness(judge, pair.question, answer, [pair.knowledge])
            scores[kind] = {name: s.value for name, s in result.items()}
            scores[kind]["statements"] = result["faithfulness"].detail.get("statements")
        judge.take_verdicts()
        rows.append(
            {
                "id": pair.id,
                "scores": scores,
                "binary": ordering(
                    scores["right"]["faithfulness"], scores["hallucinated"]["faithfulness"]
                ),
                "graded": ordering(
                    scores["right"]["faithfulness_graded"],
                    scores["hallucinated"]["faithfulness_graded"],
                ),
            }
        )
        if on_pair:
            on_pair(done, len(pairs))
    summary = {}
    for score in ("binary", "graded"):
        counts = {
            k: sum(r[score] == k for r in rows) for k in ("correct", "tie", "reversed", "failed")
        }
        summary[score] = {
            **counts,
            "correct_share": round(counts["correct"] / len(rows), 4) if rows else None,
            "tie_share": round(counts["tie"] / len(rows), 4) if rows else None,
        }
    return {
        "pairs": len(rows),
        "judge": judge.name,
        "judge_failures": dict(judge.failures),
        "summary": summary,
        "rows": rows,
    }
