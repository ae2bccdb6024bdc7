"""The question log and ratings (rag.store.questions), the gap report and the export
as an eval set (rag.feedback), and `rag feedback` (rag.cli.feedback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from eval.datasets import load_questions
from ingest.demo import write_demo_corpus
from ingest.pipeline import IngestService
from rag.answer.prompts import NOT_FOUND
from rag.answer.service import AnswerService
from rag.cli import build_app
from rag.feedback import cluster, eval_case, gap_report
from rag.retrieval.service import SearchService
from rag.settings import Settings, get_settings
from rag.store import questions as question_log
from rag.store.questions import GapCandidate, LoggedAnswer, QuestionLog, logged_citations, stamp
from tests.fakes import GlossaryEmbedder, HashingEmbedder, ScriptedLLM

MARRIAGE = "Combien de jours de congé pour un mariage ?"
MARRIAGE_ANSWER = "Le mariage du salarié donne droit à 5 jours de congé payé [1]."
DAY1 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def logged(
    answer_id: str,
    asked_at: datetime,
    mode: str = "generative",
    first_token_s: float | None = 1.0,
    key_id: int = 1,
    groups: tuple[str, ...] = ("public",),
    question: str = "Une question ?",
    citations: list[dict[str, Any]] | None = None,
) -> LoggedAnswer:
    return LoggedAnswer(
        id=answer_id,
        asked_at=stamp(asked_at),
        question=question,
        answer="Une réponse [1]." if mode != "not_found" else NOT_FOUND["fr"],
        citations=citations or [],
        mode=mode,
        model="scripted",
        settings_fingerprint="f" * 16,
        first_token_s=first_token_s if mode != "not_found" else None,
        total_s=2.0,
        key_id=key_id,
        groups=groups,
    )


# -- the log --------------------------------------------------------------------------------


def test_stats_are_computed_from_the_log_and_the_ratings(tmp_path: Path) -> None:
    clock = Clock(DAY1)
    log = QuestionLog(tmp_path / "q.sqlite3", clock=clock)
    day2 = DAY1 + timedelta(days=1)
    log.record(logged("a" * 32, DAY1, "not_found", key_id=1, groups=("hr",)))
    log.record(logged("b" * 32, DAY1, first_token_s=1.0, key_id=2, groups=("public",)))
    log.record(logged("c" * 32, day2, first_token_s=3.0, key_id=2, groups=("public", "hr")))
    log.record(logged("d" * 32, day2, first_token_s=2.0, key_id=3, groups=()))
    assert log.rate("b" * 32, 2, False, "down") is not None
    assert log.rate("c" * 32, 2, False, "up") is not None
    assert log.rate("d" * 32, 9, True, "down") is not None  # an admin's
    stats = log.stats()
    assert stats["overall"] == {
        "questions": 4,
        "per_day": [{"day": "2026-03-02", "questions": 2}, {"day": "2026-03-03", "questions": 2}],
        "not_found": 1,
        "not_found_rate": 0.25,
        "rated": 3,
        "up": 1,
        "down": 2,
        "down_vote_rate": 0.6667,
        "median_first_token_s": 2.0,
    }
    groups = {g["group"]: g for g in stats["by_group"]}
    assert list(groups) == ["(no group)", "hr", "public"]
    hr, public, none = groups["hr"], groups["public"], groups["(no group)"]
    assert (hr["questions"], hr["not_found_rate"], hr["rated"], hr["down_vote_rate"]) == (
        2,
        0.5,
        1,
        0.0,
    )
    assert hr["median_first_token_s"] == 3.0
    assert (public["questions"], public["not_found_rate"], public["down_vote_rate"]) == (2, 0, 0.5)
    assert public["median_first_token_s"] == 2.0
    assert (none["questions"], none["down_vote_rate"]) == (1, 1.0)
    since = log.stats(stamp(day2))["overall"]
    assert since["questions"] == 2 and since["rated"] == 2 and since["not_found_rate"] == 0.0
    empty = QuestionLog(tmp_path / "empty.sqlite3").stats()["overall"]
    assert empty["not_found_rate"] is None and empty["median_first_token_s"] is None


def test_only_the_asking_key_or_an_admin_rates_and_rating_again_replaces(tmp_path: Path) -> None:
    log = QuestionLog(tmp_path / "q.sqlite3")
    log.record(logged("a" * 32, datetime.now(UTC), key_id=1))
    assert log.rate("a" * 32, 2, False, "up") is None
    assert log.rate("b" * 32, 1, False, "up") is None
    assert log.rate("a" * 32, 1, False, "down", "faux", "4 jours").comment == "faux"  # type: ignore[union-attr]
    assert log.rate("a" * 32, 1, False, "up") is not None
    [only] = log.feedback()
    assert (only.rating, only.comment, only.correct_answer) == ("up", None, None)
    with pytest.raises(ValueError, match="rating must be one of up, down"):
        log.rate("a" * 32, 1, False, "meh")  # type: ignore[arg-type]


def test_retention_deletes_old_questions_and_ratings(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    path = tmp_path / "q.sqlite3"
    old = QuestionLog(path, clock=Clock(now - timedelta(days=100)))
    old.record(logged("a" * 32, now - timedelta(days=100)))
    old.rate("a" * 32, 1, False, "down")
    old.record(logged("b" * 32, now - timedelta(days=89)))
    old.record(logged("c" * 32, now))
    log = QuestionLog(path, retention_days=90)  # purges when it opens
    assert [a.id for a in log.answers()] == ["c" * 32, "b" * 32]
    assert log.feedback() == []
    assert log.get("a" * 32) is None
    short = QuestionLog(path, retention_days=30)
    assert [a.id for a in short.answers()] == ["c" * 32]
    # While answers are logged, the purge runs again once an hour has passed.
    short.record(logged("d" * 32, now - timedelta(days=31)))
    assert short.get("d" * 32) is not None
    short._purged_at -= question_log.PURGE_EVERY_S
    short.record(logged("e" * 32, now))
    assert short.get("d" * 32) is None and short.get("e" * 32) is not None


def test_with_the_log_off_answers_are_kept_in_memory_for_an_hour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "q.sqlite3"
    log = QuestionLog(path, enabled=False)
    log.record(logged("a" * 32, datetime.now(UTC), key_id=1))
    assert log.get("a" * 32) is not None
    assert QuestionLog(path).answers() == []  # nothing on disk
    assert log.rate("a" * 32, 1, False, "down", "faux") is not None
    assert [f.comment for f in QuestionLog(path).feedback()] == ["faux"]  # the rating is kept
    clock = question_log.time.monotonic() + question_log.PENDING_TTL_S + 1
    monkeypatch.setattr(question_log.time, "monotonic", lambda: clock)
    assert log.get("a" * 32) is None
    assert log.rate("a" * 32, 1, False, "up") is None


# -- the gap report -------------------------------------------------------------------------


def test_cluster_joins_rows_above_the_threshold_and_keeps_strays_apart() -> None:
    vectors = np.array([[1, 0, 0], [0.95, 0.31, 0], [0, 0, 1], [0.9, 0.43, 0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert cluster(vectors, 0.8) == [[0, 1, 3], [2]]
    assert cluster(vectors, 0.999) == [[0], [1], [2], [3]]
    assert cluster(vectors[:0], 0.5) == []


def test_the_gap_report_groups_a_topic_across_languages() -> None:
    def candidate(n: int, question: str, reason: str = "not_found") -> GapCandidate:
        return GapCandidate(f"{n:032x}", question, reason, f"2026-03-0{n}T00:00:00+00:00")  # type: ignore[arg-type]

    candidates = [
        candidate(1, "Combien de jours de télétravail par semaine ?"),
        candidate(2, "Quel est le budget pour une nuit d'hôtel à Paris ?"),
        candidate(3, "How many remote days per week?"),
        candidate(4, "Télétravail : combien de jours la semaine ?", "down"),
    ]
    report = gap_report(candidates, GlossaryEmbedder(), threshold=0.5)
    assert report["questions"] == 4
    telework, hotel = report["topics"]
    assert telework["count"] == 3 and telework["not_found"] == 2 and telework["down"] == 1
    assert set(telework["examples"]) == {candidates[i].question for i in (0, 2, 3)}
    assert hotel["count"] == 1 and hotel["examples"] == [candidates[1].question]
    assert gap_report([], GlossaryEmbedder(), 0.5) == {"questions": 0, "topics": []}


# -- export as an eval set, and `rag feedback` ----------------------------------------------


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("feedback-store")
    settings = Settings(data_dir=root / "data")
    ingest = IngestService(settings, embedder=HashingEmbedder(1024))
    for group, paths in write_demo_corpus(root / "docs").items():
        ingest.run(paths[0].parent, [group])
    return settings


def service(settings: Settings, *replies: str) -> AnswerService:
    search = SearchService(settings, embedder=HashingEmbedder(1024))
    return AnswerService(settings, search=search, llm=ScriptedLLM(*replies))


def rated_log(settings: Settings) -> QuestionLog:
    """Three ratings: an answer rated up, one rated down with a correction, a
    not_found rated down without one."""
    log = QuestionLog(settings.questions_path)
    answers = service(settings, MARRIAGE_ANSWER, MARRIAGE_ANSWER, NOT_FOUND["fr"])
    asked = [
        (MARRIAGE, "up", None),
        ("Combien de jours pour un PACS ?", "down", "4 jours ouvrables."),
        ("Quel est le tarif du parking ?", "down", None),
    ]
    for question, rating, correction in asked:
        answer = answers.ask(question)
        log.record(
            LoggedAnswer(
                answer.id,
                log.now(),
                question,
                answer.text,
                logged_citations(answer.to_dict()["citations"]),
                answer.mode,
                "scripted",
                "f" * 16,
                None,
                None,
                1,
                ("public",),
            )
        )
        log.rate(answer.id, 1, False, rating, "commentaire", correction)  # type: ignore[arg-type]
    return log


def test_export_as_an_eval_set_is_what_eval_run_reads(
    demo_store: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = demo_store.model_copy(update={"data_dir": tmp_path / "data"})
    import shutil

    shutil.copytree(demo_store.data_dir, settings.data_dir)
    log = rated_log(settings)
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    result = runner.invoke(build_app(), ["feedback", "export", "--format", "eval"])
    assert result.exit_code == 0, result.output
    assert "3 rating(s) exported" in result.stderr
    dataset = tmp_path / "feedback" / "questions.jsonl"
    dataset.parent.mkdir()
    dataset.write_text(result.stdout, encoding="utf-8")
    questions = {q.question: q for q in load_questions(dataset)}
    assert len(questions) == 3
    up = questions[MARRIAGE]
    assert up.answerable and up.doc_ids and up.lang == "fr"
    assert up.reference_answers == (log.feedback(rating="up")[0].answer,)
    corrected = questions["Combien de jours pour un PACS ?"]
    assert corrected.reference_answers == ("4 jours ouvrables.",) and corrected.doc_ids == ()
    missing = questions["Quel est le tarif du parking ?"]
    assert missing.answerable and missing.reference_answers == ()

    # `rag eval run` on it, with the scripted model in place of the real one.
    import eval.cli

    monkeypatch.setattr(
        eval.cli, "AnswerService", lambda s: service(s, MARRIAGE_ANSWER, "4 jours [1].", "x [1].")
    )
    out = tmp_path / "report"
    result = runner.invoke(
        build_app(), ["eval", "run", "--dataset", str(dataset), "--metrics", "", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert {r["question"] for r in report["questions"]} == set(questions)
    assert report["summary"]["hit@10"]["mean"] == 1.0  # the up-rated answer's documents
    assert "token_f1" in report["summary"]

    result = runner.invoke(build_app(), ["feedback", "export"])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["rating"] for r in rows] == ["up", "down", "down"] and rows[0]["groups"] == ["public"]
    result = runner.invoke(build_app(), ["feedback", "export", "--format", "csv"])
    assert result.exit_code == 1 and "--format must be one of jsonl, eval" in result.output


def test_an_eval_case_from_each_kind_of_rating() -> None:
    from rag.store.questions import Feedback

    def rated(rating: str, mode: str, correction: str | None = None) -> Feedback:
        return Feedback(
            "a" * 32,
            1,
            rating,
            None,
            correction,
            "t",
            "t",
            1,
            (),
            "How many days?",
            "Ten.",
            [],
            mode,
            "m",
            "f",
        )  # type: ignore[arg-type]

    found_up = eval_case(rated("up", "generative"), ["F1"])
    assert (found_up["answerable"], found_up["reference_answers"], found_up["doc_ids"]) == (
        True,
        ["Ten."],
        ["F1"],
    )
    assert found_up["lang"] == "en"
    not_found_up = eval_case(rated("up", "not_found"))
    assert not not_found_up["answerable"] and not_found_up["reference_answers"] == []
    corrected = eval_case(rated("down", "generative", "Five."), ["F1"])
    assert corrected["reference_answers"] == ["Five."] and corrected["doc_ids"] == []
    bare = eval_case(rated("down", "not_found"))
    assert bare["answerable"] and bare["reference_answers"] == []


def test_feedback_list_and_gaps_commands(
    demo_store: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    log = QuestionLog(settings.questions_path)
    now = datetime.now(UTC)
    for n, question in enumerate(
        (
            "Combien de jours de télétravail par semaine ?",
            "How many remote days per week?",
            "Quel est le budget pour une nuit d'hôtel ?",
        )
    ):
        log.record(logged(f"{n:032x}", now, "not_found", question=question))
    log.record(logged("f" * 32, now, question="Un [bold]piège[/bold] ?"))
    log.rate("f" * 32, 1, False, "down", "[red]faux[/red]")
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr("rag.cli.feedback.create_embedder", lambda _: GlossaryEmbedder())
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(build_app(), ["feedback", "list"])
    assert result.exit_code == 0, result.output
    assert "[red]faux[/red]" in result.stdout and "down" in result.stdout  # text, not markup
    result = runner.invoke(build_app(), ["feedback", "list", "--rating", "meh"])
    assert result.exit_code == 1 and "--rating must be one of up, down" in result.output
    result = runner.invoke(build_app(), ["feedback", "gaps", "--json"])
    assert result.exit_code == 0, result.output
    topics = json.loads(result.stdout)["topics"]
    assert [t["count"] for t in topics] == [2, 1, 1]
    result = runner.invoke(build_app(), ["feedback", "gaps"])
    assert "2 question(s)" in result.stdout and "télétravail" in result.stdout
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    result = runner.invoke(build_app(), ["feedback", "list", "--since", "hier"])
    assert result.exit_code == 1 and "--since must be an ISO 8601" in result.output
    result = runner.invoke(build_app(), ["feedback", "export", "--format", "eval"])
    assert result.exit_code == 0 and result.stdout == "" and "no question log" in result.stderr
