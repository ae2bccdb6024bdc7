"""Each eval metric on hand-made cases with known answers, through a scripted judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.answer_metrics import answer_relevancy, faithfulness
from eval.citation_metrics import CitedSentence, citation_scores
from eval.context_metrics import average_precision, context_precision, context_recall
from eval.correctness import normalise, semantic_similarity, strip_markers, token_f1, yardstick
from eval.judge import Judge, JudgeCache
from eval.retrieval_metrics import ndcg_at_k, recall_at_k
from rag.embedding import BlendedEmbedder
from tests.fakes import BilingualEncoder, BinaryJudgeLLM, HashingEmbedder, JudgeLLM

CONTEXT = ["Le congé de mariage dure 4 jours.", "Le congé de naissance dure 3 jours."]


def test_faithfulness_is_the_share_of_supported_statements() -> None:
    answer = "Le mariage donne 4 jours [1]. Le PACS aussi. Le décès 10 jours."
    judge = Judge(
        JudgeLLM(
            p_yes={
                "Le mariage donne 4 jours.": 0.9,
                "Le PACS aussi.": 0.2,
                "Le décès 10 jours.": 0.6,
            }
        )
    )
    scores = faithfulness(judge, "Combien de jours ?", answer, CONTEXT)
    assert scores["faithfulness"].value == pytest.approx(2 / 3)
    assert scores["faithfulness_graded"].value == pytest.approx((0.9 + 0.2 + 0.6) / 3)
    statements = scores["faithfulness"].detail["statements"]
    assert [s["supported"] for s in statements] == [True, False, True]
    # The statements are split from the answer without its citation markers.
    assert "[1]" not in judge.llm.calls[0]


def test_faithfulness_with_a_binary_judge() -> None:
    judge = Judge(BinaryJudgeLLM(p_yes={"Un.": 1.0, "Deux.": 0.0}))
    scores = faithfulness(judge, "?", "Un. Deux.", CONTEXT)
    assert scores["faithfulness"].value == 0.5
    assert scores["faithfulness_graded"].value == 0.5  # 1.0 and 0.0 verdicts


def test_a_judge_that_returns_garbage_is_retried_then_counted_as_a_failure() -> None:
    judge = Judge(JudgeLLM(garbage=10), retries=2)
    scores = faithfulness(judge, "?", "Un. Deux.", CONTEXT)
    assert scores["faithfulness"].value is None
    assert "schema" in scores["faithfulness"].detail["error"]
    [verdict] = judge.take_verdicts()
    assert not verdict.ok and verdict.attempts == 3
    assert verdict.raw.startswith("Sure!")  # the raw output is kept for the report
    assert judge.failures["faithfulness"] == 1


def test_a_retry_can_save_the_verdict() -> None:
    judge = Judge(JudgeLLM(garbage=1, p_yes={"Un.": 1.0}), retries=2)
    scores = faithfulness(judge, "?", "Un.", CONTEXT)
    assert scores["faithfulness"].value == 1.0
    assert judge.take_verdicts()[0].attempts == 2


def test_judge_replies_are_cached_on_disk(tmp_path: Path) -> None:
    first = JudgeLLM(p_yes={"Un.": 0.8})
    cache = JudgeCache(tmp_path / "judge.sqlite3")
    faithfulness(Judge(first, cache), "?", "Un.", CONTEXT)
    assert len(first.calls) == 2
    cache.close()
    again = JudgeLLM(p_yes={"Un.": 0.8})
    cache = JudgeCache(tmp_path / "judge.sqlite3")
    judge = Judge(again, cache)
    scores = faithfulness(judge, "?", "Un.", CONTEXT)
    assert again.calls == [] and scores["faithfulness_graded"].value == pytest.approx(0.8)
    verdicts = judge.take_verdicts()
    assert verdicts and all(v.cached for v in verdicts)


def test_answer_relevancy() -> None:
    embedder = HashingEmbedder(dimension=256)
    question = "Combien de jours de congé pour un mariage ?"
    answer = "Quatre jours [1]."
    same = Judge(JudgeLLM(questions={answer: [question, question]}))
    assert answer_relevancy(same, embedder, question, answer).value == pytest.approx(1.0)
    other = Judge(JudgeLLM(questions={answer: ["Quel temps fait-il à Brest demain ?"]}))
    assert answer_relevancy(other, embedder, question, answer).value < 0.5
    evasive = Judge(JudgeLLM(questions={answer: [question]}, noncommittal=True))
    scored = answer_relevancy(evasive, embedder, question, answer)
    assert scored.value == 0.0 and scored.detail["noncommittal"]


def test_context_precision_is_average_precision() -> None:
    assert average_precision([True, False, True]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([False, True]) == 0.5
    assert average_precision([False, False]) == 0.0
    passages = ["useless passage", "the useful one"]
    judge = Judge(JudgeLLM(p_yes={"the useful one": 0.9, "useless passage": 0.1}))
    scored = context_precision(judge, "q?", "reference", passages)
    assert scored.value == 0.5 and scored.detail["useful"] == [False, True]


def test_context_recall_is_the_share_of_reference_sentences_in_the_context() -> None:
    reference = "Le congé dure 4 jours. Il est payé par l'employeur."
    judge = Judge(JudgeLLM(p_yes={"Le congé dure 4 jours.": 0.95}))
    scored = context_recall(judge, reference, CONTEXT)
    assert scored.value == 0.5
    assert [s["attributed"] for s in scored.detail["sentences"]] == [True, False]


def test_alce_citation_recall_and_precision() -> None:
    passages = ["P0", "P1"]
    supports = {("P0", "s1"), ("P0\nP1", "s2"), ("P0", "s2")}

    def entails(premise: str, hypothesis: str) -> bool:
        return (premise, hypothesis) in supports

    sentences = [
        CitedSentence("s1", (0,)),  # supported by its one citation
        CitedSentence("s2", (0, 1)),  # supported; P1 adds nothing -> imprecise
        CitedSentence("s3", ()),  # no citation: not recalled
        CitedSentence("s4", (1,)),  # not supported: its citation is imprecise
    ]
    recall, precision, detail = citation_scores(sentences, passages, entails)
    assert recall == 0.5  # s1, s2 of 4 sentences
    assert precision == 0.5  # 2 precise citations (s1's, s2's P0) of 4
    assert detail[1]["imprecise"] == [1] and detail[3]["imprecise"] == [1]


def test_alce_keeps_a_citation_that_is_needed_jointly() -> None:
    # Neither passage alone entails s, together they do: both citations are precise.
    recall, precision, _ = citation_scores(
        [CitedSentence("s", (0, 1))], ["A", "B"], lambda p, h: p == "A\nB"
    )
    assert (recall, precision) == (1.0, 1.0)
    assert citation_scores([], ["A"], lambda p, h: True)[:2] == (0.0, 0.0)


def test_token_f1_squad_style_in_english_and_french() -> None:
    assert token_f1("the cat sat", ["a cat sat on"]) == pytest.approx(0.8)
    assert token_f1("Le congé dure 4 jours [1].", ["4 jours"]) == pytest.approx(2 / 3)
    assert token_f1("Rien", ["4 jours", "quatre jours"]) == 0.0
    assert token_f1("quatre jours", ["4 jours", "quatre jours"]) == 1.0  # best reference
    assert normalise("L'employeur, d'abord !") == ["employeur", "abord"]
    assert strip_markers("Quatre jours [1, 2]. Oui [3].") == "Quatre jours. Oui."


def test_semantic_similarity_takes_the_best_reference() -> None:
    embedder = HashingEmbedder(dimension=256)
    assert semantic_similarity(embedder, "quatre jours [1]", ["rien à voir", "quatre jours"]) == (
        pytest.approx(1.0)
    )
    assert semantic_similarity(embedder, "x", []) == 0.0


def test_answers_are_measured_with_the_retrieval_model_alone() -> None:
    """The yardstick does not move with the search's blend: the same answer scores
    the same through a blended embedder as through its retrieval model."""
    primary = HashingEmbedder(dimension=64)
    blended = BlendedEmbedder(primary, BilingualEncoder(), {"fr": 0.7})  # type: ignore[arg-type]
    answer, references = "Le congé de mariage dure 4 jours [1].", ["quatre jours de congé"]
    assert yardstick(blended) is primary
    assert yardstick(primary) is primary
    alone = semantic_similarity(primary, answer, references)
    assert semantic_similarity(yardstick(blended), answer, references) == pytest.approx(alone)
    # Through the blend itself the figure is another one: what the yardstick avoids.
    assert semantic_similarity(blended, answer, references) != pytest.approx(alone)


def test_retrieval_recall_and_ndcg() -> None:
    assert recall_at_k(["d3", "d1"], ["d1", "d2"], 10) == 0.5
    assert ndcg_at_k([False, True], 10, 1) == pytest.approx(1 / 1.5849625)
    assert ndcg_at_k([True, True], 10, 2) == 1.0
    assert ndcg_at_k([False], 10, 0) == 0.0


def test_judge_prompts_put_the_shared_context_first() -> None:
    # llama.cpp reuses the KV cache for a shared prompt prefix: the verdicts for
    # several statements against one context must differ only at the end.
    from eval.prompts import supported

    a = json.dumps(supported("CONTEXT " * 50, "one"))
    b = json.dumps(supported("CONTEXT " * 50, "two"))
    common = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
    assert common > len(a) - 10


def test_gold_citation_and_gold_quote() -> None:
    from eval.citation_metrics import gold_scores

    spf = gold_scores(
        [(False, "Les congés payés."), (True, "Le mariage du salarié donne droit à 5 jours.")],
        ["5 jours"],
    )
    assert spf == {"gold_cited": 1.0, "gold_quote": 1.0}
    clapnq = gold_scores(
        [(True, "The bridge was sold in 1968.")],
        ["Built in the 1830s, the bridge was sold in 1968 to an American."],
    )
    assert clapnq == {"gold_cited": 1.0, "gold_quote": 1.0}
    wrong = gold_scores([(False, "Chaque salarié acquiert 25 jours.")], ["5 jours de congé"])
    assert wrong == {"gold_cited": 0.0, "gold_quote": 0.0}
    assert gold_scores([(True, "x")], []) == {"gold_cited": 1.0}, "no reference: no gold_quote"
