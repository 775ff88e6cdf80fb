"""Cutting a decoding loop off a transcript (pure)."""

from __future__ import annotations

__all__ = ["repeats", "without_runaway"]


def without_runaway(text: str) -> str:
    """The text up to where it starts repeating itself to the end (a decoding loop).

    A block of three or more words said again (at least three of its words) and again,
    until the text stops, is a loop: the model ran until `max_length`. A repetition that
    stops before the end ("I want to, I want to cancel") is speech and is kept.
    """
    words = text.split()
    plain = [_plain(word) for word in words]
    count = len(plain)
    for start in range(count):
        for period in range(3, count - start - 2):
            tail = count - start - period
            if all(plain[start + period + k] == plain[start + k] for k in range(tail)):
                return " ".join(words[: start + period])
    return text


def repeats(text: str, before: str) -> bool:
    """Whether `text` says `before`, or its beginning, again."""
    said, again = _words(before), _words(text)
    return bool(again) and said[: len(again)] == again


def _words(text: str) -> list[str]:
    return [_plain(word) for word in text.split()]


def _plain(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum())
