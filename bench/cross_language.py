"""Retrieval of questions asked in the other language than their documents', with and
without the second search across languages (rag.retrieval.hybrid.CrossLanguage).

    RAG_DATA_DIR=<spf store> python bench/cross_language.py \
        --questions eval/sets/spf-en/questions.jsonl \
        --questions ../shared/datasets/spf/questions.jsonl
    RAG_DATA_DIR=<clapnq store> python bench/cross_language.py \
        --questions eval/sets/clapnq-fr/questions.jsonl \
        --questions ../shared/datasets/clapnq/questions.jsonl

Runs the product's search (SearchService, settings from the environment) on a store
that `rag ingest` built with the default blended embedder (the CI eval's stores under
~/.cache/rag/eval-stores/ do). For each question file (answerable questions, the first
--limit), and for each variant, hit@1 and hit@10 by the eval's relevance rule:
`baseline` searches with the question's own weights only (RAG_RETRIEVAL__CROSS_LANGUAGE
off), `cross_language` is the product's default, and `grid` rows (with --grid) try other
multilingual shares and BM25 weights for the second search. Also: how many questions
took the second search, and its median extra time. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.datasets import Question, is_relevant, load_questions
from rag.retrieval.hybrid import CrossLanguage
from rag.retrieval.service import SearchService
from rag.settings import Settings


def score(
    service: SearchService, questions: list[Question], cross: CrossLanguage | None
) -> dict[str, object]:
    service.retriever.cross_language = cross
    first = tenth = across = 0
    extra: list[float] = []
    for q in questions:
        result = service.search(q.question, k=10)
        ranks = [i for i, h in enumerate(result.hits) if is_relevant(h.document.path, q.doc_ids)]
        first += bool(ranks) and ranks[0] == 0
        tenth += bool(ranks)
        across += result.across_languages
        if "cross_language_s" in result.timings:
            extra.append(result.timings["cross_language_s"])
    n = len(questions)
    return {
        "hit@1": round(first / n, 3),
        "hit@10": round(tenth / n, 3),
        "searched_across": across,
        "second_search_ms_median": round(1000 * statistics.median(extra), 1) if extra else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", action="append", required=True, type=Path)
    parser.add_argument("--limit", type=int, default=25)
    parser.add_argument("--grid", action="store_true", help="try other second-search weights")
    args = parser.parse_args()
    settings = Settings()
    service = SearchService(settings)
    default = CrossLanguage(
        settings.embedding.cross_language_weight, settings.retrieval.cross_language_bm25_weight
    )
    variants: dict[str, CrossLanguage | None] = {"baseline": None, "cross_language": default}
    if args.grid:
        for m in (0.85, 0.95, 1.0):
            for b in (0.0, 0.1, 0.25):
                variants[f"grid_m{m}_b{b}"] = CrossLanguage(m, b)
    report: dict[str, object] = {"store": str(settings.data_dir), "sets": {}}
    for path in args.questions:
        questions = [q for q in load_questions(path) if q.answerable][: args.limit]
        name = path.parent.name
        report["sets"][name] = {  # type: ignore[index]
            "questions": len(questions),
            **{variant: score(service, questions, cross) for variant, cross in variants.items()},
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
