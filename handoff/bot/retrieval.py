"""Okapi BM25 over short documents, precomputed so a query costs one dict walk per term.

Every term's contribution to every document is independent of the query, so it is
computed once at build time; a query then sums posting weights for its distinct terms.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from handoff.bot.tokens import tokenize

__all__ = ["Bm25Index", "Hit"]


@dataclass(frozen=True, slots=True)
class Hit:
    doc_index: int
    score: float


class Bm25Index:
    """An immutable BM25 index; `k1` saturates term frequency, `b` normalises length."""

    def __init__(
        self,
        documents: Sequence[str],
        *,
        k1: float = 1.5,
        b: float = 0.75,
        tokenizer: Callable[[str], list[str]] = tokenize,
    ) -> None:
        self._tokenize = tokenizer
        self._size = len(documents)
        tokenized = [tokenizer(doc) for doc in documents]
        average_length = (sum(map(len, tokenized)) / self._size) if self._size else 0.0
        frequencies = [Counter(terms) for terms in tokenized]
        document_frequency: Counter[str] = Counter()
        for counts in frequencies:
            document_frequency.update(counts.keys())
        postings: dict[str, dict[int, float]] = {}
        for index, counts in enumerate(frequencies):
            length = len(tokenized[index])
            norm = k1 * (1.0 - b + b * length / average_length) if average_length else k1
            for term, tf in counts.items():
                weight = self._idf(document_frequency[term]) * tf * (k1 + 1.0) / (tf + norm)
                postings.setdefault(term, {})[index] = weight
        self._postings = MappingProxyType(
            {term: MappingProxyType(docs) for term, docs in postings.items()}
        )

    def __len__(self) -> int:
        return self._size

    def _idf(self, containing: int) -> float:
        # The Lucene form: never negative, so a term in most documents still counts a bit
        # instead of penalising the documents that contain it.
        return math.log(1.0 + (self._size - containing + 0.5) / (containing + 0.5))

    def scores(self, query: str) -> dict[int, float]:
        """Every document that shares a term with `query`, with its BM25 score."""
        totals: dict[int, float] = {}
        # Distinct terms only: repeating a word in a query should not count it twice.
        for term in dict.fromkeys(self._tokenize(query)):
            for index, weight in self._postings.get(term, {}).items():
                totals[index] = totals.get(index, 0.0) + weight
        return totals

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The `k` best-scoring documents, best first (ties: earlier document first)."""
        if k <= 0:
            return []
        best = heapq.nsmallest(k, self.scores(query).items(), key=lambda it: (-it[1], it[0]))
        return [Hit(index, score) for index, score in best]
