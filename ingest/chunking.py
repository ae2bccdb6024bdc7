"""Token-aware chunking that keeps offsets, pages and the heading path.

The text is cut into sections at its Markdown headings first, so a chunk never
holds the end of one section and the start of the next; LangChain's
RecursiveCharacterTextSplitter then splits each section (paragraphs, lines,
sentences, words), measuring length with the embedder's own tokenizer so no chunk
is truncated by the encoder. What LangChain does not give is where each chunk
sits: offsets are recovered here by searching forward in the text, then mapped to
pages and to the headings above the chunk.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from langchain_text_splitters import RecursiveCharacterTextSplitter
from tokenizers import Tokenizer

from rag.types import ChunkDraft, PageSpan

CHUNKER_VERSION = 3
# A chunk shorter than this (or a fifth of the chunk size) is merged into the next
# one. LangChain leaves a title alone when the paragraph after it is longer than a
# chunk; such title-only chunks matched every question on their topic and held no
# answer (seen on clapnq).
MIN_CHUNK_TOKENS = 24

# Within a section: paragraphs, lines, sentence ends, spaces, and characters last.
_SEPARATORS = [
    r"\n\n",
    r"\n",
    r"(?<=[.!?;:])\s+",
    r"\s+",
    "",
]
# Spaces, not newlines, after the #s: "#" alone on a line is no heading of the next.
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~)", re.MULTILINE)


@dataclass(frozen=True)
class ChunkConfig:
    tokenizer_file: str
    chunk_tokens: int
    overlap_tokens: int

    def fingerprint(self) -> str:
        return f"chunks:v{CHUNKER_VERSION}|{self.chunk_tokens}/{self.overlap_tokens}"


def headings(text: str) -> list[tuple[int, int, str]]:
    """(offset, level, title) of each Markdown heading outside code fences."""
    fences = [m.start() for m in _FENCE.finditer(text)]
    found = []
    for m in _HEADING.finditer(text):
        inside_fence = bisect.bisect_right(fences, m.start()) % 2 == 1
        if not inside_fence:
            found.append((m.start(), len(m.group(1)), m.group(2).strip()))
    return found


class Chunker:
    def __init__(self, config: ChunkConfig) -> None:
        self.config = config
        self._tokenizer = Tokenizer.from_file(config.tokenizer_file)
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=config.chunk_tokens,
            chunk_overlap=config.overlap_tokens,
            length_function=self.count_tokens,
            separators=_SEPARATORS,
            is_separator_regex=True,
            keep_separator="start",
            strip_whitespace=True,
        )

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def _spans(self, text: str, heads: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
        """(start, end) of each chunk. Each section is split on its own and its tiny
        pieces merged within it; a section that is a heading with nothing under it,
        or a tiny text before the first heading, joins the section after it."""
        tiny = min(MIN_CHUNK_TOKENS, self.config.chunk_tokens // 5)
        spans: list[tuple[int, int]] = []
        carry: tuple[int, int] | None = None  # a section waiting for the next one
        for first, last in _sections(text, heads):
            pieces = self._merged(text, self._pieces(text, first, last), tiny)
            if not pieces:
                continue
            if carry is not None:
                pieces[0], carry = (carry[0], pieces[0][1]), None
            start, end = pieces[0]
            alone = len(pieces) == 1 and not _titled_body(text[start:end])
            if alone and self.count_tokens(text[start:end]) < tiny:
                carry = (start, end)
                continue
            spans.extend(pieces)
        if carry is not None:  # at the end: joins the chunk before, if any
            if spans:
                spans[-1] = (spans[-1][0], carry[1])
            else:
                spans.append(carry)
        return spans

    def _pieces(self, text: str, first: int, last: int) -> list[tuple[int, int]]:
        """(start, end) of the splitter's pieces of text[first:last]."""
        section = text[first:last]
        spans: list[tuple[int, int]] = []
        cursor = 0
        for piece in self._splitter.split_text(section):
            if not piece.strip():
                continue
            start = section.find(piece, cursor)
            if start < 0:  # cannot happen for substrings; kept as a loud guard
                raise ValueError("chunk text not found in its document")
            spans.append((first + start, first + start + len(piece)))
            cursor = start + 1
        return spans

    def _merged(self, text: str, spans: list[tuple[int, int]], tiny: int) -> list[tuple[int, int]]:
        """One section's pieces, each tiny one merged into the next (the last into the
        one before); a section of one tiny piece stays one."""
        merged: list[tuple[int, int]] = []
        carry: int | None = None  # start of a tiny piece waiting for the next one
        for start, end in spans:
            if carry is not None:
                start, carry = min(carry, start), None
            if self.count_tokens(text[start:end]) < tiny:
                carry = start
                continue
            merged.append((start, end))
        if carry is not None:
            if merged:
                merged[-1] = (merged[-1][0], spans[-1][1])
            else:
                merged.append((carry, spans[-1][1]))
        return merged

    def split(self, text: str, pages: Sequence[PageSpan]) -> list[ChunkDraft]:
        page_starts = [p.start for p in pages]
        heads = headings(text)
        head_offsets = [h[0] for h in heads]
        chunks: list[ChunkDraft] = []
        for start, end in self._spans(text, heads):
            piece = text[start:end]
            chunks.append(
                ChunkDraft(
                    text=piece,
                    start=start,
                    end=end,
                    page_start=_page_at(pages, page_starts, start),
                    page_end=_page_at(pages, page_starts, end - 1),
                    heading=_heading_path(heads, head_offsets, _body_start(text, start, end)),
                    n_tokens=self.count_tokens(piece),
                )
            )
        return chunks


