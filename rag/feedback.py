"""What the admins make of the question log and the ratings (rag.store.questions):
the gap report, and rated answers as eval cases (docs/feedback.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from rag.embedding import Embedder
from rag.store.questions import Feedback, GapCandidate
from rag.text import detect_language

EXAMPLES = 5  # example questions shown per topic


def cluster(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Group rows of `vectors` (unit length) by average-linkage agglomeration: the two
    groups whose mean pairwise cosine is highest merge, while it is >= `threshold`.
    Groups largest first, each in row order.

    Why not k-means (faiss.Kmeans): it needs the number of topics up front, which is
    what the report is to find out, puts every stray question into some topic, and
    depends on its random start. A threshold on similarity needs none of that, is
    deterministic, and average linkage does not chain unrelated questions together
    through one in between as single linkage does. It is O(n^2) in memory and about
    O(n^3) in time, so the report takes the newest questions only (a few hundred to a
    thousand: well under a second in numpy)."""
    n = len(vectors)
    if n == 0:
        return []
    members: list[list[int]] = [[i] for i in range(n)]
    sums = (vectors @ vectors.T).astype(np.float64)  # sums of pairwise cosines
    sizes = np.ones(n)
    alive = np.ones(n, dtype=bool)
    np.fill_diagonal(sums, -np.inf)
    while True:
        average = sums / np.outer(sizes, sizes)
        average[~alive, :] = -np.inf
        average[:, ~alive] = -np.inf
        flat = int(np.argmax(average))
        a, b = divmod(flat, n)
        if average[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        # Lance-Williams for average linkage, on sums: sum(A+B, C) = sum(A, C) + sum(B, C).
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        sums[a, a] = -np.inf
        sizes[a] += sizes[b]
        alive[b] = False
        members[a] += members[b]
        members[b] = []
    groups = [sorted(m) for m in members if m]
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def embed_questions(embedder: Embedder, questions: list[str]) -> np.ndarray:
    """Questions as unit vectors for comparing with one another. Passage-side
    vectors: a blended embedder's (rag.embedding.BlendedEmbedder) hold the retrieval
    model's and the multilingual encoder's halves alike, so a French and an English
    question on one topic are close, while its query vectors are weighted for
    comparing with passages and are not of unit length."""
    vectors = np.asarray(embedder.embed_documents(questions), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def gap_report(
    candidates: list[GapCandidate], embedder: Embedder, threshold: float
) -> dict[str, Any]:
    """The candidates grouped by topic, largest topic first: each with its count, how
    many were not found and how many rated down, example questions (newest first)
    and the documents the down-rated answers cited (the ones that did not help)."""
    if not candidates:
        return {"questions": 0, "topics": []}
    vectors = embed_questions(embedder, [c.question for c in candidates])
    topics = []
    for group in cluster(vectors, threshold):
        members = [candidates[i] for i in group]
        cited: Counter[tuple[int, str]] = Counter()
        for c in members:
            for doc in {(int(x["document_id"]), str(x["title"])) for x in c.citations}:
                cited[doc] += 1
        examples = list(dict.fromkeys(c.question for c in members))[:EXAMPLES]
        topics.append(
            {
                "count": len(members),
                "not_found": sum(c.reason == "not_found" for c in members),
                "down": sum(c.reason == "down" for c in members),
                "examples": examples,
                "answer_ids": [c.answer_id for c in members],
                "documents": [
                    {"document_id": doc_id, "title": title, "count": count}
                    for (doc_id, title), count in cited.most_common(5)
                ],
                "last_asked_at": max(c.asked_at for c in members),
            }
        )
    return {"questions": len(candidates), "topics": topics}


def eval_case(feedback: Feedback, doc_ids: Iterable[str] = ()) -> dict[str, Any]:
    """A rating as one line of an eval question set (eval/datasets.py reads it).

    - rated up: the answer was right. Answered: answerable, the answer itself is the
      reference and the cited documents (`doc_ids`, file stems) the gold ones.
      Answered not_found: the documents do not hold it (answerable false).
    - rated down with a correction: answerable, the correction is the reference; no
      gold documents (those cited backed a wrong answer).
    - rated down without one: answerable, no reference. If it was answered not_found,
      abstention is what the case measures (the employee expected an answer); if it
      was answered, the judged metrics (faithfulness, relevancy, citations) score the
      new answer. Either way the rater's comment and the rejected answer travel with
      the case for whoever reviews it.
    Extra keys (`source`, `feedback`) are ignored by the eval's loader."""
    up = feedback.rating == "up"
    answered = feedback.mode != "not_found"
    if up:
        answerable = answered
        references = [feedback.answer] if answered else []
        gold = sorted(set(doc_ids)) if answered else []
    else:
        answerable = True
        references = [feedback.correct_answer] if feedback.correct_answer else []
        gold = []
    return {
        "id": f"feedback-{feedback.answer_id}-{feedback.key_id}",
        "question": feedback.question,
        "reference_answers": references,
        "doc_ids": gold,
        "answerable": answerable,
        "lang": detect_language(feedback.question),
        "source": "feedback",
        "feedback": {
            "answer_id": feedback.answer_id,
            "rating": feedback.rating,
            "comment": feedback.comment,
            "rated_answer": feedback.answer,
            "mode": feedback.mode,
            "model": feedback.model,
            "settings_fingerprint": feedback.settings_fingerprint,
            "rated_at": feedback.rated_at,
        },
    }
