"""`[n]` citation markers: parsing, and checking each against the passage it cites.

Parsing accepts `[1]`, `[1, 2]`, `[1; 2]`, `[1][2]` and ranges `[1-3]`; numbers
outside the sources are removed from the text and reported. Web results are cited
apart: `[W1]`, `[W1, W2]`, and inside a list `[1, W2]` becomes `[1][W2]`. A
statement (the sentence that carries markers) is supported by a cited passage (or
web snippet) when enough of the statement's content words appear in it (stemmed,
accents folded). That
test works the same in French and English, where the default embedder is
English-only; bench/citation_support.py measures it on HaluEval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.text import content_stems, sentences

_MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:[,;]|[-–])\s*\d+)*)\s*\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WEB_MARKER = re.compile(r"\[W(\d+)\]")
# Any bracket holding a web number, possibly with internal numbers: [W1], [w 2],
# [W1-W3], [1, W2].
_ANY_WEB = re.compile(r"\[\s*((?:[Ww]\s*)?\d+(?:\s*(?:[,;]|[-–])\s*(?:[Ww]\s*)?\d+)*)\s*\]")


# Words of a sentence that only points at sources ("This is supported by sources [1]
# and [2].", "Sources [1] and [2] support this answer."): small models write these
# instead of citing the sentence before, which is the one such a sentence vouches for.
_POINTING = frozenset(
    """source sources support supports supported supporting confirm confirms confirmed
    evidence evidenced according see selon voir confirme confirmé confirmée appuie
    appuyée justifie justifiée étayée""".split()
)
_POINTER_WORDS = _POINTING | frozenset(
    """this that these it is are was were the a an as by in from of and or to all
    both above information answer provided stated mentioned based on given indicated
    indicates document documents passage passages ce cette cet ces c il elle la le les
    l d de des du et ou réponse informations est sont indique indiqué indiquée mentionne
    mentionné mentionnée fournie fournies par dans sur comme""".split()
)


def _points_only(sentence: str) -> bool:
    """Only pointer words, and at least one that points ("source", "supported")."""
    words = set(re.findall(r"\w+", sentence.lower()))
    return bool(words & _POINTING) and words <= _POINTER_WORDS


@dataclass
class Statement:
    text: str  # the sentence, markers removed
    sources: list[int]  # 1-based source numbers it cites, in range
    web: list[int] = field(default_factory=list)  # 1-based web result numbers, in range


@dataclass
class ParsedAnswer:
    text: str  # the answer with out-of-range markers removed
    statements: list[Statement] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)  # out-of-range numbers
    dropped_web: list[int] = field(default_factory=list)  # out-of-range web numbers


def _numbers(inner: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"\s*[,;]\s*", inner):
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            low, high = int(bounds[0]), int(bounds[1])
            if 0 < high - low < 20:
                numbers.extend(range(low, high + 1))
                continue
        numbers.extend(int(b) for b in bounds if b.isdigit())
    return numbers


def _separate_web(match: re.Match[str]) -> str:
    """`[1, W2-W3]` -> `[1][W2][W3]`: web markers in their own canonical brackets, so
    the internal parsing below never sees them."""
    inner = match.group(1)
    if "w" not in inner.lower():
        return match.group(0)
    internal: list[str] = []
    web: list[int] = []
    for part in re.split(r"\s*[,;]\s*", inner):
        if "w" in part.lower():
            web.extend(_numbers(re.sub(r"[Ww]\s*", "", part)))
        else:
            internal.append(part)
    head = "[" + ", ".join(internal) + "]" if internal else ""
    return head + "".join(f"[W{n}]" for n in web)


def parse_citations(answer: str, n_sources: int, n_web: int = 0) -> ParsedAnswer:
    dropped: list[int] = []
    dropped_web: list[int] = []

    def keep_valid(match: re.Match[str]) -> str:
        valid = []
        for n in _numbers(match.group(1)):
            if 1 <= n <= n_sources:
                if n not in valid:
                    valid.append(n)
            else:
                dropped.append(n)
        return "[" + ", ".join(map(str, valid)) + "]" if valid else ""

    def keep_valid_web(match: re.Match[str]) -> str:
        if 1 <= int(match.group(1)) <= n_web:
            return match.group(0)
        dropped_web.append(int(match.group(1)))
        return ""

    text = _WEB_MARKER.sub(keep_valid_web, _ANY_WEB.sub(_separate_web, answer))
    text = _MARKER.sub(keep_valid, text)
    # "… 4 jours. [2]" -> "… 4 jours [2].": a marker after the full stop cites the
    # sentence before it, so it moves inside that sentence. Only markers: the "!" of a
    # markdown image ("![alt](url)") stays where it is, so the image can be recognised
    # (and removed, rag.answer.links) whole.
    text = re.sub(r"([.!?])((?:[ \t]*\[[\sWw,;\-–]*\d[\sWw\d,;\-–]*\])+)", r"\2\1", text)
    text = re.sub(r"[ \t]+([.,;:?]|!(?!\[))", r"\1", text).strip()
    statements: list[Statement] = []
    pieces = [p for p in _SENTENCE_END.split(text) if p.strip()]
    for piece in pieces:
        cited = [n for m in _MARKER.finditer(piece) for n in _numbers(m.group(1))]
        web = [int(m.group(1)) for m in _WEB_MARKER.finditer(piece)]
        bare = _WEB_MARKER.sub("", _MARKER.sub("", piece))
        sentence = re.sub(r"\s+([.,;:?]|!(?!\[))", r"\1", bare).strip()
        if statements and (cited or web) and _points_only(sentence):
            # Its citations belong to the statement before it.
            last = statements[-1]
            last.sources = list(dict.fromkeys(last.sources + cited))
            last.web = list(dict.fromkeys(last.web + web))
        elif re.search(r"\w", sentence):
            statements.append(
                Statement(sentence, list(dict.fromkeys(cited)), list(dict.fromkeys(web)))
            )
    return ParsedAnswer(text, statements, sorted(set(dropped)), sorted(set(dropped_web)))


def support_score(
    statement: str, passage: str, lang: str, known: frozenset[str] | set[str] = frozenset()
) -> float:
    """Share of the statement's content words found in the passage, in [0, 1].

    Numbers weigh double, and a number the passage does not contain halves the
    score: "4 jours" against a passage saying "5 jours" is the typical invention.
    `known`: stems left out of the count (the question's, where only what the
    statement adds to it is to be checked).
    """
    wanted = content_stems(statement, lang) - known
    if not wanted:
        return 1.0  # nothing to check ("Oui [1].")
    found = content_stems(passage, lang)

    def weight(term: str) -> int:
        return 2 if term.isdigit() else 1

    score = sum(weight(t) for t in wanted & found) / sum(weight(t) for t in wanted)
    if any(t.isdigit() and t not in found for t in wanted):
        score /= 2
    return score


def best_quote(statement: str, passage: str, lang: str) -> tuple[str, int, int]:
    """The passage sentence that shares most words with the statement, and its offsets."""
    wanted = content_stems(statement, lang)
    best, best_score = (passage.strip()[:300], 0, min(len(passage), 300)), -1.0
    for start, end in sentences(passage):
        sentence = passage[start:end]
        if len(sentence) < 3:
            continue
        score = len(wanted & content_stems(sentence, lang)) if wanted else 0
        if score > best_score:
            best, best_score = (sentence, start, end), score
    return best
