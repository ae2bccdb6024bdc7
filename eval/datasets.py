"""Question files (`questions.jsonl`) and the relevance rule of the shared data sets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DatasetError(ValueError):
    """A malformed data set line; the message names the file, the line and the fault."""


@dataclass(frozen=True)
class Question:
    """One line of a question file.

    exclude_doc_ids: documents (by file stem, as doc_ids) hidden from retrieval when
    this question is asked. An answerable question asked with its gold documents
    hidden becomes an unanswerable one whose retrieval returns near misses on the
    same topic: the hard case for abstention, which a set of off-topic questions
    never exercises.
    """

    id: str
    question: str
    reference_answers: tuple[str, ...]
    doc_ids: tuple[str, ...]
    answerable: bool
    lang: str
    exclude_doc_ids: tuple[str, ...] = ()


def read_records(path: Path, required: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """The JSON objects of a .jsonl file, blank lines skipped; a bad line raises
    DatasetError naming the file, the line number and what is wrong."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(raw, dict):
            raise DatasetError(f"{path}:{number}: expected a JSON object")
        missing = [k for k in required if not isinstance(raw.get(k), str)]
        if missing:
            raise DatasetError(f"{path}:{number}: missing or non-text field(s) {missing}")
        yield raw


def load_questions(path: Path) -> list[Question]:
    if path.is_dir():
        path = path / "questions.jsonl"
    questions = []
    for raw in read_records(path, ("id", "question")):
        excluded = raw.get("exclude_doc_ids") or []
        if not isinstance(excluded, list) or not all(isinstance(d, str) for d in excluded):
            # A bare string would be read as a tuple of characters and hide nothing.
            raise DatasetError(
                f"{path}: question {raw['id']}: exclude_doc_ids must be a list "
                "of doc ids (file stems)"
            )
        questions.append(
            Question(
                id=raw["id"],
                question=raw["question"],
                reference_answers=tuple(raw.get("reference_answers") or ()),
                doc_ids=tuple(raw.get("doc_ids") or ()),
                answerable=bool(raw.get("answerable", True)),
                lang=str(raw.get("lang", "fr")),
                exclude_doc_ids=tuple(excluded),
            )
        )
    return questions


def is_relevant(path: str, doc_ids: tuple[str, ...]) -> bool:
    """A file is relevant when its stem is a doc id or starts with one followed by '_'
    (spf splits some fiches into several files)."""
    stem = Path(path).stem
    return any(stem == d or stem.startswith(d + "_") for d in doc_ids)
