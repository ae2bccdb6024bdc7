"""Citation recall and precision of ALCE (Gao et al., "Enabling Large Language Models
to Generate Text with Citations", EMNLP 2023, §3.2; `compute_autoais` in
princeton-nlp/ALCE `eval.py`). ALCE uses the TRUE NLI model; here the judge answers
the same entailment question.

For each sentence of the answer with cited passages C:
- the sentence is *recalled* when the concatenation of C entails it (a sentence
  with no citation is not recalled); citation recall = recalled / sentences.
- a citation c of a recalled sentence with several citations is *imprecise* when c
  alone does not entail the sentence while C without c still does (c adds nothing);
  for a single-citation sentence, the citation is precise exactly when the sentence
  is recalled, and every citation of a sentence that is not recalled is imprecise.
  citation precision = precise citations / all citations (0 when there are none).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.text import fold

Entails = Callable[[str, str], bool]
"""entails(premise, hypothesis)"""


@dataclass(frozen=True)
class CitedSentence:
    text: str
    sources: tuple[int, ...]  # indexes into the passages, 0-based


def citation_scores(
    sentences: Sequence[CitedSentence], passages: Sequence[str], entails: Entails
) -> tuple[float, float, list[dict[str, object]]]:
    """(recall, precision, per-sentence detail)."""
    recalled = 0
    precise = 0
    total_citations = 0
    detail: list[dict[str, object]] = []

    def joined(indexes: Sequence[int]) -> str:
        return "\n".join(passages[i] for i in indexes)

    for sentence in sentences:
        cited = list(dict.fromkeys(sentence.sources))
        total_citations += len(cited)
        supported = bool(cited) and entails(joined(cited), sentence.text)
        recalled += supported
        imprecise: list[int] = []
        if supported and len(cited) > 1:
            for c in cited:
                alone = entails(passages[c], sentence.text)
                if not alone and entails(joined([x for x in cited if x != c]), sentence.text):
                    imprecise.append(c)
            precise += len(cited) - len(imprecise)
        elif supported:
            precise += 1
        else:
            imprecise = cited
        detail.append(
            {
                "sentence": sentence.text,
                "cited": cited,
                "recalled": supported,
                "imprecise": imprecise,
            }
        )
    recall = recalled / len(sentences) if sentences else 0.0
    precision = precise / total_citations if total_citations else 0.0
    return recall, precision, detail


def _folded(text: str) -> str:
    return " ".join(re.findall(r"\w+", fold(text)))


def gold_scores(cited: Sequence[tuple[bool, str]], references: Sequence[str]) -> dict[str, float]:
    """Does the answer cite the right place? `cited` holds, per citation, whether its
    document is a gold document and its quote.

    gold_cited: 1 when a citation is in a gold document.
    gold_quote: 1 when a quote is the gold sentence, as far as the data set says: the
      quote holds a reference answer (spf's answers are extractive spans) or a
      reference holds the quote (clapnq's are whole passages), accents and spacing
      ignored. Only with references."""
    scores = {"gold_cited": float(any(gold for gold, _ in cited))}
    refs = [_folded(r) for r in references if r.strip()]
    if refs:
        quotes = [_folded(q) for _, q in cited if q.strip()]
        scores["gold_quote"] = float(
            any(r in q or (len(q) >= 20 and q in r) for q in quotes for r in refs)
        )
    return scores
