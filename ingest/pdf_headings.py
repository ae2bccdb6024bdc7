"""Headings of a PDF, told by their type, marked as Markdown headings.

pypdf gives a page's text without its structure, so a handbook page holding two
sections ("Congés payés", then "Congés pour événements familiaux") was one chunk,
and a question on one section was matched against both. Word processors and PDF
generators set headings in larger or bold type on a line of their own: such a line is
marked "#" to "######" here (the larger the type, the higher the level, over the whole
document), so the chunker cuts sections there as it does for DOCX, HTML and Markdown
(ingest.chunking). No library reads headings from untagged PDFs well (pdfplumber and
PyMuPDF give characters and fonts, the same evidence used here, at the cost of another
PDF parser); pypdf's own text visitor already reports each line's font and size.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

# A heading is short and not a sentence's end; its type is this much larger than the
# body's, or bold where the body is not.
MAX_CHARS = 90
MAX_WORDS = 12
LARGER = 1.15
_SENTENCE_END = re.compile(r"[.,;]$")


def _scale(matrix: Any) -> float:
    try:
        return math.sqrt(abs(matrix[0] * matrix[3] - matrix[1] * matrix[2])) or 1.0
    except (TypeError, IndexError):
        return 1.0


def _key(text: str) -> str:
    return " ".join(text.split())


class PdfHeadingScan:
    """A visitor_text for pypdf's extract_text: each flushed line's text, type size
    and weight."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, float, bool]] = []

    def text(self, text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        key = _key(text)
        if not key:
            return
        try:
            points = float(size or 0) * _scale(tm) * _scale(cm)
        except (TypeError, ValueError):
            points = 0.0
        name = str(font.get("/BaseFont", "")) if isinstance(font, dict) else ""
        self.lines.append((key, round(points, 1), "bold" in name.lower()))


def heading_levels(scans: list[PdfHeadingScan]) -> list[dict[str, int]]:
    """For each page, its heading lines (whitespace collapsed) and their levels."""
    letters: Counter[tuple[float, bool]] = Counter()
    for scan in scans:
        for text, points, bold in scan.lines:
            letters[(points, bold)] += len(text)
    if not letters:
        return [{} for _ in scans]
    body_points, body_bold = letters.most_common(1)[0][0]

    def is_heading(text: str, points: float, bold: bool) -> bool:
        if len(text) > MAX_CHARS or len(text.split()) > MAX_WORDS:
            return False
        if _SENTENCE_END.search(text) or not any(ch.isalpha() for ch in text):
            return False
        larger = points >= body_points * LARGER
        return larger or (bold and not body_bold and points >= body_points)

    found = [
        {text: points for text, points, bold in scan.lines if is_heading(text, points, bold)}
        for scan in scans
    ]
    sizes = sorted({points for page in found for points in page.values()}, reverse=True)
    level = {points: min(i + 1, 6) for i, points in enumerate(sizes)}
    return [{text: level[points] for text, points in page.items()} for page in found]


def mark_headings(page_text: str, levels: dict[str, int]) -> str:
    """The page's text with each heading line written as a Markdown heading."""
    if not levels:
        return page_text
    lines = page_text.split("\n")
    for i, line in enumerate(lines):
        level = levels.get(_key(line))
        if level and not line.lstrip().startswith("#"):
            lines[i] = "#" * level + " " + line.strip()
    return "\n".join(lines)
