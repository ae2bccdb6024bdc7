"""How well the citation support score separates faithful from invented answers.

    python bench/citation_support.py

On ../shared/datasets/halueval/pairs.jsonl, each item has a knowledge passage, a
right answer and a hallucinated one. The support score (rag.answer.citations.support_score)
should be higher for the right answer. Prints the share of pairs ordered
correctly, the ties, and, at the default threshold, how often each kind of
answer counts as supported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answer.citations import support_score
from rag.settings import AnswerSettings

PAIRS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "halueval" / "pairs.jsonl"


def main() -> None:
    threshold = AnswerSettings().support_threshold
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    better = ties = right_ok = wrong_ok = 0
    for row in rows:
        right = support_score(row["right_answer"], row["knowledge"], "en")
        wrong = support_score(row["hallucinated_answer"], row["knowledge"], "en")
        better += right > wrong
        ties += right == wrong
        right_ok += right >= threshold
        wrong_ok += wrong >= threshold
    n = len(rows)
    print(
        json.dumps(
            {
                "pairs": n,
                "correctly_ordered": round(better / n, 3),
                "ties": round(ties / n, 3),
                "threshold": threshold,
                "right_answers_supported": round(right_ok / n, 3),
                "hallucinated_answers_supported": round(wrong_ok / n, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
