"""The answerability check: how well does each signal tell answerable questions apart?

    # English: one set holds both classes
    python bench/answerability.py --questions ../shared/datasets/clapnq \
        --data-dir STORE --per-class 100 --grid
    # French: answerable spf questions + the hand-built unanswerable set
    python bench/answerability.py --questions ../shared/datasets/spf \
        --questions eval/sets/spf-unanswerable --data-dir SPF_STORE --per-class 100 --grid

Takes the first N answerable and the first N unanswerable questions of the question
files together (`--questions`, repeatable; file order, no selection; within a class
the kinds, named by the id's prefix before its first '-' such as `excl` and `near`,
take turns so a small N keeps them all). Each question is asked with its
`exclude_doc_ids` hidden from retrieval, as the eval runner asks it. For each, runs
the service's own check on the answer's prompt (no answer is generated) and records
the LLM's probability of "yes", the best source's vector similarity, and the
coverage: how much of the question the best source sentence holds, its words weighed
by their rarity in the store (rag.answer.evidence.Evidence.coverage).

Then, for each signal alone and for the blend, prints the AUC (how often an
answerable question outscores an unanswerable one) and, at the threshold, the share
of answerable questions that would be answered and of unanswerable ones that would
get "not found" (also per kind: the near misses are the hard part). The weights and
threshold are the configured ones for the set's language unless `--dense-weight`,
`--coverage-weight` or `--threshold` say otherwise. Each kind is split in halves, the first half
(`calibration`) to choose settings on, the second (`check`) to see whether they hold
on questions they were not chosen on. `--grid` searches the calibration half for
the weights and threshold that answer the most answerable questions while giving
"not found" to at least `--target-not-found` of the unanswerable ones, and reports
them on both halves. Questions whose sources are not relevant at all never reach
the check (the service answers "not found" without the LLM): they score 0 and count
as "not found" at any threshold.

The LLM pass is the slow part (3-5 s a question); `--rows REPORT` re-reads the rows
of an earlier report (this bench's JSON output) and only redoes the arithmetic.
Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.datasets import Question, load_questions
from eval.runner import exclusion_filters
from rag.answer.service import Answer, AnswerService
from rag.llm import generation_params
from rag.settings import Settings
from rag.text import detect_language

Row = dict[str, Any]
Weights = tuple[float, float]  # (dense, coverage); the LLM's P(yes) gets the rest
WEIGHTS = [round(0.05 * i, 2) for i in range(21)]
THRESHOLDS = [round(0.01 * i, 2) for i in range(1, 100)]


def kind(question_id: str) -> str:
    """The id's prefix before its first '-': `excl`, `near`, `spf`, `clapnq`..."""
    return question_id.split("-", 1)[0]


def take_turns(questions: list[Question], n: int) -> list[Question]:
    """The first n questions, the kinds taking turns in file order, so a small n
    still holds every kind of a class (not only the kind that comes first)."""
    by_kind: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        by_kind[kind(q.id)].append(q)
    picked: list[Question] = []
    queues = list(by_kind.values())
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return picked


def halves(rows: list[Row]) -> None:
    """Mark the first half of each class and kind (file order) `calibration`, the rest
    `check` (clapnq's answerable and unanswerable questions are one kind)."""
    seen: dict[tuple[bool, str], list[Row]] = defaultdict(list)
    for row in rows:
        seen[row["answerable"], row["kind"]].append(row)
    for members in seen.values():
        for i, row in enumerate(members):
            row["half"] = "calibration" if i < len(members) // 2 else "check"


def auc(positives: list[float], negatives: list[float]) -> float:
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    return sum(pairs) / max(len(pairs), 1)


def blend(row: Row, weight: Weights) -> float:
    """The service's answerability score (rag.answer.AnswerService.answerability)."""
    if not row["checked"]:
        return 0.0
    dense, coverage = weight
    return (
        dense * max(row["dense"], 0.0)
        + coverage * row.get("coverage", 0.0)
        + max(1.0 - dense - coverage, 0.0) * row["p_yes"]
    )


def signal(row: Row, name: str, weight: Weights) -> float:
    """p_yes, dense, coverage or blend; 0 for a question that never reached the check."""
    if name == "blend":
        return blend(row, weight)
    return float(row.get(name, 0.0)) if row["checked"] else 0.0


def outcome(rows: list[Row], name: str, weight: Weights, threshold: float) -> tuple[float, float]:
    """At this threshold: the share of answerable questions answered, and of
    unanswerable ones given "not found"."""
    answerable = [
        r["checked"] and signal(r, name, weight) >= threshold for r in rows if r["answerable"]
    ]
    refused = [
        not (r["checked"] and signal(r, name, weight) >= threshold)
        for r in rows
        if not r["answerable"]
    ]
    return sum(answerable) / max(len(answerable), 1), sum(refused) / max(len(refused), 1)


