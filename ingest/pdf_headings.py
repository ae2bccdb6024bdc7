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

import re
from collections import Counter
from typing import Any

from ingest.hidden import matrix_scale

# A heading is short and not a sentence's end; its type is this much larger than the
# body's, or bold where the body is not.
MAX_CHARS = 90
MAX_WORDS = 12
LARGER = 1.15
_SENTENCE_END = re.compile(r"[.,;]$")


def _key(text: str) -> str:
    return " ".join(text.split())


class PdfHeadingScan:
    """A visitor_text for pypdf's extract_text: each flushed line's text, type size
    and weight, in order."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, float, bool]] = []

    def text(self, text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        key = _key(text)
        if not key:
            return
        try:
            points = float(size or 0) * matrix_scale(tm) * matrix_scale(cm)
        except (TypeError, ValueError, IndexError):
            points = 0.0
        try:
            name = str(font["/BaseFont"])  # indexing resolves an indirect object
        except (KeyError, TypeError):
            name = ""
        self.lines.append((key, round(points, 1), "bold" in name.lower()))


# For each scanned line of a page: its heading level (0 when body text) and its block
# (consecutive lines set in the same type: a heading wrapped over two lines is one).
Levels = list[tuple[int, int]]


def heading_levels(scans: list[PdfHeadingScan]) -> list[Levels]:
    """Each page's scanned lines, their heading level and block. A block is a heading
    when, whole, it is short and not a sentence, and set larger than the body or bold
    where the body is not; levels follow sizes over the whole document."""
    letters: Counter[tuple[float, bool]] = Counter()
    for scan in scans:
        for text, points, bold in scan.lines:
            letters[(points, bold)] += len(text)
    if not letters:
        return [[] for _ in scans]
    body_points, body_bold = letters.most_common(1)[0][0]

    def is_heading(text: str, points: float, bold: bool) -> bool:
        if len(text) > MAX_CHARS or len(text.split()) > MAX_WORDS:
            return False
        if _SENTENCE_END.search(text) or not any(ch.isalpha() for ch in text):
            return False
        larger = points >= body_points * LARGER
        return larger or (bold and not body_bold and points >= body_points)

    pages: list[list[tuple[int, float | None]]] = []  # (block, heading size or None)
    for scan in scans:
        marks: list[tuple[int, float | None]] = []
        block: list[int] = []
        for i, (_, points, bold) in enumerate(scan.lines):
            block.append(i)
            last = i + 1 == len(scan.lines) or scan.lines[i + 1][1:] != (points, bold)
            if last:
                text = " ".join(scan.lines[j][0] for j in block)
                size = points if is_heading(text, points, bold) else None
                marks += [(block[0], size)] * len(block)
                block = []
        pages.append(marks)
    sizes = sorted({size for page in pages for _, size in page if size}, reverse=True)
    level = {size: min(i + 1, 6) for i, size in enumerate(sizes)}
    return [[(level[size] if size else 0, block) for block, size in page] for page in pages]


# How far ahead in the scanned lines an output line is looked for: pypdf may flush one
# output line in several pieces, which then match no output line.
_LOOKAHEAD = 8


def mark_headings(page_text: str, scan: PdfHeadingScan, levels: Levels) -> str:
    """The page's text with each heading written as one Markdown heading line. The
    page's lines are matched to the scanned ones in order, so a body line that repeats
    a heading's words stays body text."""
    if not any(level for level, _ in levels):
        return page_text
    out: list[str] = []
    heading_block: int | None = None  # the block of the heading line just written
    j = 0
    for line in page_text.split("\n"):
        key = _key(line)
        found = next(
            (k for k in range(j, min(j + _LOOKAHEAD, len(scan.lines))) if scan.lines[k][0] == key),
            None,
        )
        level, block = levels[found] if found is not None else (0, -1)
        if found is not None:
            j = found + 1
        if level and block == heading_block:
            out[-1] += " " + line.strip()  # a heading wrapped over two lines
            continue
        heading_block = None
        if level and not line.lstrip().startswith("#"):
            out.append("#" * level + " " + line.strip())
            heading_block = block
        else:
            out.append(line)
    return "\n".join(out)
