"""Retrieval metrics over ranked lists of relevance flags (1 = a gold document).

hit@k: 1 if a relevant item is in the top k (a.k.a. success@k).
recall@k: share of the gold documents found in the top k.
MRR@k: 1 / rank of the first relevant item within the top k, else 0
  (Voorhees, TREC-8 QA track, 1999).
nDCG@k: DCG of the ranking over the DCG of the ideal ranking, binary gains,
  log2(rank + 1) discount (Järvelin & Kekäläinen, 2002).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def hit_at_k(relevant: Sequence[bool], k: int) -> float:
    return 1.0 if any(relevant[:k]) else 0.0


def mrr_at_k(relevant: Sequence[bool], k: int) -> float:
    for rank, flag in enumerate(relevant[:k], start=1):
        if flag:
            return 1.0 / rank
    return 0.0


def recall_at_k(found_docs: Sequence[str], gold_docs: Sequence[str], k: int) -> float:
    if not gold_docs:
        return 0.0
    return len(set(found_docs[:k]) & set(gold_docs)) / len(set(gold_docs))


def ndcg_at_k(relevant: Sequence[bool], k: int, n_relevant: int) -> float:
    dcg = sum(1.0 / math.log2(r + 1) for r, f in enumerate(relevant[:k], start=1) if f)
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(n_relevant, k) + 1))
    return dcg / ideal if ideal else 0.0
