"""How well the citation support checks separate faithful from invented claims.

    python bench/citation_support.py                      # lexical score only (seconds)
    python bench/citation_support.py --judge --out ROWS   # + the LLM judge (minutes)
    python bench/citation_support.py --rows ROWS          # the arithmetic again, no LLM

Two data sets (../shared/datasets):
- HaluEval: each item has a knowledge passage, a question, a right answer and a
  hallucinated one; a check should support the right one and not the other.
- RAGChecker's checking outputs: claims of two responses, each labelled against each
  retrieved passage (Entailment / Neutral / Contradiction); a check should support
  exactly the entailed pairs.

Checks, as the verifier can combine them (rag.answer.verify):
- `lexical` (the baseline): rag.answer.citations.support_score >= the support
  threshold (share of the claim's content stems in the passage, numbers weigh double);
- `judge`: the embedded LLM's P(yes) to rag.answer.prompts.supports_messages (does
  the source say what the answer says, as an answer to the question?);
- `numbers`: every number the claim states is in the passage or the question;
- combinations: the judge vetoing lexical passes (`lexical and judge >= lo`), or
  rescuing lexical failures that share some words with the passage (`lexical or
  numbers and lexical >= RESCUE_FLOOR and judge >= hi`).

Prints JSON: for each check, the share of right (entailed) claims supported, of
hallucinated (not entailed) ones supported, and their balanced accuracy; for the
scores, the share of HaluEval pairs ordered right and the AUC.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answer.citations import support_score
from rag.answer.evidence import numbers
from rag.settings import AnswerSettings

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
PAIRS = DATASETS / "halueval" / "pairs.jsonl"
CHECKING = DATASETS / "ragchecker" / "checking_outputs.json"
GRID = [round(0.05 * i, 2) for i in range(1, 20)]
# A rescue is only tried for claims that share this much with the passage (a
# paraphrase, not an unrelated sentence).
RESCUE_FLOOR = 0.25


def claims() -> list[dict[str, Any]]:
    """Every (passage, question, claim, label) to check: label 1 supported, 0 not;
    HaluEval's come in pairs (`pair`: the item's id)."""
    rows: list[dict[str, Any]] = []
    for line in PAIRS.read_text().splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        for key, label in (("right_answer", 1), ("hallucinated_answer", 0)):
            rows.append(
                {
                    "set": "halueval",
                    "pair": item["id"],
                    "passage": item["knowledge"],
                    "question": item["question"],
                    "claim": item[key],
                    "label": label,
                }
            )
    for result in json.loads(CHECKING.read_text())["results"]:
        for triple, labels in zip(
            result["response_claims"], result["retrieved2response"], strict=True
        ):
            claim = " ".join(triple).strip()
            for passage, verdict in zip(result["retrieved_context"], labels, strict=True):
                rows.append(
                    {
                        "set": "ragchecker",
                        "passage": passage["text"],
                        "question": result["query"],
                        "claim": claim,
                        "label": int(verdict == "Entailment"),
                    }
                )
    return rows


def judge_scores(rows: list[dict[str, Any]]) -> None:
    """Add the LLM judge's P(yes) to each row (the embedded model, or RAG_LLM__*)."""
    from rag.answer.prompts import YES_NO, supports_messages
    from rag.llm import create_llm, generation_params
    from rag.settings import Settings

    settings = Settings()
    llm = create_llm(settings)
    params = generation_params(settings)
    yes, no = YES_NO["en"]
    started = time.perf_counter()
    for i, row in enumerate(rows, 1):
        messages = supports_messages(row["passage"], row["question"], row["claim"], "en")
        row["judge"] = llm.choice_probabilities(messages, [yes, no], params)[yes]  # type: ignore[attr-defined]
        if i % 50 == 0:
            elapsed = time.perf_counter() - started
            print(f"{i}/{len(rows)} judged, {elapsed / i:.2f} s each", file=sys.stderr)


