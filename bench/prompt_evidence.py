"""Does the prompt keep the sentence that answers? Sentence selection measured alone.

    RAG_DATA_DIR=<spf store> python bench/prompt_evidence.py \
        --questions ../shared/datasets/spf/questions.jsonl \
        --questions eval/sets/spf-en/questions.jsonl
    RAG_DATA_DIR=<clapnq store> python bench/prompt_evidence.py \
        --questions ../shared/datasets/clapnq/questions.jsonl \
        --questions eval/sets/clapnq-fr/questions.jsonl

Each source in the answer's prompt is cut to its sentences most related to the
question, about RAG_ANSWER__SOURCE_TOKENS tokens of them (rag.answer.prompts.focus): a
sentence cut away cannot be answered from, whatever the model. For each answerable
question (the first --limit of each file) this runs the product's retrieval and builds
the product's prompt, with no LLM call, and counts

- `gold_in_prompt`: questions whose gold document is among the prompt's sources;
- `gold_sentence_kept`: of those, the ones whose prompt holds the reference's sentence
  (the reference answer is an extract of the gold document; a translated set's
  reference is looked up in the set it was translated from, by id, so the sentence is
  the document's own);
- `prompt_source_tokens_median`, `_mean`: the tokens of a prompt's sources, all of them
  (what prefill pays).

Variants in the same run: `product` (the settings from the environment), and the
baselines `ranked_only` (sentences ranked by the question's words, or by the
multilingual cosine across languages, with no rate counted twice),
`whole_sentences_in_order` (no ranking, the first sentences that fit) and
`twice_the_budget` (RAG_ANSWER__SOURCE_TOKENS doubled: what a larger prompt would keep).
Questions whose reference is not in the gold document's chunks that the prompt holds
(retrieval brought another part of the document) are counted apart
(`reference_not_in_prompt_chunks`). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.datasets import Question, is_relevant, load_questions
from rag.answer import prompts
from rag.answer.service import AnswerService, generation_params
from rag.settings import Settings
from rag.text import detect_language, sentences

# A translated set's question id is its original's with this suffix.
_TRANSLATED = re.compile(r"-(en|fr)$")


def normal(text: str) -> str:
    """Lower case, letters and digits only, one space between words: a reference and a
    prompt differ in headings' '#', list bullets and line breaks."""
    return " ".join(re.findall(r"\w+", text.lower()))


def reference_pieces(reference: str) -> list[str]:
    """The reference's sentences (at least 4 words each), normalised: the prompt keeps
    the gold sentence when it holds one of them, or a 12-word run of a longer one (a
    sentence cut into windows keeps a part)."""
    pieces = []
    for s, e in sentences(reference):
        words = normal(reference[s:e]).split()
        if len(words) >= 4:
            pieces.append(" ".join(words[:12]))
    return pieces or [normal(reference)]


def originals(paths: list[Path]) -> dict[str, Question]:
    return {q.id: q for path in paths for q in load_questions(path)}


def gold_reference(question: Question, known: dict[str, Question]) -> str:
    original = known.get(_TRANSLATED.sub("", question.id), question)
    return original.reference_answers[0] if original.reference_answers else ""


def score(
    service: AnswerService,
    questions: list[Question],
    known: dict[str, Question],
    focus: Callable[..., str],
) -> dict[str, Any]:
    saved = prompts.focus
    prompts.focus = focus
    try:
        in_prompt = kept = missing_reference = 0
        tokens: list[int] = []
        lost: list[str] = []
        params = generation_params(service.settings)
        for q in questions:
            lang = detect_language(q.question)
            result = service.search.search(
                q.question, service.retrieval_k(service.settings.answer.sources)
            )
            hits = service.order_across_languages(q.question, lang, result.hits)
            prompt = service.prompt(q.question, hits, lang, params)
            gold = [h for h in prompt.hits if is_relevant(h.document.path, q.doc_ids)]
            text = normal(prompt.messages[1]["content"])
            tokens.append(
                sum(
                    service.llm.count_tokens(block)
                    for block in prompt.messages[1]["content"].split("</source>")[:-1]
                )
            )
            if not gold:
                continue
            pieces = reference_pieces(gold_reference(q, known))
            documents = " ".join(normal(h.chunk.text) for h in gold)
            if not any(p in documents for p in pieces):
                missing_reference += 1
                continue
            in_prompt += 1
            if any(p in text for p in pieces):
                kept += 1
            else:
                lost.append(q.question)
        judged = in_prompt
        return {
            "questions": len(questions),
            "gold_in_prompt": in_prompt + missing_reference,
            "reference_not_in_prompt_chunks": missing_reference,
            "gold_sentence_kept": round(kept / judged, 3) if judged else None,
            "kept": kept,
            "of": judged,
            "prompt_source_tokens_median": statistics.median(tokens) if tokens else None,
            "prompt_source_tokens_mean": round(statistics.mean(tokens), 1) if tokens else None,
            "lost": lost,
        }
    finally:
        prompts.focus = saved


def in_order(
    passage: str,
    question: str,
    lang: str,
    budget: int,
    count: Any,
    shown: str = "",
    weights: Any = None,
    closeness: Any = None,
) -> str:
    """Baseline: the passage's sentences in document order, as many as fit."""
    kept: list[str] = []
    used = 0
    for s, e in sentences(passage):
        sentence = " ".join(passage[s:e].split())
        if sentence in shown:
            continue
        cost = count(sentence)
        if kept and used + cost > budget > 0:
            break
        kept.append(sentence)
        used += cost
    return " ".join(kept)


def ranked_only(product: Callable[..., str]) -> Callable[..., str]:
    """The product's focus without its rate rule: the sentences ranked by the
    question's words (or the multilingual cosine) alone."""

    def focus(*args: Any, **kw: Any) -> str:
        saved = prompts.rate_weight
        prompts.rate_weight = lambda text, asked: 1.0
        try:
            return product(*args, **kw)
        finally:
            prompts.rate_weight = saved

    return focus


def twice(product: Callable[..., str]) -> Callable[..., str]:
    def focus(passage: str, question: str, lang: str, budget: int, *args: Any, **kw: Any) -> str:
        return product(passage, question, lang, 2 * budget, *args, **kw)

    return focus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", action="append", required=True, type=Path)
    parser.add_argument(
        "--originals",
        action="append",
        type=Path,
        default=[],
        help="the sets translated ones come from (default: the shared spf "
        "and clapnq sets beside --questions' data sets)",
    )
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--only", help="run only this variant")
    args = parser.parse_args()
    shared = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    known = originals(
        args.originals
        or [
            p
            for p in (shared / "spf" / "questions.jsonl", shared / "clapnq" / "questions.jsonl")
            if p.exists()
        ]
    )
    service = AnswerService(Settings())
    product = prompts.focus
    variants = {
        "product": product,
        "ranked_only": ranked_only(product),
        "whole_sentences_in_order": in_order,
        "twice_the_budget": twice(product),
    }
    if args.only:
        variants = {args.only: variants[args.only]}
    report: dict[str, Any] = {
        "store": str(service.settings.data_dir),
        "source_tokens": service.settings.answer.source_tokens,
        "sets": {},
    }
    try:
        for path in args.questions:
            questions = [q for q in load_questions(path) if q.answerable][: args.limit]
            report["sets"][str(path)] = {
                name: score(service, questions, known, focus) for name, focus in variants.items()
            }
    finally:
        service.close()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
