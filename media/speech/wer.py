"""Word error rate, for tests and benchmarks of speech recognition (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["normalise", "word_error_rate", "word_errors"]

# Whisper writes American spelling; banking English here is often British.
_SPELLING = {"recognize": "recognise", "recognized": "recognised", "canceled": "cancelled"}


def normalise(text: str) -> list[str]:
    """Lower case words without punctuation, spelling unified."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
    return [_SPELLING.get(word, word) for word in words]


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions (Levenshtein distance over words)."""
    previous = list(range(len(hypothesis) + 1))
    for i, expected in enumerate(reference, 1):
        current = [i]
        for j, heard in enumerate(hypothesis, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (expected != heard))
            )
        previous = current
    return previous[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Over a set of utterances: total errors / total reference words."""
    if len(references) != len(hypotheses):
        raise ValueError("one hypothesis per reference")
    errors = sum(
        word_errors(normalise(r), normalise(h)) for r, h in zip(references, hypotheses, strict=True)
    )
    words = sum(len(normalise(r)) for r in references)
    return errors / max(words, 1)
