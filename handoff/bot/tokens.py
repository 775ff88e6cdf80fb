"""Turning customer text into search terms: lowercase words, no filler, light stemming.

Stemming is deliberately crude (a few suffix rules, no dictionary): it only has to make
"cards"/"card" and "transferring"/"transfer" meet, and it is applied identically to the
knowledge base and to queries, so an odd stem on both sides still matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["STOPWORDS", "stem", "tokenize"]

# Unicode letters and digits; apostrophes are dropped so "can't" gives "can" + "t".
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Function words plus chat filler ("please", "hello", "want", "help") that says nothing
# about the topic: a greeting in front of a question must not outscore the question.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are aren as at be because been
    before being below between both but by can cannot could couldn d did didn do does
    doesn doing don down during each few for from further had hadn has hasn have haven
    having he her here hers herself him himself his how i if in into is isn it its itself
    just ll m me mightn more most mustn my myself needn no nor not now o of on once only
    or other our ours ourselves out over own re s same shan she should shouldn so some
    such t than that the their theirs them themselves then there these they this those
    through to too under until up ve very was wasn we were weren what when where which
    while who whom why will with won would wouldn y you your yours yourself yourselves
    please pls hi hello hey dear good morning afternoon evening want wanted wants need
    needs like get got think thought really actually help one question work works worked
    working
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

# Irregular forms a suffix rule cannot reach, mapped to a form that stems like the base
# ("froze" meets "freezing", "stolen" meets "steal"), plus a few chat abbreviations.
_IRREGULAR: Mapping[str, str] = MappingProxyType(
    {
        "froze": "freeze",
        "frozen": "freeze",
        "stole": "steal",
        "stolen": "steal",
        "sent": "send",
        "paid": "pay",
        "took": "take",
        "taken": "take",
        "forgot": "forget",
        "forgotten": "forget",
        "lost": "lose",
        "withdrew": "withdraw",
        "withdrawn": "withdraw",
        "withdrawal": "withdraw",
        "withdrawals": "withdraw",
        "gave": "give",
        "given": "give",
        "bought": "buy",
        "came": "come",
        "died": "die",
        "max": "maximum",
        "min": "minimum",
        "acc": "account",
        "acct": "account",
        "txn": "transaction",
    }
)

# "t" is what is left of "n't" once the apostrophe splits "didn't" into "didn" + "t".
_NEGATIONS: frozenset[str] = frozenset(
    {"not", "no", "never", "cannot", "t", "didn", "don", "doesn", "isn", "wasn", "weren"}
    | {"aren", "haven", "hasn", "hadn", "won", "wouldn", "couldn", "shouldn"}
)

_VOWELS = frozenset("aeiouy")
# Double consonants kept when a suffix is stripped ("missing" -> "miss", "calling" -> "call").
_KEEP_DOUBLE = frozenset("lsz")


def tokenize(text: str) -> list[str]:
    """Search terms of `text`, in order; digits are kept ("3d", "24").

    A negated word also yields a "not_" term ("didn't make" gives "not_make"): negations
    are stopwords, yet "a payment I didn't make" is fraud, not a payment question.
    """
    terms: list[str] = []
    negated = False
    for word in _WORD.findall(text.casefold()):
        if word in _NEGATIONS:
            negated = True
            continue
        # A negation only ever reaches the very next word, and only a topical one.
        was_negated, negated = negated, False
        if word in STOPWORDS or (len(word) == 1 and not word.isdigit()):
            continue
        base = stem(_IRREGULAR.get(word, word))
        if was_negated:
            terms.append(f"not_{base}")
        terms.append(base)
    return terms


def stem(word: str) -> str:
    """A light English suffix stemmer (plural, -ing, -ed, -ly, -ize, final e)."""
    if word.isdigit() or len(word) <= 3:
        return word
    if word.endswith("ily") and len(word) > 5:
        word = word[:-3] + "y"  # "temporarily" -> "temporary"
    elif word.endswith(("ies", "ied")) and len(word) > 4:
        word = word[:-3] + "y"  # "enquiries", "applied"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed", "ly"):
        if word.endswith(suffix):
            base = word[: -len(suffix)]
            if len(base) >= 3 and _VOWELS.intersection(base):
                word = _undouble(base)
            break
    if word.endswith("e") and len(word) > 3 and not word.endswith("ee"):
        word = word[:-1]
    if word.endswith("iz"):
        word = word[:-1] + "s"  # American spelling: "authorized" meets "authorised"
    return word


def _undouble(base: str) -> str:
    if len(base) >= 2 and base[-1] == base[-2] and base[-1] not in _KEEP_DOUBLE | _VOWELS:
        return base[:-1]
    return base
