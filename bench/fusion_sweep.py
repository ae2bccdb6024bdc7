"""How fusion weights move retrieval quality, from one set of candidate lists.

    python bench/fusion_sweep.py --dataset ../shared/datasets/spf --data-dir /tmp/spf-store

Dense and BM25 candidates are computed once per question, then fused with each
weighting: weighted reciprocal rank fusion (RRF) with several dense:BM25 ratios,
and the two single lists. Prints hit@1/@10 and MRR@10 per weighting as JSON.
The store must already hold the data set's corpus (see retrieval_quality.py).
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

from eval.datasets import is_relevant, load_questions
from eval.retrieval_metrics import hit_at_k, mrr_at_k
from rag.retrieval.fusion import FusionWeights, reciprocal_rank_fusion
from rag.retrieval.service import SearchService
from rag.settings import Settings
from rag.text import detect_language, fts_query
from rag.types import SearchFilters

RATIOS = [
    (1.0, 0.0),
    (1.0, 0.1),
    (1.0, 0.25),
    (1.0, 0.5),
    (1.0, 1.0),
    (0.5, 1.0),
    (0.25, 1.0),
    (0.1, 1.0),
    (0.0, 1.0),
]


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
    parser.add_argument("--rrf-k", type=int, default=60)
    parser.add_argument("--method", default="convex", choices=["convex", "rrf"])
    parser.add_argument(
        "--bm25-columns", default="1,1,1", help="BM25 weights of text, heading, title"
    )
    args = parser.parse_args()
    service = SearchService(Settings(data_dir=args.data_dir))
    retriever = service.retriever
    retriever.bm25_columns = tuple(float(x) for x in args.bm25_columns.split(","))
    fingerprint = service.fingerprint()
    questions = [q for q in load_questions(args.questions or args.dataset) if q.answerable]
    cached = []
    for q in questions:
        lang = detect_language(q.question)
        dense = retriever.dense(q.question, 50, SearchFilters(), fingerprint)
        match = fts_query(q.question, lang)
        lexical = retriever.bm25(match, 50, SearchFilters())
        cached.append((q, lang, match, dense, lexical))
    doc_paths = {d.id: d.path for d in service.store.list_documents()}
    paths = {
        cid: doc_paths[document_id] for cid, document_id in service.store.chunk_documents().items()
    }
    report = {}
    for wd, wb in RATIOS:
        retriever.weights = FusionWeights(
            {"fr": wd, "en": wd}, {"fr": wb, "en": wb}, args.rrf_k, args.method
        )
        rows = {"hit@1": [], "hit@10": [], "mrr@10": []}
        for q, lang, match, dense, lexical in cached:
            if args.method == "convex":
                fused = retriever.fuse_scores(q.question, match, lang, dense, lexical)[:10]
            else:
                fused = reciprocal_rank_fusion(dense, lexical, retriever.weights, lang)[:10]
            flags = [is_relevant(paths[cid], q.doc_ids) for cid, _ in fused]
            rows["hit@1"].append(hit_at_k(flags, 1))
            rows["hit@10"].append(hit_at_k(flags, 10))
            rows["mrr@10"].append(mrr_at_k(flags, 10))
        report[f"dense {wd} : bm25 {wb}"] = {
            k: round(statistics.fmean(v), 4) for k, v in rows.items()
        }
    header = {
        "dataset": args.dataset.name,
        "method": args.method,
        "rrf_k": args.rrf_k,
        "bm25_columns": args.bm25_columns,
    }
    print(json.dumps({**header, **report}, indent=2))


if __name__ == "__main__":
    main()