def rates(rows: list[Row], name: str, weight: Weights, threshold: float) -> dict[str, Any]:
    """AUC of a signal, and what the service would do at this threshold: the share of
    answerable questions answered, of unanswerable ones (all, and per kind) given
    "not found"."""
    answered, not_found = outcome(rows, name, weight, threshold)
    kinds = sorted({r["kind"] for r in rows if not r["answerable"]})
    by_kind = {
        k: outcome([r for r in rows if r["kind"] == k], name, weight, threshold)[1] for k in kinds
    }
    return {
        "auc": round(
            auc(
                [signal(r, name, weight) for r in rows if r["answerable"]],
                [signal(r, name, weight) for r in rows if not r["answerable"]],
            ),
            3,
        ),
        "answerable_answered": round(answered, 3),
        "unanswerable_not_found": round(not_found, 3),
        "not_found_by_kind": {k: round(v, 3) for k, v in by_kind.items()},
    }


def use_dense(rows: list[Row], which: str) -> None:
    """The vector similarity the blend weighs: the closest source's (`chunk`, the
    rows' `dense` as the service measured it), the closest single sentence's
    (`sentence`) or the higher of the two (`max`). The chunk's is kept in `chunk`."""
    for row in rows:
        row["chunk"] = row.get("chunk", row["dense"])
        chunk = float(row["chunk"])
        sentence = float(row.get("sentence", chunk))
        row["dense"] = {"chunk": chunk, "sentence": sentence, "max": max(chunk, sentence)}[which]


def summary(rows: list[Row], weight: Weights, threshold: float) -> dict[str, Any]:
    """Every signal at one threshold; the baseline is the LLM's probability alone."""
    return {
        "questions": len(rows),
        "baseline_llm_p_yes": rates(rows, "p_yes", weight, threshold),
        "dense_similarity": rates(rows, "dense", weight, threshold),
        "sentence_similarity": rates(rows, "sentence", weight, threshold),
        "coverage": rates(rows, "coverage", weight, threshold),
        "blend": rates(rows, "blend", weight, threshold),
    }


