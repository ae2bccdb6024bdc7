"""Verification of a generated answer: every sentence kept is supported by the source
sentence it cites, and that sentence bears on the question; the rest is re-attributed
or removed.

For each sentence of the draft (rag.answer.citations parses them with their `[n]` markers):
1. each cited source is searched for the sentence that supports the answer's
   sentence and bears on the question; a cited source without one loses its citation;
2. a sentence left with no citation (it cited none, only numbers that do not exist,
   or only sources that fail) is attributed post hoc to the best such window of any
   source, if one passes;
3. otherwise it is removed, with the reason.
The rule users rely on: cited and verified, or not said.

Support within the question's language is lexical (rag.answer.citations.support_score: content
stems, numbers weigh double). Across languages no word is shared, so it is the
multilingual cosine of claim and sentence. In both, a number the claim states is a
hard anchor: one that is neither in the source sentence nor in the question makes
the claim unsupported ("4 jours" against "5 jours" is the typical invention).
Bearing on the question is rag.answer.evidence's relevance, relative to the best sentence of
the sources: a claim that repeats the paid-leave sentence does not answer a question
about marriage leave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.answer.citations import Statement, support_score
from rag.answer.evidence import Evidence, Window, numbers
from rag.text import content_stems

# Reasons a sentence is removed, as the API reports them.
UNSUPPORTED = "unsupported"  # no source sentence says it
OFF_TOPIC = "off_topic"  # a source says it, but not in a sentence about the question
RESTATES = "restates_question"  # it says nothing the question did not already say


@dataclass(frozen=True)
class VerifySettings:
    support_threshold: float = 0.5
    relevance_ratio: float = 0.75
    cross_language_support: float = 0.45


@dataclass
class Check:
    """The best window of one source for one sentence."""

    window: Window
    support: float
    relevance: float
    supported: bool  # support and relevance both pass
    label: str = ""  # how the answer cites its source: "1", "W2"


@dataclass
class Removal:
    text: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "reason": self.reason}


@dataclass
class Verified:
    text: str  # the sentence, markers removed
    checks: list[Check]  # one per source it now cites, in citation order
    reattributed: bool = False  # its citations are not the ones the model wrote


@dataclass
class Verification:
    kept: list[Verified] = field(default_factory=list)
    removed: list[Removal] = field(default_factory=list)

    def text(self) -> str:
        """The answer from the kept sentences, each ending with its markers."""
        parts = []
        for sentence in self.kept:
            body = sentence.text.rstrip()
            end = body[-1] if body and body[-1] in ".!?" else "."
            body = body[:-1].rstrip() if body and body[-1] in ".!?" else body
            markers = "".join(
                f"[{label}]" for label in dict.fromkeys(c.label for c in sentence.checks)
            )
            parts.append(f"{body} {markers}{end}")
        return " ".join(parts)


class Verifier:
    """Checks the sentences of one answer against its sources (rag.answer.evidence)."""

    def __init__(self, evidence: Evidence, settings: VerifySettings) -> None:
        self.evidence = evidence
        self.settings = settings
        self._claim_vectors: dict[str, np.ndarray] = {}
        self._question_numbers = numbers(evidence.question)

    def verify(self, statements: list[Statement], labels: dict[str, int]) -> Verification:
        """`labels` maps what a statement cites ("1", "W2") to the source's index."""
        result = Verification()
        question = content_stems(self.evidence.question, self.evidence.lang)
        for statement in statements:
            if not content_stems(statement.text, self.evidence.lang) - question:
                # "Les conséquences de l'inaptitude physique sont [1]." finds every word
                # in its source because every word is the question's: no answer.
                result.removed.append(Removal(statement.text, RESTATES))
                continue
            cited = [str(n) for n in statement.sources] + [f"W{n}" for n in statement.web]
            indexes = [labels[c] for c in cited if c in labels]
            checks = [c for c in (self.check(statement.text, i) for i in indexes) if c]
            kept = [c for c in checks if c.supported]
            reattributed = False
            if not kept:
                best = self.attribute(statement.text)
                if best is not None:
                    kept, reattributed = [best], True
            if kept:
                for check in kept:
                    check.label = self.evidence.sources[check.window.source].label
                result.kept.append(Verified(statement.text, kept, reattributed))
            else:
                reason = OFF_TOPIC if self._said_off_topic(statement.text) else UNSUPPORTED
                result.removed.append(Removal(statement.text, reason))
        return result

    def check(self, claim: str, source: int) -> Check | None:
        """The source's window that best supports the claim among those bearing on
        the question (or, failing that, its best-supporting window, flagged)."""
        best: Check | None = None
        for window in self.evidence.windows_of(source):
            check = self._score(claim, window)
            if best is None or (check.supported, check.support) > (best.supported, best.support):
                best = check
        return best

    def attribute(self, claim: str) -> Check | None:
        """Post-hoc attribution: the best supported window of any source, or None."""
        checks = [
            c for i in range(len(self.evidence.sources)) if (c := self.check(claim, i)) is not None
        ]
        supported = [c for c in checks if c.supported]
        return max(supported, key=lambda c: (c.support, c.relevance), default=None)

    def _said_off_topic(self, claim: str) -> bool:
        """Does some source support the claim, only not in a sentence about the
        question? (The reason reported for its removal.)"""
        for window in self.evidence.windows:
            if self._support(claim, window) >= self._threshold(window):
                return True
        return False

    def _threshold(self, window: Window) -> float:
        if self.evidence.crosses(self.evidence.sources[window.source]):
            return self.settings.cross_language_support
        return self.settings.support_threshold

    def _support(self, claim: str, window: Window) -> float:
        if not numbers(claim) <= numbers(window.text) | self._question_numbers:
            return 0.0
        source = self.evidence.sources[window.source]
        if not self.evidence.crosses(source):
            return support_score(claim, window.text, self.evidence.lang)
        vector = self.evidence.vector(window)
        if vector is None:  # no multilingual encoder: nothing vouches for it
            return 0.0
        return max(float(self._claim_vector(claim) @ vector), 0.0)

    def _claim_vector(self, claim: str) -> np.ndarray:
        if claim not in self._claim_vectors:
            assert self.evidence.encode is not None
            self._claim_vectors[claim] = self.evidence.encode([claim])[0]
        return self._claim_vectors[claim]

    def _score(self, claim: str, window: Window) -> Check:
        score = self._support(claim, window)
        relevance = self.evidence.relevance(window)
        supported = score >= self._threshold(window) and relevance >= self.settings.relevance_ratio
        return Check(window, score, relevance, supported)