def auc(scores: list[tuple[float, int]]) -> float:
    positives = [s for s, label in scores if label]
    negatives = [s for s, label in scores if not label]
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def rates(
    rows: list[dict[str, Any]], supported: Callable[[dict[str, Any]], bool]
) -> dict[str, float]:
    right = [r for r in rows if r["label"]]
    wrong = [r for r in rows if not r["label"]]
    tpr = sum(map(supported, right)) / len(right)
    fpr = sum(map(supported, wrong)) / len(wrong)
    return {
        "right_supported": round(tpr, 3),
        "wrong_supported": round(fpr, 3),
        "balanced_accuracy": round((tpr + 1 - fpr) / 2, 3),
    }


def report(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    for row in rows:
        row["lexical"] = support_score(row["claim"], row["passage"], "en")
        row["numbers"] = numbers(row["claim"]) <= numbers(row["passage"]) | numbers(row["question"])
    judged = all("judge" in r for r in rows)
    out: dict[str, Any] = {"threshold": threshold}
    for name in ("halueval", "ragchecker"):
        subset = [r for r in rows if r["set"] == name]
        part: dict[str, Any] = {
            "claims": len(subset),
            "supported_by_label": sum(r["label"] for r in subset),
        }
        signals = ["lexical", "judge"] if judged else ["lexical"]
        for signal in signals:
            part[f"auc_{signal}"] = round(auc([(r[signal], r["label"]) for r in subset]), 3)
        if name == "halueval":
            pairs: dict[str, dict[int, dict[str, Any]]] = {}
            for r in subset:
                pairs.setdefault(r["pair"], {})[r["label"]] = r
            for signal in signals:
                ordered = [p[1][signal] > p[0][signal] for p in pairs.values()]
                tied = [p[1][signal] == p[0][signal] for p in pairs.values()]
                part[f"ordered_{signal}"] = round(sum(ordered) / len(pairs), 3)
                part[f"ties_{signal}"] = round(sum(tied) / len(pairs), 3)
        checks: dict[str, Any] = {
            "lexical (baseline)": rates(subset, lambda r: r["lexical"] >= threshold),
            "lexical and numbers": rates(
                subset, lambda r: r["lexical"] >= threshold and r["numbers"]
            ),
        }
        if judged:
            for t in GRID:
                checks[f"judge >= {t}"] = rates(subset, lambda r, t=t: r["judge"] >= t)
                checks[f"numbers and judge >= {t}"] = rates(
                    subset, lambda r, t=t: r["numbers"] and r["judge"] >= t
                )
                checks[f"lexical and judge >= {t} (veto)"] = rates(
                    subset, lambda r, t=t: r["lexical"] >= threshold and r["judge"] >= t
                )
                checks[f"lexical or numbers and judge >= {t} (rescue)"] = rates(
                    subset,
                    lambda r, t=t: (
                        r["lexical"] >= threshold
                        or (r["numbers"] and r["lexical"] >= RESCUE_FLOOR and r["judge"] >= t)
                    ),
                )
        part["checks"] = checks
        out[name] = part
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judge", action="store_true", help="score with the LLM judge too")
    parser.add_argument("--limit", type=int, help="only the first N HaluEval items (a probe)")
    parser.add_argument("--out", type=Path, help="write the scored rows here (for --rows)")
    parser.add_argument("--rows", type=Path, help="scored rows of an earlier --judge run")
    args = parser.parse_args()
    if args.rows:
        rows = json.loads(args.rows.read_text())
    else:
        rows = claims()
        if args.limit:
            pairs = dict.fromkeys(r["pair"] for r in rows if r["set"] == "halueval")
            keep = set(list(pairs)[: args.limit])
            rows = [r for r in rows if r["set"] != "halueval" or r["pair"] in keep]
        if args.judge:
            judge_scores(rows)
        if args.out:
            args.out.write_text(json.dumps(rows))
    print(json.dumps(report(rows, AnswerSettings().support_threshold), indent=2))


if __name__ == "__main__":
    main()
