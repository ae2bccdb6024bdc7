"""`rag eval run | compare | baseline | calibrate | agreement`."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from eval import report as report_files
from eval.datasets import DatasetError, load_questions
from eval.judge import Judge, JudgeCache
from eval.runner import ALL_JUDGED, Evaluator, ResumeError, run, select
from eval.runner import Progress as ProgressFile
from eval.summary import baseline_section, compare, make_baseline, summarise
from rag.answer.service import AnswerService
from rag.errors import RagError
from rag.llm import LLM, create_llm
from rag.settings import Settings, get_settings

# Options several commands share, declared once.
JudgeBackend = Annotated[
    str, typer.Option(help="Judge backend: same (as the generator), llamacpp or ollama.")
]
JudgeCacheFile = Annotated[
    Path | None, typer.Option(help="Judge cache file (default: next to the model cache).")
]
PairsFile = Annotated[Path, typer.Option(help="HaluEval pairs.jsonl.")]
PairLimit = Annotated[int | None, typer.Option(help="Only the first N pairs.")]
JsonOut = Annotated[Path, typer.Option("--out", help="Where to write the JSON result.")]

eval_app = typer.Typer(help="Score answers and retrieval on a question set.", no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

JUDGES = ("same", "llamacpp", "ollama")
RUNNING = ("faithfulness", "answer_relevancy", "citation_recall", "token_f1")


def _settings(data_dir: Path | None) -> Settings:
    try:
        settings = get_settings()
    except Exception as exc:  # pydantic names the bad variable
        console.print(f"[red]error:[/red] invalid settings: {exc}")
        raise typer.Exit(1) from exc
    return settings.model_copy(update={"data_dir": data_dir}) if data_dir else settings


def _judge_llm(settings: Settings, judge: str, generator: Callable[[], LLM]) -> LLM:
    if judge not in JUDGES:
        raise RagError(f"unknown judge {judge!r}: use one of {', '.join(JUDGES)}")
    if judge in ("same", settings.llm.backend):
        return generator()  # one model in memory for both roles
    llm_settings = settings.llm.model_copy(update={"backend": judge})
    return create_llm(settings.model_copy(update={"llm": llm_settings}))


def _judge_cache_path(settings: Settings, cache: Path | None) -> Path:
    return cache or settings.model_cache_dir.parent / "judge-cache.sqlite3"


def _fail(message: str) -> typer.Exit:
    # escaped: a message such as "pip install -e '.[ragas]'" is text, not rich markup
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


def _check_store(service: AnswerService, dataset: Path, doc_ids: set[str]) -> None:
    documents = service.search.store.list_documents()
    if not documents:
        raise _fail(
            f"the store in {service.settings.data_dir} is empty: ingest the data set's corpus "
            f"first, e.g. `rag ingest {dataset / 'corpus'}` with the same RAG_DATA_DIR"
        )
    paths_by_stem: dict[str, list[str]] = defaultdict(list)
    for d in documents:
        paths_by_stem[Path(d.path).stem].append(d.path)
    copies = [paths for paths in paths_by_stem.values() if len(paths) > 1]
    if copies:
        # A corpus ingested again from another folder: every passage would come twice,
        # crowding the LLM's sources and skewing every metric.
        raise _fail(
            f"the store in {service.settings.data_dir} holds {len(copies)} documents more "
            f"than once, from different folders (e.g. {copies[0][0]} and {copies[0][1]}): "
            "use a store for each copy of the corpus (RAG_DATA_DIR or --data-dir)"
        )
    stems = set(paths_by_stem)
    if doc_ids and not any(s == d or s.startswith(d + "_") for s in stems for d in doc_ids):
        raise _fail(
            f"the store in {service.settings.data_dir} holds none of this data set's documents: "
            f"ingest {dataset / 'corpus'} into it, or point --data-dir at the right store"
        )


@eval_app.command("run")
def run_command(
    dataset: Annotated[
        Path, typer.Option(help="A data set folder (with questions.jsonl) or file.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the report.")] = Path(
        "reports"
    ),
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    judge: JudgeBackend = "same",
    data_dir: Annotated[
        Path | None, typer.Option(help="The store holding the data set's corpus.")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="Compare with this baseline in the report.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Go on from an interrupted run in --out.")
    ] = False,
    metrics: Annotated[
        str, typer.Option(help=f"Judged metrics, comma-separated: {','.join(ALL_JUDGED)}.")
    ] = ",".join(ALL_JUDGED),
    cache: JudgeCacheFile = None,
) -> None:
    """Answer every question, score it, and write report.json, report.md and report.html."""
    settings = _settings(data_dir)
    try:
        questions = select(load_questions(dataset), limit)
    except (DatasetError, OSError) as exc:
        raise _fail(str(exc)) from exc
    chosen = frozenset(m.strip() for m in metrics.split(",") if m.strip())
    if unknown := chosen - set(ALL_JUDGED):
        raise _fail(f"unknown metric(s) {', '.join(sorted(unknown))}: use {', '.join(ALL_JUDGED)}")
    service = AnswerService(settings)
    _check_store(service, dataset, {d for q in questions for d in (*q.doc_ids, *q.exclude_doc_ids)})
    judge_cache = JudgeCache(_judge_cache_path(settings, cache))
    try:
        the_judge = Judge(
            _judge_llm(settings, judge, lambda: service.llm),
            judge_cache,
            context_size=settings.llm.context_size,
        )
        config: dict[str, Any] = {
            "dataset": str(dataset),
            "dataset_name": dataset.name if dataset.is_dir() else dataset.parent.name,
            "questions": len(questions),
            "limit": limit,
            "generator": service.llm.name,
            "judge": the_judge.name,
            "metrics": sorted(chosen),
            "embedding": settings.embedding.model,
            "data_dir": str(settings.data_dir),
        }
        started = time.perf_counter()
        records = _run_with_progress(
            Evaluator(service, the_judge, chosen), questions, out_dir, config, resume
        )
    except (ResumeError, DatasetError) as exc:
        raise _fail(str(exc)) from exc
    except RagError as exc:
        raise _fail(str(exc)) from exc
    finally:
        judge_cache.close()
    summary = summarise(records)
    comparison = None
    if baseline is not None:
        section = baseline_section(json.loads(baseline.read_text()), config["dataset_name"])
        comparison = compare(summary, section)
    verdicts = [v for r in records for v in r.get("verdicts", [])]
    judge_stats = {
        "name": the_judge.name,
        "calls": len(verdicts),
        "failures": sum(not v["ok"] for v in verdicts),
        "cached": sum(bool(v["cached"]) for v in verdicts),
        "failures_by_metric": dict(Counter(v["metric"] for v in verdicts if not v["ok"])),
        "calls_by_metric": dict(Counter(v["metric"] for v in verdicts)),
    }
    config["seconds"] = round(time.perf_counter() - started, 1)
    report = report_files.build(config, records, summary, judge_stats, comparison)
    paths = report_files.write(report, out_dir)
    out.print(report_files.markdown(report), markup=False, highlight=False)
    console.print("written: " + ", ".join(str(p) for p in paths.values()))
    if comparison is not None and any(c.regressed for c in comparison):
        raise typer.Exit(1)


def _run_with_progress(
    evaluator: Evaluator,
    questions: list[Any],
    out_dir: Path,
    config: dict[str, Any],
    resume: bool,
) -> list[dict[str, Any]]:
    sums: dict[str, list[float]] = {m: [] for m in RUNNING}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[means]}"),
        console=console,
    ) as bar:
        task = bar.add_task("questions", total=len(questions), means="")

        def on_record(record: dict[str, Any], done: int, total: int) -> None:
            for name in RUNNING:
                value = record["metrics"].get(name)
                if value is not None:
                    sums[name].append(value)
            means = "  ".join(f"{n[:12]} {sum(v) / len(v):.2f}" for n, v in sums.items() if v)
            bar.update(task, completed=done, means=means)

        return run(
            evaluator,
            questions,
            ProgressFile(out_dir / "progress.jsonl"),
            config,
            resume,
            on_record,
        )


@eval_app.command("compare")
def compare_command(
    report: Annotated[Path, typer.Argument(help="A report.json (or latest.json).")],
    baseline: Annotated[Path, typer.Argument(help="A baseline, e.g. eval/baselines/ci.json.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare a run with a baseline; exit 1 when a metric regressed past its tolerance."""
    try:
        current = json.loads(report.read_text(encoding="utf-8"))
        section = baseline_section(
            json.loads(baseline.read_text(encoding="utf-8")), current["config"]["dataset_name"]
        )
        rows = compare(current["summary"], section)
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise _fail(f"cannot compare {report} with {baseline}: {exc}") from exc
    if as_json:
        out.print_json(data=[{**r.__dict__, "delta": r.delta} for r in rows])
    else:
        out.print(report_files.comparison_table(rows), markup=False, highlight=False)
    regressed = [r.metric for r in rows if r.regressed]
    if regressed:
        console.print(f"[red]regression:[/red] {', '.join(regressed)}")
        raise typer.Exit(1)
    console.print("no regression")


