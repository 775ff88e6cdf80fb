"""Text normalisation and the n-gram analysers the intent model is built on.

Training and serving call exactly these functions, so a feature seen in training is
spelled the same at query time without sharing any fitted state but the vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["char_ngrams", "normalise", "word_ngrams"]

# Contractions are expanded so "can't", "cannot" and "can not" become one feature: the
# negation decides intents like "card_not_working" vs "card_arrival".
_CONTRACTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\bcan'?t\b", "can not"),
        (r"\bcannot\b", "can not"),
        (r"\bwon'?t\b", "will not"),
        (r"n't\b", " not"),
        (r"'m\b", " am"),
        (r"'re\b", " are"),
        (r"'ve\b", " have"),
        (r"'ll\b", " will"),
        (r"'d\b", " would"),
    )
)

# A currency symbol says the same as its name ("£20" asks what "20 pounds" asks).
_CURRENCY_WORDS: Mapping[str, str] = MappingProxyType(
    {"£": " pound ", "$": " dollar ", "€": " euro ", "¥": " yen "}
)
_CURRENCY = re.compile("[£$€¥]")
# A sum of money with its currency ("45.20 EUR", "€45", "GBP 20") is a slot, not the
# intent: as one word, "a card payment of 45.20 EUR I don't know" asks what "a card
# payment of an amount I don't know" asks (its confidence went from 0.30 to ~0.9). A
# currency without a number ("exchange rate for EUR") stays what it is.
_CODES = r"(?:eur|euros?|usd|gbp|chf|jpy|dollars?|pounds?|yen|francs?|quid|bucks)"
_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_AMOUNT = re.compile(
    rf"[£$€¥]\s*{_NUMBER}(?:\s*{_CODES}\b)?|{_NUMBER}\s*{_CODES}\b|\b{_CODES}\s*{_NUMBER}"
)
_APOSTROPHES = re.compile("[\u2019\u2018`´]")
# Which number a customer typed rarely decides the intent, that there is one often does.
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


def normalise(text: str) -> str:
    """Lower-case `text`, expand contractions, sums of money to one word, spell currency
    symbols, collapse numbers."""
    text = _APOSTROPHES.sub("'", text.casefold())
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    text = _AMOUNT.sub(" amount ", text)
    text = _CURRENCY.sub(lambda match: _CURRENCY_WORDS[match.group(0)], text)
    return _DIGITS.sub(" 0 ", text)


def word_ngrams(text: str, *, sizes: tuple[int, int] = (1, 2)) -> list[str]:
    """Word n-grams of already `normalise`d text, joined by a space."""
    words = _WORD.findall(text)
    low, high = sizes
    grams: list[str] = []
    for n in range(low, high + 1):
        grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams


def char_ngrams(text: str, *, sizes: tuple[int, int] = (2, 5)) -> list[str]:
    """Character n-grams inside each space-padded word of `normalise`d text.

    Staying inside words (scikit-learn's "char_wb") makes the features robust to typos
    and inflections ("transfered", "transfers") without the cross-word noise.
    """
    low, high = sizes
    grams: list[str] = []
    for word in text.split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, min(high, length) + 1):
            grams.extend(padded[i : i + n] for i in range(length - n + 1))
    return grams
