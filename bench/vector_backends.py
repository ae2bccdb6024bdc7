"""FAISS (the baseline) against Qdrant's local mode on one real store.

    python bench/vector_backends.py --dataset ../shared/datasets/clapnq --data-dir STORE

The store must already hold the data set's corpus (`rag ingest`). Copies the stored
embeddings into a Qdrant collection in a temporary folder with `rag index migrate`'s
code (timed: no re-embedding), then runs every question's hybrid search with each
backend and reports hit@10 and MRR@10 of the gold documents, the warm search
latency (p50, p95) and how often the two top-10 lists agree. Prints one JSON object.
Qdrant's local mode is a single-process, brute-force store meant for tests and
small stores; a Qdrant server (HNSW) is what scale-out uses, and is not measured
here (no server runs on these machines).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.datasets import is_relevant, load_questions
from eval.retrieval_metrics import hit_at_k, mrr_at_k
from rag.retrieval.service import SearchService
from rag.settings import IndexSettings, Settings
from rag.vectors.migration import migrate_index


def run(service: SearchService, questions) -> tuple[dict[str, float], list[list[int]]]:
    service.search(questions[0].question, k=10)  # warm: index loaded, embedder ready
    hits, mrr, latencies, ranked = [], [], [], []
    for q in questions:
        t0 = time.perf_counter()
        result = service.search(q.question, k=10)
        latencies.append(time.perf_counter() - t0)
        flags = [is_relevant(h.document.path, q.doc_ids) for h in result.hits]
        hits.append(hit_at_k(flags, 10))
        mrr.append(mrr_at_k(flags, 10))
        ranked.append([h.chunk.id for h in result.hits])
    latencies.sort()
    return {
        "hit@10": round(statistics.fmean(hits), 4),
        "mrr@10": round(statistics.fmean(mrr), 4),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "p95_ms": round(1000 * latencies[int(len(latencies) * 0.95) - 1], 2),
    }, ranked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()
    questions = [q for q in load_questions(args.dataset) if q.doc_ids][: args.limit]
    faiss_settings = Settings(data_dir=args.data_dir)
    faiss_metrics, faiss_ranked = run(SearchService(faiss_settings), questions)
    with tempfile.TemporaryDirectory() as folder:
        qdrant_settings = faiss_settings.model_copy(
            update={"index": IndexSettings(backend="qdrant", qdrant_path=Path(folder))}
        )
        moved = migrate_index(qdrant_settings, "qdrant", path=Path(folder))
        qdrant_metrics, qdrant_ranked = run(SearchService(qdrant_settings), questions)
    same_top1 = sum(a[:1] == b[:1] for a, b in zip(faiss_ranked, qdrant_ranked, strict=True))
    same_set = sum(set(a) == set(b) for a, b in zip(faiss_ranked, qdrant_ranked, strict=True))
    print(
        json.dumps(
            {
                "dataset": args.dataset.name,
                "questions": len(questions),
                "vectors": moved.vectors,
                "migrate_s": round(moved.seconds, 2),
                "baseline_faiss": faiss_metrics,
                "qdrant_local": qdrant_metrics,
                "same_top1": same_top1,
                "same_top10_set": same_set,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
