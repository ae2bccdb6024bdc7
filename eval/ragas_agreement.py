"""Does our faithfulness agree with the reference one? ragas's own `Faithfulness`, run
with the same judge LLM on the HaluEval samples, against ours (binary and graded).

Definition (ragas docs, "Faithfulness",
https://docs.ragas.io/en/stable/concepts/metrics/available_metrics/faithfulness/; Es et
al., EACL 2024, §3): the LLM breaks the response into statements, then judges in one
JSON reply whether each can be inferred from the retrieved context; faithfulness =
statements supported / statements, NaN when it finds no statement. Ours asks the same
questions with shorter prompts, one statement per call (see `eval.answer_metrics`).

ragas reaches our `rag.llm.LLM` through `JudgeChatModel`, a LangChain chat model, in
`ragas.llms.LangchainLLMWrapper`: ragas's prompts, parsing and output-fixing retries are
its own. Its replies go into our judge cache (keyed like the judge's own replies), so a
re-run costs no call. A sample where ragas fails (NaN, or an exception such as a reply
it cannot parse) is counted as a ragas failure and left out of the correlations.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field

from eval.answer_metrics import faithfulness
from eval.calibration import Pair, ordering
from eval.correctness import strip_markers
from eval.judge import Judge
from rag.llm import GenerationParams, Message

OURS = ("faithfulness", "faithfulness_graded")
ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def load_ragas() -> str:
    """Import ragas (raises ImportError without the `ragas` extra); its version."""
    # ragas sends usage analytics unless told not to; it reads this once, on first use.
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"
    import ragas
    from ragas.dataset_schema import SingleTurnSample  # noqa: F401
    from ragas.llms import LangchainLLMWrapper  # noqa: F401
    from ragas.metrics import Faithfulness  # noqa: F401

    return str(ragas.__version__)


class JudgeChatModel(BaseChatModel):
    """A `rag.llm.LLM` (the judge's) as a LangChain chat model, for ragas.

    ragas sets `temperature` (1e-8 for one completion: greedy). A reply that stopped
    at `max_tokens` reports finish_reason "length", which ragas turns into a failure
    (`LLMDidNotFinishException`) rather than parsing half a JSON object."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    judge: Judge
    temperature: float = 0.0
    max_tokens: int = 1024
    replies: list[str] = Field(default_factory=list)  # raw replies since `take_replies`

    @property
    def _llm_type(self) -> str:
        return "rag-judge"

    def take_replies(self) -> list[str]:
        taken, self.replies = self.replies, []
        return taken

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        chat: list[Message] = [
            {"role": ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages
        ]
        temperature = 0.0 if self.temperature < 1e-3 else self.temperature
        settings = {"temperature": temperature, "max_tokens": self.max_tokens, "stop": stop}
        key = self.judge._key("ragas", chat, settings, 0)
        cache = self.judge.cache
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            reply = json.loads(hit)
        else:
            params = GenerationParams(
                temperature=temperature,
                max_tokens=self.max_tokens,
                seed=self.judge.seed,
                context_size=self.judge.context_size,
                stop=tuple(stop or ()),
            )
            generation = self.judge.llm.generate(chat, params)
            text = "".join(generation)
            finished = generation.usage.completion_tokens < self.max_tokens
            reply = {"text": text, "finish_reason": "stop" if finished else "length"}
            if cache is not None:
                cache.put(key, json.dumps(reply, ensure_ascii=False))
        self.replies.append(reply["text"])
        message = AIMessage(
            content=reply["text"], response_metadata={"finish_reason": reply["finish_reason"]}
        )
        return ChatResult(
            generations=[
                ChatGeneration(
                    message=message, generation_info={"finish_reason": reply["finish_reason"]}
                )
            ]
        )


class RagasFaithfulness:
    """ragas's `Faithfulness` metric over our judge; `score` never raises."""

    def __init__(self, judge: Judge) -> None:
        load_ragas()
        from ragas.llms import LangchainLLMWrapper
        from ragas.metrics import Faithfulness
        from ragas.run_config import RunConfig

        self.chat_model = JudgeChatModel(judge=judge)
        # One attempt per call, as our judge does: ragas's default retries an error ten
        # times with back-off, and an unavailable or timed-out model stays so.
        wrapper = LangchainLLMWrapper(self.chat_model, run_config=RunConfig(max_retries=1))
        self.metric = Faithfulness(llm=wrapper)

    def score(self, question: str, answer: str, contexts: Sequence[str]) -> dict[str, Any]:
        """{"value": float | None, "error": str | None, "replies": [raw LLM replies]}."""
        from ragas.dataset_schema import SingleTurnSample

        sample = SingleTurnSample(
            user_input=question, response=answer, retrieved_contexts=list(contexts)
        )
        value: float | None = None
        error: str | None = None
        try:
            raw = asyncio.run(self.metric.single_turn_ascore(sample))
        except Exception as exc:  # every ragas failure is counted, whatever its kind
            error = f"{type(exc).__name__}: {exc}"
        else:
            if raw is None or math.isnan(float(raw)):
                error = "NaN: ragas found no statement in the answer"
            else:
                value = float(raw)
        return {"value": value, "error": error, "replies": self.chat_model.take_replies()}


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank (as Spearman's rho needs)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for v in np.unique(values):
        tied = values == v
        ranks[tied] = ranks[tied].mean()
    return ranks


def correlations(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float | None]:
    """Pearson's r and Spearman's rho; None where undefined (under 2 points, or a constant
    series: e.g. every sample scored 1.0). scipy where installed, else numpy."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"pearson": None, "spearman": None}
    try:
        from scipy import stats
    except ImportError:
        pearson = float(np.corrcoef(x, y)[0, 1])
        spearman = float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])
    else:
        pearson = float(stats.pearsonr(x, y)[0])
        spearman = float(stats.spearmanr(x, y)[0])
    return {"pearson": round(pearson, 4), "spearman": round(spearman, 4)}


def compare_scores(rows: list[dict[str, Any]], ours: str) -> dict[str, Any]:
    """ragas against one of our scores, on the samples where both have a value."""
    both = [(r["ragas"], r[ours]) for r in rows if r["ragas"] is not None and r[ours] is not None]
    xs, ys = [b[0] for b in both], [b[1] for b in both]
    diff = float(np.mean(np.abs(np.subtract(xs, ys)))) if both else None
    return {
        "n": len(both),
        **correlations(xs, ys),
        "mean_abs_diff": None if diff is None else round(diff, 4),
    }


def _ordering_summary(orders: list[str]) -> dict[str, Any]:
    counts = {k: orders.count(k) for k in ("correct", "tie", "reversed", "failed")}
    return {
        **counts,
        "correct_share": round(counts["correct"] / len(orders), 4) if orders else None,
        "tie_share": round(counts["tie"] / len(orders), 4) if orders else None,
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Correlations, failures and pair orderings from per-sample rows."""
    failures = [r for r in rows if r["ragas"] is None]
    kinds = Counter(
        "nan" if (r["ragas_error"] or "").startswith("NaN") else "exception" for r in failures
    )
    by_pair: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_pair.setdefault(r["id"], {})[r["kind"]] = r
    orderings = {
        score: _ordering_summary(
            [
                ordering(p["right"][score], p["hallucinated"][score])
                for p in by_pair.values()
                if {"right", "hallucinated"} <= p.keys()
            ]
        )
        for score in ("ragas", *OURS)
    }
    return {
        "samples": len(rows),
        "ragas_failures": {
            "count": len(failures),
            "nan": kinds["nan"],
            "exception": kinds["exception"],
            "errors": dict(Counter((r["ragas_error"] or "").split(":")[0] for r in failures)),
        },
        "our_failures": {score: sum(r[score] is None for r in rows) for score in OURS},
        "agreement": {score: compare_scores(rows, score) for score in OURS},
        "ordering": orderings,
    }


def agreement(
    judge: Judge,
    pairs: list[Pair],
    on_pair: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Both answers of each pair (contexts = [knowledge]) scored by ragas and by us."""
    version = load_ragas()
    reference = RagasFaithfulness(judge)
    rows: list[dict[str, Any]] = []
    seconds = {"ours": 0.0, "ragas": 0.0}
    for done, pair in enumerate(pairs, start=1):
        for kind, answer in (
            ("right", pair.right_answer),
            ("hallucinated", pair.hallucinated_answer),
        ):
            started = time.perf_counter()
            ours = faithfulness(judge, pair.question, answer, [pair.knowledge])
            judge.take_verdicts()
            seconds["ours"] += time.perf_counter() - started
            started = time.perf_counter()
            theirs = reference.score(pair.question, strip_markers(answer), [pair.knowledge])
            seconds["ragas"] += time.perf_counter() - started
            rows.append(
                {
                    "id": pair.id,
                    "kind": kind,
                    "ragas": theirs["value"],
                    "ragas_error": theirs["error"],
                    **{score: ours[score].value for score in OURS},
                    "our_statements": ours["faithfulness"].detail.get("statements"),
                    "ragas_replies": theirs["replies"],
                }
            )
        if on_pair:
            on_pair(done, len(pairs))
    return {
        "pairs": len(pairs),
        "judge": judge.name,
        "ragas_version": version,
        "judge_failures": dict(judge.failures),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        **summarise(rows),
        "rows": rows,
    }