def _sections(text: str, heads: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    """(start, end) of the text before the first heading and of each heading's section
    (`heads`: the text's `headings`).

    A policy's sections are short: packed into one chunk, "Hotel nights are capped at
    120 euros in Paris" shared its vector with the scope, the expense reports and the
    meals, and the question about it scored 0.38 against that chunk, 0.53 against its
    section alone (MiniLM cosines; docs/ingest.md, "Chunking"). A heading-only section
    is short enough to be merged into the next chunk (`MIN_CHUNK_TOKENS`)."""
    cuts = [0, *(offset for offset, _, _ in heads if offset > 0), len(text)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _titled_body(piece: str) -> bool:
    """Does the piece open with a heading and hold text under it?"""
    lines = [line for line in piece.splitlines() if line.strip()]
    return (
        bool(lines)
        and bool(_HEADING.match(lines[0]))
        and any(not _HEADING.match(line) for line in lines)
    )


def _body_start(text: str, start: int, end: int) -> int:
    """Where the chunk's first line that is not a heading starts (a title merged into
    the section after it is not the chunk's heading path: its section is)."""
    offset = start
    for line in text[start:end].splitlines(keepends=True):
        if line.strip() and not _HEADING.match(line):
            return offset
        offset += len(line)
    return start


def _page_at(pages: Sequence[PageSpan], starts: list[int], offset: int) -> int:
    if not pages:
        return 1
    i = bisect.bisect_right(starts, offset) - 1
    return pages[max(i, 0)].number


def _heading_path(heads: list[tuple[int, int, str]], offsets: list[int], start: int) -> str:
    """'Title > Section > Subsection' for the headings in force at `start`."""
    stack: list[tuple[int, str]] = []
    for _, level, title in heads[: bisect.bisect_right(offsets, start)]:
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
    return " > ".join(title for _, title in stack)


@lru_cache(maxsize=4)
def cached_chunker(config: ChunkConfig) -> Chunker:
    """One chunker per worker process and configuration (tokenizer loads once)."""
    return Chunker(config)


def tokenizer_file(model_path: Path) -> str:
    path = model_path / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{model_path} has no tokenizer.json; the chunker needs the embedder's fast tokenizer"
        )
    return str(path)