def grid(rows: list[Row], target: float) -> dict[str, Any] | None:
    """The (dense weight, coverage weight, threshold) that answers the most answerable
    questions of `rows` while giving "not found" to at least `target` of the
    unanswerable ones. Rows without a coverage (reports from before it was measured)
    keep the coverage weight at 0.

    Ties (small sets have many): the weight whose blend ranks best (AUC), then the
    middle of that weight's run of equally good thresholds, so the choice does not
    sit on the edge of what these few questions happen to allow."""
    best: tuple[float, float] | None = None
    tied: dict[Weights, list[float]] = defaultdict(list)
    covered = any("coverage" in r for r in rows)
    pairs = [
        (d, c) for d in WEIGHTS for c in (WEIGHTS if covered else [0.0]) if d + c <= 1.0 + 1e-9
    ]
    for weight in pairs:
        for threshold in THRESHOLDS:
            answered, not_found = outcome(rows, "blend", weight, threshold)
            if not_found < target:
                continue
            key = (round(answered, 6), round(not_found, 6))
            if best is None or key > best:
                best, tied = key, defaultdict(list)
            if key == best:
                tied[weight].append(threshold)
    if best is None:
        return None
    weight = max(tied, key=lambda w: (rates(rows, "blend", w, 0.5)["auc"], -w[0], -w[1]))
    thresholds = tied[weight]
    return {
        "dense_weight": weight[0],
        "coverage_weight": weight[1],
        "threshold": thresholds[len(thresholds) // 2],
    }


def measure(args: argparse.Namespace) -> tuple[list[Row], dict[str, Any]]:
    """Run the service's check on every chosen question: the slow part."""
    settings = Settings(data_dir=args.data_dir)
    service = AnswerService(settings)
    params = generation_params(settings)
    questions = [q for path in args.questions for q in load_questions(path)]
    answerable = take_turns([q for q in questions if q.answerable], args.per_class)
    unanswerable = take_turns([q for q in questions if not q.answerable], args.per_class)
    chosen = answerable + unanswerable
    rows: list[Row] = []
    seconds: list[float] = []
    k = service.retrieval_k(settings.answer.sources)
    for n, q in enumerate(chosen, start=1):
        lang = detect_language(q.question)
        filters = exclusion_filters(service.search.store, q.exclude_doc_ids)
        hits = service.search.search(q.question, k, filters).hits
        prompt = service.prompt(q.question, hits, lang, params)
        record = Answer(q.question, "", "generative", lang)
        checked = service.relevant(hits[: settings.answer.sources])
        if checked:  # else "not found" without asking the LLM
            t0 = time.perf_counter()
            # The service's own check, on the prompt the answer would get.
            service.answerability(q.question, prompt, prompt.hits, lang, params, record)
            seconds.append(time.perf_counter() - t0)
        scores = record.answerability or {}
        # Measured whatever its configured weight, to choose that weight on.
        coverage = service.coverage(q.question, lang, prompt.hits) if checked else None
        row = {
            "id": q.id,
            "kind": kind(q.id),
            "answerable": q.answerable,
            "lang": lang,
            "checked": checked and bool(scores),
            "p_yes": round(scores.get("p_yes", 0.0), 4),
            "dense": round(scores.get("dense", 0.0), 4),
            # The best single sentence's cosine, measured to choose between them.
            "sentence": round(service.sentence_similarity(q.question, prompt.hits), 4)
            if checked
            else 0.0,
            "coverage": round(coverage or 0.0, 4),
            "top": Path(prompt.hits[0].document.path).stem if prompt.hits else None,
        }
        rows.append(row)
        print(f"{n}/{len(chosen)} {json.dumps(row)}", file=sys.stderr, flush=True)
    meta = {
        "questions": [str(p) for p in args.questions],
        "data_dir": str(args.data_dir),
        "llm": service.llm.name,
        "embedding": settings.embedding.model,
        "per_class": args.per_class,
        "check_seconds_median": round(statistics.median(seconds), 2) if seconds else None,
    }
    return rows, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--questions",
        "--dataset",
        dest="questions",
        type=Path,
        action="append",
        default=[],
        help="a question file or a set's folder; repeat to combine (e.g. the answerable "
        "questions of one set with the unanswerable ones of another)",
    )
    parser.add_argument("--data-dir", type=Path, help="the store the questions are asked on")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--rows", type=Path, help="reuse the rows of an earlier report")
    parser.add_argument("--dense-weight", type=float, help="default: the configured one")
    parser.add_argument("--coverage-weight", type=float, help="default: the configured one")
    parser.add_argument("--threshold", type=float, help="default: the configured one")
    parser.add_argument(
        "--dense-signal",
        choices=["chunk", "sentence", "max"],
        default="chunk",
        help="the similarity the blend weighs: the closest source's, the closest "
        "sentence's, or the higher",
    )
    parser.add_argument("--grid", action="store_true", help="choose both on the calibration half")
    parser.add_argument("--target-not-found", type=float, default=0.80)
    args = parser.parse_args()
    if args.rows:
        earlier = json.loads(args.rows.read_text(encoding="utf-8"))
        rows, meta = earlier["rows"], earlier["run"]
    else:
        if not args.questions or args.data_dir is None:
            parser.error("--questions and --data-dir are needed (or --rows)")
        rows, meta = measure(args)
    halves(rows)
    use_dense(rows, args.dense_signal)
    language = Counter(r["lang"] for r in rows).most_common(1)[0][0] if rows else "en"
    settings = Settings()
    answer = settings.answer
    weight = (
        args.dense_weight
        if args.dense_weight is not None
        else answer.answerable_dense_weight.get(language, 0.0),
        args.coverage_weight
        if args.coverage_weight is not None
        else answer.answerable_coverage_weight.get(language, 0.0),
    )
    threshold = (
        args.threshold
        if args.threshold is not None
        else answer.answerable_threshold.get(language, 0.0)
    )
    report: dict[str, Any] = {
        "run": meta,
        "language": language,
        "classes": {
            "answerable": dict(Counter(r["kind"] for r in rows if r["answerable"])),
            "unanswerable": dict(Counter(r["kind"] for r in rows if not r["answerable"])),
        },
        "dense_signal": args.dense_signal,
        "dense_weight": weight[0],
        "coverage_weight": weight[1],
        "threshold": threshold,
    }
    parts = {
        "calibration": [r for r in rows if r["half"] == "calibration"],
        "check": [r for r in rows if r["half"] == "check"],
        "all": rows,
    }
    for name, subset in parts.items():
        report[name] = summary(subset, weight, threshold)
    if args.grid:
        chosen = grid(parts["calibration"], args.target_not_found)
        report["grid"] = {"target_not_found": args.target_not_found, "chosen": chosen}
        if chosen is not None:
            for name in ("calibration", "check", "all"):
                report["grid"][name] = rates(
                    parts[name],
                    "blend",
                    (chosen["dense_weight"], chosen["coverage_weight"]),
                    chosen["threshold"],
                )
    report["rows"] = rows
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
