"""Ingest throughput against the raw encoder, measured in the same run.

    python bench/ingest_throughput.py --corpus ../shared/datasets/spf/corpus

1. First ingest of the corpus into a fresh store (model loaded beforehand).
2. Baseline: SentenceTransformer.encode on exactly the chunks that run stored,
   same model object, same threads, batch size and normalisation.
3. Second ingest of the unchanged corpus.
Prints one JSON object. The pipeline's target is >= 90% of the baseline's
chunks/s, and the second run under 5% of the first run's time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.pipeline import IngestService
from rag.embedding import SentenceTransformerEmbedder
from rag.settings import Settings


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temp dir")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    settings = Settings(data_dir=data_dir)
    embedder = SentenceTransformerEmbedder(settings.embedding)
    t0 = time.perf_counter()
    embedder.embed_documents(["warm-up"])
    load_s = time.perf_counter() - t0
    service = IngestService(settings, embedder=embedder)

    first = service.run(args.corpus)
    pipeline_rate = first.chunks / first.seconds

    texts = service.store.chunk_texts()
    model = embedder._load()
    t0 = time.perf_counter()
    model.encode(
        texts,
        batch_size=settings.embedding.batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    raw_s = time.perf_counter() - t0
    raw_rate = len(texts) / raw_s

    second = service.run(args.corpus)

    print(
        json.dumps(
            {
                "corpus": str(args.corpus),
                "files": first.files,
                "failed": len(first.failed),
                "chunks": first.chunks,
                "pages": first.pages,
                "model": settings.embedding.model,
                "torch_threads": settings.embedding.threads or os.cpu_count(),
                "model_load_s": round(load_s, 2),
                "first_run": {
                    "seconds": round(first.seconds, 2),
                    "files_per_s": round(first.files / first.seconds, 2),
                    "chunks_per_s": round(pipeline_rate, 2),
                    "time_in_encoder_s": round(first.embed_seconds, 2),
                },
                "baseline_raw_encode": {
                    "name": "SentenceTransformer.encode on the same chunks",
                    "seconds": round(raw_s, 2),
                    "chunks_per_s": round(raw_rate, 2),
                },
                "pipeline_vs_raw_encoder": round(pipeline_rate / raw_rate, 3),
                "second_run": {
                    "seconds": round(second.seconds, 3),
                    "unchanged": second.unchanged,
                    "share_of_first_run": round(second.seconds / first.seconds, 4),
                },
                "peak_rss_mb": {
                    "ingest_process": round(peak_rss_mb(resource.RUSAGE_SELF), 1),
                    "largest_parser_child": round(peak_rss_mb(resource.RUSAGE_CHILDREN), 1),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
