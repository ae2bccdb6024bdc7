"""Abstention: does the service say "not found" exactly when it should?

    python bench/abstention.py --dataset ../shared/datasets/clapnq \
        --data-dir bench/stores/clapnq --per-class 25
    python bench/abstention.py --dataset ../shared/datasets/spf \
        --dataset eval/sets/spf-unanswerable --data-dir SPF_STORE --per-class 25

Takes the first N answerable and the first N unanswerable questions of the set
(file order, no selection; `--offset 50` starts at the 51st of each, past the
questions the answerability check was calibrated on), asks each with the
configured LLM (with its `exclude_doc_ids` hidden from retrieval, as the eval
runner asks it; `--dataset` repeats to combine question files), and reports the
share of unanswerable questions that get `not_found` (target >= 0.80), the share
of answerable ones that get an answer (target >= 0.85), and the share of answers
whose citations are all in range and supported, and how many answers were written
again from one sentence after their first draft failed verification (`redrafted`,
by the mode they ended in: without the redraft each would have been the labelled
passages, so one run gives the baseline too). `--definitions` keeps the questions
asking what something is. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.datasets import load_questions
from eval.runner import exclusion_filters
from rag.answer.definition import asks_definition
from rag.answer.service import AnswerService
from rag.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, action="append", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=25)
    parser.add_argument(
        "--offset",
        type=int,
        default=0,
        help="skip this many questions of each class first (e.g. 50: questions the "
        "answerability check was not calibrated on)",
    )
    parser.add_argument(
        "--definitions",
        action="store_true",
        help='only the questions asking what something is ("Qu\'est-ce qu\'un…", "What '
        'is a…"), which verification checks on what the answer adds to the question',
    )
    args = parser.parse_args()
    service = AnswerService(Settings(data_dir=args.data_dir))
    questions = [q for path in args.dataset for q in load_questions(path)]
    if args.definitions:
        questions = [q for q in questions if asks_definition(q.question)]
    window = slice(args.offset, args.offset + args.per_class)
    answerable = [q for q in questions if q.answerable][window]
    unanswerable = [q for q in questions if not q.answerable][window]
    rows = []
    started = time.perf_counter()
    for q in answerable + unanswerable:
        filters = exclusion_filters(service.search.store, q.exclude_doc_ids)
        answer = service.ask(q.question, filters=filters)
        rows.append(
            {
                "id": q.id,
                "answerable": q.answerable,
                "mode": answer.mode,
                "cited": bool(answer.citations),
                "all_supported": bool(answer.citations)
                and all(c.supported for c in answer.citations),
                # what decides the mode: the check's score (and threshold), and what
                # verification removed (an `extractive` answer with removals is the
                # passages shown after the draft was wiped out)
                "answerability": answer.answerability,
                "removed": [r.reason for r in answer.removed],
                # written again from one sentence after the first draft failed
                # verification: without the redraft (RAG_ANSWER__REDRAFT false), this
                # answer would have been the labelled passages
                "redrafted": "redraft_s" in answer.timings,
                "answer": answer.text[:300],
                "question": q.question,
            }
        )
    answered = [r for r in rows if r["mode"] != "not_found"]
    print(
        json.dumps(
            {
                "dataset": "+".join(path.name for path in args.dataset),
                "llm": service.llm.name,
                "offset": args.offset,
                "answerable": len(answerable),
                "unanswerable": len(unanswerable),
                "unanswerable_not_found": round(
                    sum(r["mode"] == "not_found" for r in rows if not r["answerable"])
                    / max(len(unanswerable), 1),
                    3,
                ),
                "answerable_answered": round(
                    sum(r["mode"] != "not_found" for r in rows if r["answerable"])
                    / max(len(answerable), 1),
                    3,
                ),
                "modes": by_mode(rows, ("generative", "extractive", "not_found")),
                "redrafted": by_mode(
                    [r for r in rows if r["redrafted"]], ("generative", "extractive")
                ),
                "answers_with_all_citations_supported": round(
                    sum(r["all_supported"] for r in answered) / max(len(answered), 1), 3
                ),
                "seconds": round(time.perf_counter() - started, 1),
                "rows": rows,
            },
            indent=2,
        )
    )


def by_mode(rows: list[dict[str, object]], modes: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """How many of these rows ended in each mode, answerable and unanswerable apart."""
    return {
        label: {
            mode: sum(r["mode"] == mode for r in rows if r["answerable"] == flag) for mode in modes
        }
        for label, flag in (("answerable", True), ("unanswerable", False))
    }


if __name__ == "__main__":
    main()
