"""Cutting text to speak into pieces that are synthesised one after the other.

A voice model renders a whole piece before any of it can be played, so the first piece
decides how soon the customer hears something: it is kept short (`first_words`), even if
that cuts a sentence in two. The other pieces are whole sentences, which sound best.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Clause", "plan_pieces", "split_clauses"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE = re.compile(r"([^,;:.!?]+)([,;:.!?]*)")


@dataclass(frozen=True, slots=True)
class Clause:
    """Words, and the punctuation after them ("" when there is none)."""

    text: str
    punctuation: str

    @property
    def words(self) -> list[str]:
        return self.text.split()


def split_clauses(sentence: str) -> list[Clause]:
    clauses = []
    for match in _CLAUSE.finditer(sentence):
        text = " ".join(match.group(1).split())
        if text:
            clauses.append(Clause(text, match.group(2)[:1]))
    return clauses


def plan_pieces(text: str, *, first_words: int = 3) -> list[list[Clause]]:
    """Pieces of clauses: a short first one, then a sentence each.

    `first_words`: the first piece ends at the first clause boundary within this many
    words (plus two, to spare a short tail), else after this many words. 0: no limit.
    """
    sentences = [split_clauses(s) for s in _SENTENCE_END.split(text.strip())]
    pieces = [s for s in sentences if s]
    if not pieces or first_words <= 0:
        return pieces
    first, rest = pieces[0], pieces[1:]
    head: list[Clause] = []
    count = 0
    for index, clause in enumerate(first):
        words = clause.words
        if count + len(words) <= first_words + 2:
            head.append(clause)
            count += len(words)
            if count >= first_words and index + 1 < len(first):
                return [head, first[index + 1 :], *rest]
            continue
        if count:
            return [head, first[index:], *rest]
        cut = first_words
        return [
            [Clause(" ".join(words[:cut]), "")],
            [Clause(" ".join(words[cut:]), clause.punctuation), *first[index + 1 :]],
            *rest,
        ]
    return [head, *rest]
