"""Evidence at sentence level: which sentences of the retrieved passages bear on the
question, and which one supports a claim of the answer.

A passage retrieved for "Combien de jours de congé pour un mariage ?" often holds
several figures ("25 jours ouvrés de congés payés", "5 jours pour un mariage"). The
sentence that answers is the one carrying the question's most specific words, so each
question word is weighed by how rare it is among the sentences of the passages at
hand (an inverse sentence frequency): "mariage" appears in one sentence, "jours" in
many. Across languages no word is shared, and a multilingual sentence encoder
(rag.multilingual) measures the same thing as a cosine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from rag.text import content_stems, detect_language, sentences

# Turns texts into unit vectors in one space for every language (rag.multilingual).
Encode = Callable[[list[str]], np.ndarray]

# "1 000" (French thousands, with a space or a no-break space), "2,50", "2.5", "14".
_NUMBER = re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d])|\d+(?:[.,]\d+)?")


def numbers(text: str) -> set[str]:
    """The numbers a text states, written one way: thousands joined ("1 000" = "1000"),
    decimal commas as points ("2,50" = "2.50")."""
    return {re.sub(r"[ \u00a0\u202f]", "", n).replace(",", ".") for n in _NUMBER.findall(text)}


def term_weights(question_stems: set[str], sentence_stems: Sequence[set[str]]) -> dict[str, float]:
    """Each question stem found in at least one sentence, weighed by how few sentences
    hold it: log(1 + N / df). Stems no sentence holds cannot tell sentences apart and
    get no weight."""
    n = len(sentence_stems)
    weights: dict[str, float] = {}
    for stem in question_stems:
        df = sum(1 for stems in sentence_stems if stem in stems)
        if df:
            weights[stem] = math.log(1.0 + n / df)
    return weights


def weighted_coverage(weights: dict[str, float], stems: set[str]) -> float:
    """Share of the weighted question stems that `stems` holds, in [0, 1]."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in weights.items() if t in stems) / total


@dataclass
class Window:
    """One sentence of a source, with the context that says what it is about.

    Claims are checked against one sentence at a time: over two, "Le PACS donne droit
    à 5 jours" found every word in "Le mariage donne droit à 5 jours. Le PACS donne
    droit à 4 jours." The context (heading and sentence before) counts for relevance
    only: "Il dure 5 jours." after "Le congé de mariage…" is about marriage."""

    source: int  # index of the source in Evidence.sources
    start: int  # offsets in the source's text
    end: int
    text: str
    context: str  # the window with the sentence before it and the heading
    index: int  # the sentence's place in its source


@dataclass
class Source:
    """A passage the answer may cite: an internal chunk or a web snippet."""

    label: str  # "1" or "W1", as cited
    text: str
    heading: str = ""

    @cached_property
    def lang(self) -> str:
        return detect_language(self.text, default="fr")


@dataclass
class Evidence:
    """The sentences of an answer's sources, scored for the question.

    `relevance(w)` says how much a window bears on the question, relative to the best
    window of all sources (1.0 = as much as the best). Within the question's language
    it is the weighted share of the question's stems in the window's context;
    across languages, the multilingual cosine of question and window, relative to the
    best one."""

    question: str
    lang: str
    sources: list[Source]
    encode: Encode | None = None
    windows: list[Window] = field(init=False)

    def __post_init__(self) -> None:
        self.windows = []
        for i, source in enumerate(self.sources):
            spans = [(s, e) for s, e in sentences(source.text) if e - s >= 3]
            for j, (s, e) in enumerate(spans):
                before = source.text[spans[j - 1][0] : spans[j - 1][1]] if j else ""
                text = source.text[s:e]
                context = " ".join(p for p in (source.heading, before, text) if p)
                self.windows.append(Window(i, s, e, text, context, j))
        self._stems = {id(w): content_stems(w.context, self.lang) for w in self.windows}
        self.weights = term_weights(
            content_stems(self.question, self.lang), list(self._stems.values())
        )
        self._lexical = {
            id(w): weighted_coverage(self.weights, self._stems[id(w)]) for w in self.windows
        }
        self._best_lexical = max(self._lexical.values(), default=0.0)

    def crosses(self, source: Source) -> bool:
        """Is this source in another language than the question (and the answer)?"""
        return source.lang != self.lang

    @cached_property
    def _semantic(self) -> tuple[np.ndarray | None, dict[int, np.ndarray], float]:
        """Multilingual vectors of the question and of each window of a source in
        another language, encoded once on first need, and the best cosine."""
        wanted = [w for w in self.windows if self.crosses(self.sources[w.source])]
        if self.encode is None or not wanted:
            return None, {}, 0.0
        vectors = self.encode([self.question] + [w.text for w in wanted])
        question, rest = vectors[0], vectors[1:]
        by_window = {id(w): rest[i] for i, w in enumerate(wanted)}
        best = max(float(v @ question) for v in rest)
        return question, by_window, best

    def vector(self, window: Window) -> np.ndarray | None:
        """The window's multilingual vector (sources in another language only)."""
        return self._semantic[1].get(id(window))

    @cached_property
    def _all_vectors(self) -> tuple[np.ndarray | None, dict[int, np.ndarray]]:
        """Multilingual vectors of the question and of every window, on first need."""
        if self.encode is None or not self.windows:
            return None, {}
        vectors = self.encode([self.question] + [w.text for w in self.windows])
        return vectors[0], {id(w): vectors[i + 1] for i, w in enumerate(self.windows)}

    def similarity(self, window: Window) -> float:
        """The multilingual cosine of the window and the question, whatever their
        languages (0 without an encoder)."""
        question, by_window = self._all_vectors
        if question is None:
            return 0.0
        return float(by_window[id(window)] @ question)

    def relevance(self, window: Window) -> float:
        """How much the window bears on the question, relative to the best window of
        the same kind (lexical within the language, semantic across), in [0, 1]."""
        if self.crosses(self.sources[window.source]):
            question, by_window, best = self._semantic
            vector = by_window.get(id(window))
            if question is None or vector is None or best <= 0:
                return 0.0
            return max(float(vector @ question), 0.0) / best
        if self._best_lexical <= 0:
            return 0.0
        return self._lexical[id(window)] / self._best_lexical

    def best_for_question(self, source: int) -> Window | None:
        """The source's sentence that bears most on the question (what an
        extractive answer quotes); ties go to the earlier sentence."""
        best: Window | None = None
        best_score = -1.0
        for window in self.windows:
            if window.source != source:
                continue
            score = self.relevance(window)
            if score > best_score:
                best, best_score = window, score
        return best

    def stems(self, window: Window) -> set[str]:
        return self._stems[id(window)]

    def windows_of(self, source: int) -> list[Window]:
        return [w for w in self.windows if w.source == source]
