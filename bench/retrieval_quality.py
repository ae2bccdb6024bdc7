"""Retrieval quality of dense, BM25 and hybrid search on a shared data set.

    python bench/retrieval_quality.py --dataset ../shared/datasets/spf --data-dir /tmp/spf-store

Ingests the data set's corpus into --data-dir first if that store is empty. For
every answerable question, ranks the top 10 chunks with each mode and reports
hit@1, hit@5, hit@10 and MRR@10 of the gold documents (a chunk is relevant when
its file's stem is a gold doc id or starts with one followed by '_'), plus the
warm search latency. Prints one JSON object.
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
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.datasets import is_relevant, load_questions
from eval.retrieval_metrics import hit_at_k, mrr_at_k
from ingest.pipeline import IngestService
from rag.retrieval.service import SearchService
from rag.settings import Settings


def evaluate(service: SearchService, questions, mode: str) -> dict[str, float]:
    rows = {"hit@1": [], "hit@5": [], "hit@10": [], "mrr@10": []}
    latencies = []
    for q in questions:
        t0 = time.perf_counter()
        result = service.search(q.question, k=10, mode=mode)
        latencies.append(time.perf_counter() - t0)
        flags = [is_relevant(h.document.path, q.doc_ids) for h in result.hits]
        rows["hit@1"].append(hit_at_k(flags, 1))
        rows["hit@5"].append(hit_at_k(flags, 5))
        rows["hit@10"].append(hit_at_k(flags, 10))
        rows["mrr@10"].append(mrr_at_k(flags, 10))
    out = {name: round(statistics.fmean(v), 4) for name, v in rows.items()}
    latencies.sort()
    out["p50_ms"] = round(1000 * latencies[len(latencies) // 2], 1)
    out["p95_ms"] = round(1000 * latencies[int(len(latencies) * 0.95) - 1], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(
        "--questions",
        type=Path,
        help="question file over the data set's corpus (default: its questions.jsonl), "
        "e.g. eval/sets/spf-en/questions.jsonl for English questions over spf",
    )
    parser.add_argument("--modes", default="dense,bm25,hybrid")
    args = parser.parse_args()

    settings = Settings(data_dir=args.data_dir)
    search = SearchService(settings)
    if search.store.count_documents() == 0:
        IngestService(settings, embedder=search.embedder).run(args.dataset / "corpus")
    questions = [q for q in load_questions(args.questions or args.dataset) if q.answerable]
    search.search(questions[0].question)  # warm: model, index, language identifier
    report = {
        "dataset": args.dataset.name,
        "questions": len(questions),
        "chunks": search.store.count_chunks(),
        "model": settings.embedding.model,
        "fusion": {
            "method": settings.retrieval.fusion,
            "bm25_title_weight": settings.retrieval.bm25_title_weight,
            "dense_weight": settings.retrieval.dense_weight,
            "bm25_weight": settings.retrieval.bm25_weight,
            "rrf_k": settings.retrieval.rrf_k,
            "candidates": settings.retrieval.candidates,
        },
    }
    for mode in args.modes.split(","):
        report[mode] = evaluate(search, questions, mode)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
