"""`rag ask` speed with the embedded model, against llama.cpp alone, same run.

    python bench/ask_latency.py --dataset ../shared/datasets/spf --data-dir bench/stores/spf

For a few questions of the set (5 sources each): the service's time to first
token, warm (model loaded, the previous question's prompt in the KV cache as in
service), its total time warm, with and without the LLM judges of cited sentences
(RAG_ANSWER__JUDGE_VETO and RAG_ANSWER__MENTION_VETO: more prompts per kept sentence,
after the answer has streamed), then, both from an empty KV cache, the service's
total time and llama.cpp's own streaming chat completion on exactly the same messages
(the baseline). The overhead is the service's total time over the baseline's.
Prints one JSON object.
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
from rag.answer.service import AnswerService
from rag.llm import generation_params
from rag.settings import Settings
from rag.text import detect_language


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=5)
    args = parser.parse_args()

    settings = Settings(data_dir=args.data_dir)
    service = AnswerService(settings)
    off = {"fr": 0.0, "en": 0.0}  # both LLM judges of cited sentences
    unjudged = settings.answer.model_copy(update={"judge_veto": off, "mention_veto": off})
    without_judge = AnswerService(
        settings.model_copy(update={"answer": unjudged}),
        search=service.search,
        llm=service.llm,
        multilingual=service.multilingual,
    )
    questions = [q for q in load_questions(args.dataset) if q.answerable][: args.questions + 1]
    service.ask(questions[0].question)  # warm: embedder, index, model loaded
    llama = service.llm._load()  # type: ignore[attr-defined]
    params = generation_params(settings)
    rows = []
    for q in questions[1:]:
        # Warm as in service: the KV cache holds the previous question's prompt, so
        # only the shared system prompt is reused.
        t0 = time.perf_counter()
        warm = service.ask(q.question)
        warm_total = time.perf_counter() - t0
        t0 = time.perf_counter()
        unjudged_answer = without_judge.ask(q.question)
        warm_total_unjudged = time.perf_counter() - t0
        # Overhead: both calls start from an empty KV cache, else the second one
        # would reuse the first one's evaluated prompt and skip its prefill.
        llama.reset()
        t0 = time.perf_counter()
        answer = service.ask(q.question)
        service_total = time.perf_counter() - t0
        # Baseline: llama.cpp alone on the very same prompt.
        hits = service.search.search(q.question, service.retrieval_k(settings.answer.sources)).hits
        prompt = service.prompt(q.question, hits, detect_language(q.question), params)
        messages, used = prompt.messages, prompt.sources
        llama.reset()
        t0 = time.perf_counter()
        first = None
        for chunk in llama.create_chat_completion(
            messages=messages,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,
            max_tokens=params.max_tokens,
            seed=params.seed,
            stream=True,
        ):
            if first is None and chunk["choices"][0].get("delta", {}).get("content"):
                first = time.perf_counter() - t0
        baseline_total = time.perf_counter() - t0
        rows.append(
            {
                "question": q.question,
                "mode": answer.mode,
                "sources": used,
                "prompt_tokens": answer.usage.prompt_tokens,
                "completion_tokens": answer.usage.completion_tokens,
                "service_first_token_s": round(warm.timings.get("first_token_s", 0.0), 2),
                "service_first_token_cold_cache_s": round(
                    answer.timings.get("first_token_s", 0.0), 2
                ),
                "service_total_s": round(service_total, 2),
                "service_total_warm_s": round(warm_total, 2),
                "judge_s": round(warm.timings.get("judge_s", 0.0), 2),
                "service_total_warm_without_judge_s": round(warm_total_unjudged, 2),
                "mode_without_judge": unjudged_answer.mode,
                "llamacpp_first_token_s": round(first or 0.0, 2),
                "llamacpp_total_s": round(baseline_total, 2),
            }
        )
    service_total = sum(r["service_total_s"] for r in rows)
    baseline_total = sum(r["llamacpp_total_s"] for r in rows)
    print(
        json.dumps(
            {
                "dataset": args.dataset.name,
                "model": service.llm.name,
                "threads": settings.llm.threads or os.cpu_count(),
                "median_service_first_token_s": statistics.median(
                    r["service_first_token_s"] for r in rows
                ),
                "median_llamacpp_first_token_s": statistics.median(
                    r["llamacpp_first_token_s"] for r in rows
                ),
                "median_service_total_warm_s": statistics.median(
                    r["service_total_warm_s"] for r in rows
                ),
                "median_service_total_warm_without_judge_s": statistics.median(
                    r["service_total_warm_without_judge_s"] for r in rows
                ),
                "service_overhead_over_llamacpp": round(service_total / baseline_total - 1, 3),
                "questions": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
