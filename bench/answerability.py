"""The answerability check: how well does each signal tell answerable questions apart?

    python bench/answerability.py --dataset ../shared/datasets/clapnq \
        --data-dir STORE --per-class 100

For the first N answerable and the first N unanswerable questions of the set (file
order, no selection), runs the service's own check on the answer's prompt (no answer
is generated) and records the LLM's probability of "yes" and the best source's vector
similarity. Then, for each signal alone and for the configured blend, prints the AUC
(how often an answerable question outscores an unanswerable one) and, at the
configured threshold, the share of answerable questions that would be answered and
of unanswerable ones that would get "not found". The questions are split in halves:
the weights and threshold were chosen on the first half (`calibration`), the second
half (`check`) says whether they hold on questions they were not chosen on. The
baseline, in the same run, is the LLM's probability alone. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.datasets import load_questions
from rag.answer import Answer, AnswerService
from rag.llm import generation_params
from rag.settings import Settings
from rag.text import detect_language


def auc(positives: list[float], negatives: list[float]) -> float:
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    return sum(pairs) / max(len(pairs), 1)


def rates(rows: list[dict], score: str, threshold: float) -> dict[str, float]:
    answerable = [r[score] for r in rows if r["answerable"]]
    unanswerable = [r[score] for r in rows if not r["answerable"]]
    return {
        "auc": round(auc(answerable, unanswerable), 3),
        "answerable_answered": round(
            sum(s >= threshold for s in answerable) / max(len(answerable), 1), 3
        ),
        "unanswerable_not_found": round(
            sum(s < threshold for s in unanswerable) / max(len(unanswerable), 1), 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=100)
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir)
    service = AnswerService(settings)
    params = generation_params(settings)
    questions = load_questions(args.dataset)
    answerable = [q for q in questions if q.answerable][: args.per_class]
    unanswerable = [q for q in questions if not q.answerable][: args.per_class]
    half = args.per_class // 2
    rows, seconds = [], []
    for i, q in enumerate(answerable + unanswerable):
        lang = detect_language(q.question)
        hits = service.search.search(q.question, service.retrieval_k(settings.answer.sources)).hits
        prompt = service.prompt(q.question, hits, lang, params)
        record = Answer(q.question, "", "generative", lang)
        if service._relevant(
            hits[: settings.answer.sources]
        ):  # else "not found" without asking the LLM: scores 0
            t0 = time.perf_counter()
            # The service's own check, on the prompt the answer would get.
            service._answerability(prompt, prompt.hits, lang, params, record)
            seconds.append(time.perf_counter() - t0)
        scores = record.answerability or {}
        rows.append(
            {
                "id": q.id,
                "answerable": q.answerable,
                "half": "calibration" if i % args.per_class < half else "check",
                "lang": lang,
                "p_yes": round(scores.get("p_yes", 0.0), 4),
                "dense": round(scores.get("dense", 0.0), 4),
                "score": round(scores.get("score", 0.0), 4),
            }
        )
    lang = rows[0]["lang"] if rows else "en"
    threshold = settings.answer.answerable_threshold.get(lang, 0.0)
    report: dict = {
        "dataset": args.dataset.name,
        "llm": service.llm.name,
        "per_class": args.per_class,
        "language": lang,
        "threshold": threshold,
        "dense_weight": settings.answer.answerable_dense_weight.get(lang, 0.0),
        "check_seconds_median": round(statistics.median(seconds), 2) if seconds else None,
    }
    for part in ("calibration", "check", "all"):
        subset = [r for r in rows if part == "all" or r["half"] == part]
        report[part] = {
            "questions": len(subset),
            "baseline_llm_p_yes": rates(subset, "p_yes", threshold),
            "dense_similarity": rates(subset, "dense", threshold),
            "blend": rates(subset, "score", threshold),
        }
    report["rows"] = rows
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