@eval_app.command("baseline")
def baseline_command(
    reports: Annotated[
        list[Path], typer.Argument(help="report.json files: repeated runs, any data sets.")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="The baseline file to write.")] = Path(
        "eval/baselines/ci.json"
    ),
) -> None:
    """Write a baseline from repeated runs: means, and tolerances from their spread."""
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    try:
        for path in reports:
            report = json.loads(path.read_text(encoding="utf-8"))
            by_dataset.setdefault(report["config"]["dataset_name"], []).append(report)
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise _fail(f"cannot read the reports: {exc}") from exc
    baseline = {
        "about": "Written by `rag eval baseline`; `rag eval compare` and .ci/eval read it. "
        "tolerance = max(2 x spread between runs, 1 / questions).",
        "datasets": {name: make_baseline(runs) for name, runs in sorted(by_dataset.items())},
    }
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(baseline, indent=1) + "\n", encoding="utf-8")
    console.print(f"written: {out_file}")


def _run_on_pairs(
    pairs: Path,
    limit: int | None,
    judge: str,
    cache: Path | None,
    run: Callable[[Judge, list[Any], Callable[[int, int], None]], dict[str, Any]],
) -> dict[str, Any]:
    """Load HaluEval pairs, build the judge over its cache, and run `run` on them with a
    progress bar; bad input and judge errors exit 1 with the message."""
    from eval.calibration import load_pairs

    settings = _settings(None)
    try:
        chosen = load_pairs(pairs)[:limit]
    except (DatasetError, OSError) as exc:
        raise _fail(str(exc)) from exc
    judge_cache = JudgeCache(_judge_cache_path(settings, cache))
    try:
        the_judge = Judge(
            _judge_llm(settings, judge, lambda: create_llm(settings)),
            judge_cache,
            context_size=settings.llm.context_size,
        )
        with Progress(
            TextColumn("pairs"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("pairs", total=len(chosen))
            return run(the_judge, chosen, lambda done, _: bar.update(task, completed=done))
    except RagError as exc:
        raise _fail(str(exc)) from exc
    finally:
        judge_cache.close()


def _write_json(out_file: Path, result: dict[str, Any]) -> None:
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


@eval_app.command("calibrate")
def calibrate_command(
    pairs: PairsFile,
    limit: PairLimit = None,
    out_file: JsonOut = Path("reports/calibration.json"),
    judge: JudgeBackend = "same",
    cache: JudgeCacheFile = None,
) -> None:
    """Faithfulness on HaluEval: how often the right answer scores above the hallucinated one."""
    from eval.calibration import calibrate

    result = _run_on_pairs(pairs, limit, judge, cache, calibrate)
    _write_json(out_file, result)
    out.print_json(data={k: v for k, v in result.items() if k != "rows"})


RAGAS_HINT = "the agreement check needs the ragas extra: pip install -e '.[ragas]'"


@eval_app.command("agreement")
def agreement_command(
    pairs: PairsFile,
    limit: PairLimit = None,
    out_file: JsonOut = Path("reports/agreement.json"),
    judge: JudgeBackend = "same",
    cache: JudgeCacheFile = None,
) -> None:
    """Our faithfulness against ragas's own Faithfulness, same judge, on HaluEval answers."""
    try:
        from eval.ragas_agreement import agreement, load_ragas

        load_ragas()
    except ImportError as exc:
        raise _fail(f"{RAGAS_HINT} ({exc})") from exc
    result = _run_on_pairs(pairs, limit, judge, cache, agreement)
    _write_json(out_file, result)
    out.print(_agreement_table(result), markup=False, highlight=False)
    console.print(f"written: {out_file}")


def _agreement_table(result: dict[str, Any]) -> str:
    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    failures = result["ragas_failures"]
    lines = [
        f"ragas {result['ragas_version']} Faithfulness vs ours, judge {result['judge']}: "
        f"{result['samples']} answers from {result['pairs']} pairs; ragas failed on "
        f"{failures['count']} ({failures['nan']} NaN, {failures['exception']} errors)",
        "",
        f"{'score':<22}{'n':>5}{'pearson':>10}{'spearman':>10}{'mean|diff|':>12}"
        f"{'correct':>9}{'tie':>5}{'reversed':>10}{'failed':>8}",
    ]
    for score in ("ragas", "faithfulness", "faithfulness_graded"):
        order = result["ordering"][score]
        fit = result["agreement"].get(score, {"n": "", "pearson": None, "spearman": None})
        lines.append(
            f"{score:<22}{fit['n']:>5}{number(fit['pearson']):>10}{number(fit['spearman']):>10}"
            f"{number(fit.get('mean_abs_diff')):>12}{order['correct']:>9}{order['tie']:>5}"
            f"{order['reversed']:>10}{order['failed']:>8}"
        )
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
