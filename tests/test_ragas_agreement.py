"""Agreement with the reference ragas Faithfulness: ragas's real metric run through our
judge adapter on a scripted judge, the correlation maths, failure counts, and the CLI.
The tests that run ragas skip where the `ragas` extra is not installed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from eval.calibration import Pair
from eval.judge import Judge, JudgeCache
from eval.ragas_agreement import correlations, summarise
from rag.cli import build_app
from rag.llm import Generation, GenerationParams, Message, Usage
from tests.fakes import JudgeLLM

os.environ["RAGAS_DO_NOT_TRACK"] = "true"  # before ragas is first imported

RAGAS_INPUT = "Now perform the same with the following input\ninput: "


class RagasJudgeLLM(JudgeLLM):
    """`JudgeLLM` that also answers ragas's prompts, whose input comes last as JSON:
    statement extraction, then one NLI reply with a 0/1 verdict per statement (from the
    same `p_yes` as our judge's). Answers in `unparsable` get text that is not JSON, as
    does ragas's output-fixing retry; an answer mapped to [] in `statements` gives none."""

    def __init__(self, unparsable: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unparsable = unparsable
        self.ragas_calls = 0

    def generate(self, messages: list[Message], params: GenerationParams) -> Generation:
        prompt = messages[-1]["content"]
        if RAGAS_INPUT not in prompt:
            return super().generate(messages, params)
        self.ragas_calls += 1
        data = json.loads(prompt.rsplit(RAGAS_INPUT, 1)[1].removesuffix("Output: "))
        if "output_string" in data:  # ragas's FixOutputFormat retry
            reply = "I cannot fix it."
        elif "answer" in data:
            answer = data["answer"]
            statements = self.statements.get(answer, answer.replace(". ", ".|").split("|"))
            unparsable = answer in self.unparsable
            reply = "Sure, statements:" if unparsable else json.dumps({"statements": statements})
        else:
            verdicts = [
                {"statement": s, "reason": "r", "verdict": int(self.p_yes.get(s, 0.0) >= 0.5)}
                for s in data["statements"]
            ]
            reply = json.dumps({"statements": verdicts})
        return Generation(iter([reply]), Usage(completion_tokens=len(reply.split())))


@pytest.fixture
def ragas() -> None:
    pytest.importorskip("ragas")


def test_ragas_faithfulness_runs_through_the_adapter(ragas: None) -> None:
    from eval.ragas_agreement import RagasFaithfulness

    answer = "Paris is in France. Paris has two million people. Paris is in Spain."
    llm = RagasJudgeLLM(p_yes={"Paris is in France.": 0.9, "Paris has two million people.": 0.7})
    result = RagasFaithfulness(Judge(llm)).score("Where is Paris?", answer, ["Paris, France."])
    assert result["error"] is None
    assert result["value"] == pytest.approx(2 / 3)
    assert llm.ragas_calls == 2  # statements, then every verdict in one reply
    verdicts = json.loads(result["replies"][1])["statements"]
    assert [v["verdict"] for v in verdicts] == [1, 1, 0]


def test_agreement_counts_ragas_failures_and_caches_every_call(ragas: None, tmp_path: Path) -> None:
    from eval.ragas_agreement import agreement

    pairs = [
        Pair("1", "K", "q", "A is true. B is true.", "A is true. C is false."),
        Pair("2", "K", "q", "D holds.", "Garbage here."),
        Pair("3", "K", "q", "E holds.", "Nothing."),
    ]
    p_yes = {"A is true.": 0.9, "B is true.": 0.8, "C is false.": 0.1}
    p_yes |= {"D holds.": 0.6, "E holds.": 0.7}

    def run() -> tuple[dict, RagasJudgeLLM]:
        llm = RagasJudgeLLM(
            unparsable=frozenset({"Garbage here."}), statements={"Nothing.": []}, p_yes=p_yes
        )
        cache = JudgeCache(tmp_path / "judge.sqlite3")
        try:
            return agreement(Judge(llm, cache), pairs), llm
        finally:
            cache.close()

    result, llm = run()
    assert [r["ragas"] for r in result["rows"]] == [1.0, 0.5, 1.0, None, 1.0, None]
    assert [r["faithfulness"] for r in result["rows"]] == [1.0, 0.5, 1.0, 0.0, 1.0, 0.0]
    failures = result["ragas_failures"]
    assert (failures["count"], failures["nan"], failures["exception"]) == (2, 1, 1)
    assert failures["errors"] == {"RagasOutputParserException": 1, "NaN": 1}
    binary, graded = result["agreement"]["faithfulness"], result["agreement"]["faithfulness_graded"]
    assert binary == {"n": 4, "pearson": 1.0, "spearman": 1.0, "mean_abs_diff": 0.0}
    assert graded["n"] == 4 and graded["mean_abs_diff"] == pytest.approx((0.15 + 0.4 + 0.3) / 4)
    assert result["ordering"]["ragas"] == {
        "correct": 1, "tie": 0, "reversed": 0, "failed": 2, "correct_share": 0.3333,
        "tie_share": 0.0,
    }  # fmt: skip
    assert result["ordering"]["faithfulness"]["correct"] == 3
    assert llm.ragas_calls > 0 and llm.calls

    again, llm = run()  # every reply, ragas's included, comes from the judge cache
    assert llm.calls == [] and llm.ragas_calls == 0
    assert again["rows"] == result["rows"]


def test_correlations_on_known_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monotone = correlations([1, 2, 3, 4], [1, 4, 9, 16])
    assert monotone == {"pearson": pytest.approx(0.9844, abs=1e-4), "spearman": 1.0}
    tied = correlations([0, 0, 1, 1], [1, 2, 3, 4])  # ties share their average rank
    assert tied == {"pearson": pytest.approx(0.8944, abs=1e-4), "spearman": 0.8944}
    assert correlations([1, 1, 1], [0.2, 0.5, 0.9]) == {"pearson": None, "spearman": None}
    assert correlations([1.0], [0.5]) == {"pearson": None, "spearman": None}
    monkeypatch.setitem(sys.modules, "scipy", None)  # the numpy fallback gives the same
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    assert correlations([1, 2, 3, 4], [1, 4, 9, 16]) == monotone
    assert correlations([0, 0, 1, 1], [1, 2, 3, 4]) == tied
    assert correlations([3, 1, 2, 2], [0.1, 0.9, 0.5, 0.4])["spearman"] == pytest.approx(
        -0.9487, abs=1e-4
    )


def test_summary_leaves_failed_samples_out_of_the_correlations() -> None:
    def row(pair: str, kind: str, ragas: float | None, ours: float | None) -> dict:
        error = None if ragas is not None else "TimeoutError: the judge took too long"
        scores = {"ragas": ragas, "faithfulness": ours, "faithfulness_graded": ours}
        return {"id": pair, "kind": kind, "ragas_error": error, **scores}

    rows = [
        row("1", "right", 1.0, 1.0), row("1", "hallucinated", 0.0, 0.5),
        row("2", "right", None, 1.0), row("2", "hallucinated", 0.5, None),
        row("3", "right", 0.5, 0.5), row("3", "hallucinated", 0.5, 0.0),
    ]  # fmt: skip
    summary = summarise(rows)
    assert summary["ragas_failures"] == {
        "count": 1, "nan": 0, "exception": 1, "errors": {"TimeoutError": 1}
    }  # fmt: skip
    assert summary["our_failures"] == {"faithfulness": 1, "faithfulness_graded": 1}
    assert summary["agreement"]["faithfulness"]["n"] == 4
    assert summary["agreement"]["faithfulness"]["mean_abs_diff"] == pytest.approx(0.25)
    assert summary["ordering"]["ragas"]["tie"] == 1
    assert summary["ordering"]["faithfulness"]["reversed"] == 0


def test_cli_refuses_cleanly_without_ragas(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [m for m in sys.modules if m == "ragas" or m.startswith("ragas.")] + ["ragas"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import ragas` fails
    result = CliRunner().invoke(
        build_app(), ["eval", "agreement", "--pairs", str(tmp_path / "p.jsonl")]
    )
    assert result.exit_code == 1
    assert "the agreement check needs the ragas extra: pip install -e '.[ragas]'" in result.output
    assert "Traceback" not in result.output


def test_cli_writes_the_json_and_prints_a_table(
    ragas: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pair = {"id": "h1", "knowledge": "K", "question": "q"}
    pair |= {"right_answer": "A is true.", "hallucinated_answer": "C is false."}
    pairs.write_text(json.dumps(pair) + "\n")
    llm = RagasJudgeLLM(p_yes={"A is true.": 0.9, "C is false.": 0.2})
    monkeypatch.setattr("eval.cli.create_llm", lambda settings: llm)
    out = tmp_path / "agreement.json"
    args = ["--pairs", str(pairs), "--out", str(out), "--cache", str(tmp_path / "c.sqlite3")]
    result = CliRunner().invoke(build_app(), ["eval", "agreement", *args])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["samples"] == 2 and written["ragas_failures"]["count"] == 0
    assert written["ordering"]["ragas"]["correct"] == 1
    assert "faithfulness_graded" in result.output and "ragas failed on 0" in result.output
