"""An evaluation run end to end on a small real store, with scripted generator and judge:
records, resume, report files, the baseline gate and the bad-input paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval.calibration import calibrate, load_pairs, ordering
from eval.datasets import DatasetError, Question, load_questions
from eval.judge import Judge
from eval.report import markdown
from eval.runner import Evaluator, Progress, ResumeError, exclusion_filters, run, select
from eval.summary import baseline_section, compare, summarise, worst
from ingest.demo import write_demo_corpus
from ingest.pipeline import IngestService
from rag.answer.prompts import NOT_FOUND
from rag.answer.service import AnswerService
from rag.cli import build_app
from rag.retrieval.service import SearchService
from rag.settings import Settings
from tests.fakes import HashingEmbedder, JudgeLLM, ScriptedLLM

QUESTIONS = [
    Question(
        "q1", "Combien de jours de congé pour un mariage ?", ("4 jours",), ("conges",), True, "fr"
    ),
    Question("q2", "Quel est le prix d'une licorne ?", (), (), False, "fr"),
    Question(
        "q3", "Combien de jours de congé pour un PACS ?", ("4 jours",), ("conges",), True, "fr"
    ),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("evalstore")
    settings = Settings(data_dir=root / "data")
    ingest = IngestService(settings, embedder=HashingEmbedder(1024))
    for group, paths in write_demo_corpus(root / "docs").items():
        ingest.run(paths[0].parent, [group])
    return settings


def evaluator(settings: Settings, *replies: str) -> Evaluator:
    search = SearchService(settings, embedder=HashingEmbedder(1024))
    service = AnswerService(settings, search=search, llm=ScriptedLLM(*replies))
    return Evaluator(service, Judge(JudgeLLM(p_yes={}, questions={})))


def test_a_run_records_every_metric_and_verdict(store: Settings, tmp_path: Path) -> None:
    ev = evaluator(store, "Un mariage donne 4 jours de congé [1].", NOT_FOUND["fr"], "4 jours [1].")
    records = run(ev, QUESTIONS, Progress(tmp_path / "progress.jsonl"), {"c": 1})
    assert [r["id"] for r in records] == ["q1", "q2", "q3"]
    first = records[0]
    assert first["answer"]["mode"] == "generative" and first["retrieved"]
    assert {
        "hit@10",
        "faithfulness",
        "answer_relevancy",
        "context_precision",
        "context_recall",
        "citation_recall",
        "citation_precision",
        "token_f1",
        "semantic_similarity",
    } <= set(first["metrics"])
    assert first["verdicts"] and all("raw" in v for v in first["verdicts"])
    assert first["metrics"]["token_f1"] > 0
    answered = [r for r in records if r["answer"]["mode"] != "not_found"]
    assert records[1]["answer"]["mode"] == "not_found" and len(answered) == 2
    assert "faithfulness" not in records[1]["metrics"]  # nothing to judge in a non-answer
    summary = summarise(records)
    assert summary["faithfulness"]["n"] == 2 and summary["faithfulness"]["failures"] == 0
    # The scripted judge says "no" to everything: faithfulness 0, and the report says why.
    assert summary["faithfulness"]["mean"] == 0.0
    report = {
        "config": {"dataset_name": "demo", "dataset": "x", "questions": 3, "generator": "g"},
        "judge": {"name": "j", "calls": 1, "failures": 0, "cached": 0},
        "summary": summary,
        "comparison": None,
        "questions": records,
    }
    text = markdown(report)
    assert "| faithfulness | 0.000 | 2 | 0 |" in text and "unsupported:" in text


def test_an_interrupted_run_resumes(store: Settings, tmp_path: Path) -> None:
    progress = Progress(tmp_path / "progress.jsonl")
    ev = evaluator(store, "4 jours [1].")

    def stop_after_first(record: dict, done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(ev, QUESTIONS, progress, {"c": 1}, on_record=stop_after_first)
    resumed = evaluator(store, NOT_FOUND["fr"], "4 jours [1].")
    records = run(resumed, QUESTIONS, progress, {"c": 1}, resume=True)
    assert [r["id"] for r in records] == ["q1", "q2", "q3"]
    assert len(resumed.service.llm.calls) == 2  # q1 was not asked again
    with pytest.raises(ResumeError, match="without --resume"):
        run(resumed, QUESTIONS, progress, {"c": 2}, resume=True)


def test_abstention_and_failures_in_the_summary() -> None:
    def record(answerable: bool, answered: float, **metrics: float | None) -> dict:
        return {"answerable": answerable, "metrics": {"answered": answered, **metrics}}

    records = [
        record(True, 1.0, faithfulness=1.0),
        record(True, 0.0),
        record(False, 1.0, faithfulness=None),
        record(False, 0.0),
    ]
    s = summarise(records)
    assert s["abstention_accuracy"]["mean"] == 0.5
    assert s["answered_unanswerable_rate"]["mean"] == 0.5
    assert s["answered_answerable_rate"]["mean"] == 0.5
    assert s["faithfulness"] == {"mean": 1.0, "n": 1, "failures": 1}
    assert worst([{**r, "details": {}} for r in records])[0]["answerable"] is False


def test_compare_flags_regressions_past_tolerance() -> None:
    summary = {"faithfulness": {"mean": 0.70}, "answered_unanswerable_rate": {"mean": 0.40}}
    baseline = {
        "metrics": {"faithfulness": 0.75, "answered_unanswerable_rate": 0.30, "token_f1": 0.5},
        "tolerances": {"faithfulness": 0.06, "answered_unanswerable_rate": 0.05},
    }
    rows = {r.metric: r for r in compare(summary, baseline)}
    assert not rows["faithfulness"].regressed  # 0.05 down, tolerance 0.06
    assert rows["answered_unanswerable_rate"].regressed  # lower is better: 0.10 up
    assert rows["token_f1"].regressed  # the baseline has it, this run does not
    with pytest.raises(KeyError, match="no section"):
        baseline_section({"datasets": {"spf": {}}}, "clapnq")


def test_eval_compare_command_exit_codes(tmp_path: Path) -> None:
    report = tmp_path / "latest.json"
    report.write_text(
        json.dumps({"config": {"dataset_name": "spf"}, "summary": {"faithfulness": {"mean": 0.8}}})
    )
    baseline = tmp_path / "ci.json"
    runner = CliRunner()
    baseline.write_text(
        json.dumps(
            {
                "datasets": {
                    "spf": {"metrics": {"faithfulness": 0.9}, "tolerances": {"faithfulness": 0.05}}
                }
            }
        )
    )
    result = runner.invoke(build_app(), ["eval", "compare", str(report), str(baseline)])
    assert result.exit_code == 1 and "REGRESSION" in result.output
    baseline.write_text(
        json.dumps(
            {
                "datasets": {
                    "spf": {"metrics": {"faithfulness": 0.82}, "tolerances": {"faithfulness": 0.05}}
                }
            }
        )
    )
    result = runner.invoke(build_app(), ["eval", "compare", str(report), str(baseline)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        build_app(), ["eval", "compare", str(tmp_path / "nope.json"), str(baseline)]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_a_malformed_dataset_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text('{"id": "a", "question": "ok"}\n{"id": "b"}\n')
    with pytest.raises(DatasetError, match=r"questions.jsonl:2: missing .*question"):
        load_questions(path)
    path.write_text('{"id": "a", "question": "ok"}\n\n{not json\n')
    with pytest.raises(DatasetError, match=r":3: not valid JSON"):
        load_questions(path)
    result = CliRunner().invoke(build_app(), ["eval", "run", "--dataset", str(path)])
    assert result.exit_code == 1 and ":3: not valid JSON" in result.output
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"id": "x", "knowledge": "k", "question": "q"}\n')
    with pytest.raises(DatasetError, match=r":1: .*right_answer"):
        load_pairs(pairs)


def test_select_keeps_both_classes() -> None:
    qs = [Question(f"a{i}", "q", (), (), True, "en") for i in range(5)] + [
        Question(f"u{i}", "q", (), (), False, "en") for i in range(5)
    ]
    assert [q.id for q in select(qs, 4)] == ["a0", "u0", "a1", "u1"]
    assert len(select(qs, None)) == 10


def test_halueval_calibration_counts_orderings() -> None:
    from eval.calibration import Pair

    pairs = [
        Pair("1", "K", "q", "Right one.", "Wrong one."),
        Pair("2", "K", "q", "Same.", "Same too."),
    ]
    judge = Judge(
        JudgeLLM(p_yes={"Right one.": 0.9, "Wrong one.": 0.2, "Same.": 0.7, "Same too.": 0.6})
    )
    result = calibrate(judge, pairs)
    assert result["summary"]["binary"]["correct"] == 1 and result["summary"]["binary"]["tie"] == 1
    assert result["summary"]["graded"]["correct_share"] == 1.0
    assert ordering(None, 0.3) == "failed" and ordering(0.2, 0.3) == "reversed"


def test_baseline_tolerances_come_from_the_spread_between_runs(tmp_path: Path) -> None:
    def report(faithfulness: float) -> dict:
        return {
            "config": {"dataset_name": "spf", "questions": 20, "generator": "g", "judge": "j"},
            "summary": {"faithfulness": {"mean": faithfulness, "n": 20, "failures": 0}},
        }

    paths = []
    for i, value in enumerate((0.80, 0.70)):
        paths.append(tmp_path / f"r{i}.json")
        paths[-1].write_text(json.dumps(report(value)))
    out = tmp_path / "ci.json"
    result = CliRunner().invoke(
        build_app(), ["eval", "baseline", *map(str, paths), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    section = json.loads(out.read_text())["datasets"]["spf"]
    assert section["metrics"]["faithfulness"] == 0.75
    assert section["tolerances"]["faithfulness"] == pytest.approx(0.2, abs=1e-3)  # 2 x spread
    paths[1].write_text(json.dumps(report(0.80)))
    CliRunner().invoke(build_app(), ["eval", "baseline", *map(str, paths), "--out", str(out)])
    section = json.loads(out.read_text())["datasets"]["spf"]
    assert section["tolerances"]["faithfulness"] == pytest.approx(0.05, abs=1e-3)  # 1 / n


def test_the_committed_ci_baseline_covers_both_sets() -> None:
    baseline = json.loads((Path(__file__).parents[1] / "eval/baselines/ci.json").read_text())
    for name in ("spf", "clapnq"):
        section = baseline["datasets"][name]
        assert {"faithfulness", "abstention_accuracy", "hit@10"} <= set(section["metrics"])
        assert set(section["tolerances"]) == set(section["metrics"])


def test_eval_run_on_an_empty_store_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "questions.jsonl").write_text('{"id": "a", "question": "Combien ?"}\n')
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "store"))
    result = CliRunner().invoke(build_app(), ["eval", "run", "--dataset", str(tmp_path / "set")])
    assert result.exit_code == 1
    assert "is empty: ingest the data set's corpus first" in result.output


def test_eval_run_refuses_a_store_holding_the_corpus_twice(tmp_path: Path, monkeypatch) -> None:
    # The same corpus ingested from two folders (a CI checkout elsewhere, a moved mount)
    # doubles every passage: the run stops and says which store and which copies.
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "doc1.txt").write_text("Le congé mariage dure quatre jours.\n")
    settings = Settings(data_dir=tmp_path / "store")
    ingest = IngestService(settings, embedder=HashingEmbedder(1024))
    ingest.run(tmp_path / "a")
    ingest.run(tmp_path / "b")
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "questions.jsonl").write_text(
        '{"id": "a", "question": "Combien ?", "doc_ids": ["doc1"]}\n'
    )
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "store"))
    result = CliRunner().invoke(build_app(), ["eval", "run", "--dataset", str(tmp_path / "set")])
    assert result.exit_code == 1
    assert "holds 1 documents more than once, from different folders" in result.output
    assert str(tmp_path / "a" / "doc1.txt") in result.output.replace("\n", "")


def test_an_extractive_answer_is_scored_on_its_quotes(store: Settings, tmp_path: Path) -> None:
    from rag.llm import LLMUnavailable

    question = QUESTIONS[0]
    search = SearchService(store, embedder=HashingEmbedder(1024))
    down = ScriptedLLM(*[LLMUnavailable("the model server went away")] * 2)
    quotes = [
        c.quote
        for c in AnswerService(store, search=search, llm=down).ask(question.question).citations
    ]
    judge = Judge(JudgeLLM(p_yes={q: 1.0 for q in quotes}, questions={}))
    again = ScriptedLLM(*[LLMUnavailable("the model server went away")] * 2)
    ev = Evaluator(AnswerService(store, search=search, llm=again), judge)
    [record] = run(ev, [question], Progress(tmp_path / "progress.jsonl"), {"c": 1})
    assert record["answer"]["mode"] == "extractive" and quotes
    assert record["metrics"]["citation_recall"] == 1.0, "the label line is not a claim"
    sentences = record["details"]["citation_recall"]["sentences"]
    assert [s["sentence"] for s in sentences] == quotes
    # Faithfulness too: the quotes are the statements, none split from the label line.
    assert record["metrics"]["faithfulness"] == 1.0
    statements = record["details"]["faithfulness"]["statements"]
    assert [s["statement"] for s in statements] == [q.strip() for q in quotes]


def test_a_question_is_asked_with_its_documents_and_their_copies_hidden(tmp_path: Path) -> None:
    """exclude_doc_ids hides the named fiches, their parts (stem + '_'), and any stored
    document with the same content under another name; everything else stays."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    marriage = "Congé pour mariage : le salarié a droit à 4 jours de congé.\n"
    (corpus / "F1.txt").write_text(marriage)
    (corpus / "F1_2.txt").write_text("Congé pour mariage, suite : les jours sont payés.\n")
    (corpus / "F9.txt").write_text(marriage)  # the same page under another name
    (corpus / "F10.txt").write_text("Congé de naissance : 3 jours pour le père.\n")
    settings = Settings(data_dir=tmp_path / "store")
    IngestService(settings, embedder=HashingEmbedder(1024)).run(corpus)
    search = SearchService(settings, embedder=HashingEmbedder(1024))
    path = tmp_path / "questions.jsonl"
    path.write_text(
        json.dumps(
            {
                "id": "excl-1",
                "question": "Combien de jours de congé pour un mariage ?",
                "answerable": False,
                "exclude_doc_ids": ["F1"],
            }
        )
        + "\n"
    )
    [question] = load_questions(path)
    assert question.exclude_doc_ids == ("F1",) and not question.answerable
    filters = exclusion_filters(search.store, question.exclude_doc_ids)
    assert filters is not None
    hidden = {Path(search.store.get_document(i).path).stem for i in filters.exclude_document_ids}
    assert hidden == {"F1", "F1_2", "F9"}
    assert exclusion_filters(search.store, ()) is None
    with pytest.raises(DatasetError, match="not in the store: F404"):
        exclusion_filters(search.store, ("F1", "F404"))

    llm = ScriptedLLM(NOT_FOUND["fr"])
    ev = Evaluator(AnswerService(settings, search=search, llm=llm), Judge(JudgeLLM()))
    [record] = run(ev, [question], Progress(tmp_path / "progress.jsonl"), {"c": 1})
    assert record["exclude_doc_ids"] == ["F1"]
    assert [Path(h["path"]).stem for h in record["retrieved"]] == ["F10"]
    assert "4 jours" not in json.dumps(llm.calls, ensure_ascii=False)
    assert record["answer"]["mode"] == "not_found"


def test_exclude_doc_ids_must_be_a_list(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text('{"id": "a", "question": "ok", "exclude_doc_ids": "F1"}\n')
    with pytest.raises(DatasetError, match="question a: exclude_doc_ids must be a list"):
        load_questions(path)
