"""Report files: `report.json` (everything), `report.md` (for people and CI logs) and
`report.html` (score distributions as charts).

The charts are small inline SVG histograms written here: a plotting library would be
a heavy dependency for ten bars per metric, and inline SVG keeps the page one
self-contained file that CI can publish as is.
"""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.summary import ORDER, Comparison, reasons, worst


def build(
    config: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
    judge: Mapping[str, Any],
    comparison: Sequence[Comparison] | None,
) -> dict[str, Any]:
    return {
        "config": dict(config),
        "summary": dict(summary),
        "judge": dict(judge),
        "comparison": [{**c.__dict__, "delta": c.delta} for c in comparison]
        if comparison is not None
        else None,
        "questions": list(records),
    }


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def summary_table(summary: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["| metric | mean | n | judge failures |", "|---|---:|---:|---:|"]
    for name, row in summary.items():
        lines.append(f"| {name} | {_fmt(row['mean'])} | {row['n']} | {row['failures']} |")
    return "\n".join(lines)


def comparison_table(rows: Sequence[Comparison]) -> str:
    lines = [
        "| metric | this run | baseline | delta | tolerance | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for c in rows:
        flag = "**REGRESSION**" if c.regressed else "ok"
        lines.append(
            f"| {c.metric} | {_fmt(c.current)} | {c.baseline:.3f} | {_fmt(c.delta)} "
            f"| {c.tolerance:.3f} | {flag} |"
        )
    return "\n".join(lines)


def markdown(report: Mapping[str, Any]) -> str:
    config, judge = report["config"], report["judge"]
    out = [
        f"# Evaluation: {config['dataset_name']}",
        "",
        f"{config['questions']} questions from `{config['dataset']}`; generator "
        f"`{config['generator']}`, judge `{judge['name']}` ({judge['calls']} verdicts, "
        f"{judge['failures']} failed, {judge['cached']} from cache); "
        f"{config.get('seconds', 0):.0f} s.",
        "",
        "## Summary",
        "",
        summary_table(report["summary"]),
    ]
    if report.get("comparison") is not None:
        rows = [
            Comparison(**{k: v for k, v in c.items() if k != "delta"}) for c in report["comparison"]
        ]
        out += ["", "## Against the baseline", "", comparison_table(rows)]
    bad = worst(report["questions"])
    if bad:
        out += ["", "## Worst questions", ""]
        for record in bad:
            answer = record["answer"]["answer"].replace("\n", " ")
            out.append(
                f"- `{record['id']}` {record['question']!r} ({record['answer']['mode']}): "
                + "; ".join(reasons(record))
                + f". Answer: {answer[:200]!r}"
            )
    return "\n".join(out) + "\n"


def _histogram(values: Sequence[float], bins: int = 10, width: int = 260, height: int = 90) -> str:
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    top = max(counts) or 1
    bar = width / bins
    rects = []
    for i, c in enumerate(counts):
        h = (height - 14) * c / top
        rects.append(
            f'<rect x="{i * bar + 1:.1f}" y="{height - 14 - h:.1f}" width="{bar - 2:.1f}" '
            f'height="{h:.1f}"><title>{i / bins:.1f}–{(i + 1) / bins:.1f}: {c}</title></rect>'
        )
    axis = f'<text x="0" y="{height - 2}">0</text><text x="{width - 8}" y="{height - 2}">1</text>'
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="distribution">'
        + "".join(rects)
        + axis
        + "</svg>"
    )


def html_page(report: Mapping[str, Any]) -> str:
    summary = report["summary"]
    cards = []
    for name in [n for n in ORDER if n in summary] + [n for n in summary if n not in ORDER]:
        values = [
            float(r["metrics"][name])
            for r in report["questions"]
            if r["metrics"].get(name) is not None
        ]
        row = summary[name]
        chart = _histogram(values) if values else "<p>no values</p>"
        cards.append(
            f"<section><h2>{html.escape(name)}</h2><p>mean <b>{_fmt(row['mean'])}</b>, "
            f"n {row['n']}, judge failures {row['failures']}</p>{chart}</section>"
        )
    md = html.escape(markdown(report))
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<title>Evaluation: {html.escape(report['config']['dataset_name'])}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
        "main{display:flex;flex-wrap:wrap;gap:1em}section{border:1px solid #ddd;"
        "padding:.5em 1em;border-radius:6px}rect{fill:#3b6ea8}text{font-size:10px}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}</style>"
        f"<h1>Evaluation: {html.escape(report['config']['dataset_name'])}</h1>"
        f"<main>{''.join(cards)}</main><h2>Report</h2><pre>{md}</pre></html>"
    )


def write(report: Mapping[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "report.json",
        "markdown": out / "report.md",
        "html": out / "report.html",
    }
    paths["json"].write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    paths["html"].write_text(html_page(report), encoding="utf-8")
    latest = out / "latest.json"
    shutil.copyfile(paths["json"], latest)
    paths["latest"] = latest
    return paths
