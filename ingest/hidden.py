"""Find text that the index sees but a reader of the file does not.

Hidden text is the usual carrier of prompt injection: white or tiny words in a PDF,
a hidden run in a DOCX, a `display:none` block in a page, an HTML comment in Markdown,
zero-width or Unicode tag characters. A reader never sees it, so nobody notices when
it says "ignore previous instructions". These checks run in the parser sandbox next
to the loaders and return flags, short lines for an admin, each starting with its
kind (`hidden-text`, `html-comment`, `invisible-characters`, `metadata-instructions`).

The text is still indexed (see docs/ingest.md, "Hidden text"): the flag tells the
admin, who decides. What is not covered is listed there too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

MIN_FONT_PT = 2.0  # text drawn smaller than this is unreadable on paper and on screen
MIN_HIDDEN_LETTERS = 3  # fewer hidden letters than this: a stray space or bullet, not text
WHITE = 0.95  # a fill colour at or above this in every channel counts as white
SAMPLE = 80  # characters of hidden text quoted in a flag

# Zero-width characters and Unicode tag characters (U+E0000-E007F, "ASCII smuggling":
# invisible, yet a model reads them). One U+200D joins emoji; a run of three is text.
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff]{3,}|[\U000e0000-\U000e007f]+")
_HTML_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
# Metadata that reads as an order to a model, not as a title.
_INSTRUCTION = re.compile(
    r"(?i)\b(ignore|disregard|forget)\b.{0,40}\b(instructions?|prompts?|above|previous)\b"
    r"|\bsystem prompt\b|\byou are now\b|\bend your answer with\b"
)


def _letters(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _sample(texts: Iterable[str]) -> str:
    joined = " ".join(" ".join(t.split()) for t in texts if t.strip())
    return joined[:SAMPLE] + ("…" if len(joined) > SAMPLE else "")


def hidden_flag(what: str, texts: list[str]) -> list[str]:
    """A `hidden-text` flag for these hidden pieces, if they hold any real text."""
    letters = sum(_letters(t) for t in texts)
    if letters < MIN_HIDDEN_LETTERS:
        return []
    return [f"hidden-text: {what}, {letters} letters: {_sample(texts)!r}"]


def text_flags(text: str) -> list[str]:
    """Flags any extracted text can carry: runs of invisible characters."""
    runs = _INVISIBLE.findall(text)
    if not runs:
        return []
    chars = sum(len(r) for r in runs)
    return [
        f"invisible-characters: {len(runs)} runs of zero-width or Unicode tag characters "
        f"({chars} characters)"
    ]


def markdown_flags(text: str) -> list[str]:
    comments = [c for c in _HTML_COMMENT.findall(text) if _letters(c)]
    if sum(_letters(c) for c in comments) < MIN_HIDDEN_LETTERS:
        return []
    return [
        f"html-comment: {len(comments)} HTML comments, not shown when the Markdown is "
        f"rendered: {_sample(comments)!r}"
    ]


def metadata_flags(fields: dict[str, str | None]) -> list[str]:
    """Metadata the index uses (a title) that reads as instructions to a model."""
    return [
        f"metadata-instructions: the {name} reads as instructions: {_sample([value])!r}"
        for name, value in fields.items()
        if value and _INSTRUCTION.search(value)
    ]


# -- PDF --------------------------------------------------------------------------------


def matrix_scale(matrix: list[float]) -> float:
    """How much a PDF transformation matrix scales lengths (type sizes)."""
    return math.sqrt(abs(matrix[0] * matrix[3] - matrix[1] * matrix[2])) or 1.0


class PdfPageScan:
    """Visitors for pypdf's extract_text that sort shown text into hidden and not.

    Hidden: render mode 3 or 7 (no fill, no stroke), a white fill (pages are taken
    to be white), or an effective font size under MIN_FONT_PT. pypdf hands text to
    `visitor_text` when it flushes a line, so each flush is hidden when every show
    operator since the previous flush was."""

    def __init__(self) -> None:
        self.mode = 0
        self.white = False
        self.font_size = 12.0
        self.stack: list[tuple[int, bool, float]] = []
        self.shows: list[bool] = []  # hidden or not, per show operator since the flush
        self.hidden: list[str] = []
        self.invisible_mode_letters = 0
        self.letters = 0

    def before(self, op: bytes, args: list[Any], cm: list[float], tm: list[float]) -> None:
        if op == b"q":
            self.stack.append((self.mode, self.white, self.font_size))
        elif op == b"Q" and self.stack:
            self.mode, self.white, self.font_size = self.stack.pop()
        elif op == b"Tr" and args:
            self.mode = int(args[0])
        elif op == b"Tf" and len(args) > 1:
            self.font_size = float(args[1])
        elif op in (b"g", b"rg", b"sc", b"scn") and args:
            values = [a for a in args if isinstance(a, int | float)]
            self.white = bool(values) and len(values) in (1, 3) and min(values) >= WHITE
        elif op == b"k" and len(args) == 4:
            self.white = all(isinstance(a, int | float) and a <= 1 - WHITE for a in args)
        elif op in (b"Tj", b"TJ", b"'", b'"'):
            size = self.font_size * matrix_scale(tm) * matrix_scale(cm)
            self.shows.append(self.mode in (3, 7) or self.white or size < MIN_FONT_PT)

    def text(self, text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if not text.strip():
            return
        shows, self.shows = self.shows, []
        self.letters += _letters(text)
        if shows and all(shows):
            self.hidden.append(text)
            if self.mode in (3, 7):
                self.invisible_mode_letters += _letters(text)


def pdf_page_text(page: Any, also: Any = None) -> tuple[str, list[str]]:
    """A page's text, and its hidden pieces. A page whose text is almost all in render
    mode 3 over an image is a scan's OCR layer, not hidden text: it is not reported.
    `also`: another visitor_text to call on the same pass (ingest.pdf_headings)."""
    scan = PdfPageScan()

    def visit(*args: Any) -> None:
        scan.text(*args)
        if also is not None:
            also(*args)

    text = page.extract_text(visitor_operand_before=scan.before, visitor_text=visit) or ""
    if scan.letters and scan.invisible_mode_letters >= 0.8 * scan.letters and _has_image(page):
        return text, []
    return text, scan.hidden


def _has_image(page: Any) -> bool:
    try:
        xobjects = page.get("/Resources", {}).get("/XObject", {})
        return any(x.get_object().get("/Subtype") == "/Image" for x in xobjects.values())
    except Exception:  # a malformed resource dictionary: no image known
        return False


# -- DOCX -------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def docx_hidden_runs(body: Any) -> list[str]:
    """The text of runs formatted hidden (w:vanish, w:webHidden), white (FFFFFF) or
    under MIN_FONT_PT (w:sz is in half-points), by their direct formatting."""
    hidden: list[str] = []
    for run in body.iter(f"{_W}r"):
        props = run.find(f"{_W}rPr")
        if props is None:
            continue
        vanish = any(
            (el := props.find(f"{_W}{tag}")) is not None
            and el.get(f"{_W}val", "true") not in ("0", "false", "off")
            for tag in ("vanish", "webHidden")
        )
        color = props.find(f"{_W}color")
        white = color is not None and (color.get(f"{_W}val") or "").upper() == "FFFFFF"
        size = props.find(f"{_W}sz")
        tiny = False
        if size is not None:
            try:
                tiny = int(size.get(f"{_W}val") or "0") / 2 < MIN_FONT_PT
            except ValueError:
                tiny = False
        if vanish or white or tiny:
            hidden.append("".join(t.text or "" for t in run.iter(f"{_W}t")))
    return hidden


# -- HTML -------------------------------------------------------------------------------

_HIDING_STYLE = re.compile(
    r"(?i)display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9])"
    r"|color\s*:\s*(#fff\b|#ffffff\b|white\b|rgb\(\s*255\s*,\s*255\s*,\s*255\s*\))"
)


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def html_hidden_texts(html: str, extracted: str) -> list[str]:
    """Text of elements a browser does not show (`hidden`, display:none,
    visibility:hidden, font-size:0, white colour, by inline style) that made it into
    the extracted text. aria-hidden hides from screen readers only: not counted."""
    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
    except Exception:  # lxml cannot parse it: the loader's own parse decides
        return []
    # Compared by words: the Markdown the extractor writes escapes brackets and stars.
    flat = _words(extracted)
    found: list[str] = []
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        if el.get("hidden") is None and not _HIDING_STYLE.search(el.get("style") or ""):
            continue
        piece = " ".join(el.text_content().split())
        if _letters(piece) and _words(piece)[:60] in flat:
            found.append(piece)
    return found
