"""Short answers a flow must recognise itself: yes, no, cancel, and "someone used my card".

Matched on whole phrases, not words: "stop my card" is a request to freeze, not "stop".
"""

from __future__ import annotations

import re

__all__ = ["is_cancel", "is_no", "is_plain_no", "is_yes", "normalize", "reports_compromise"]

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Politeness around an answer that does not change it: "ok, cancel please".
_FILLER: frozenset[str] = frozenset(
    {"please", "pls", "just", "ok", "okay", "oh", "actually", "thanks", "thank", "you", "then"}
)
_CANCEL: frozenset[str] = frozenset(
    {
        "cancel",
        "cancel that",
        "cancel it",
        "cancel this",
        "stop",
        "stop it",
        "stop that",
        "stop this",
        "never mind",
        "nevermind",
        "forget it",
        "forget about it",
        "leave it",
        "quit",
        "abort",
        "exit",
        "no stop",
        "no cancel",
        "don't bother",
        "not now",
    }
)
_YES: frozenset[str] = frozenset(
    {
        "y",
        "yes",
        "yeah",
        "yep",
        "yup",
        "sure",
        "ok",
        "okay",
        "go ahead",
        "please do",
        "do it",
        "confirm",
        "confirmed",
        "correct",
        "right",
        "that's right",
        "absolutely",
        "of course",
        "please",
    }
)
_YES_FIRST: frozenset[str] = frozenset({"yes", "yeah", "yep", "yup", "sure", "confirm"})
_NO: frozenset[str] = frozenset(
    {"n", "no", "nope", "nah", "don't", "do not", "no thanks", "no thank you", "not yet"}
)
_NO_FIRST: frozenset[str] = frozenset({"no", "nope", "nah", "don't"})
_SENTENCE_END = re.compile(r"[.?!;]+")
_NEGATIONS: frozenset[str] = frozenset({"no", "not", "don't", "dont", "never", "nope"})

# Someone else has or used the card: a fraud case for people, never a self-service task.
_COMPROMISE = re.compile(
    r"\b(?:someone|somebody|some one|a stranger|another person)\b.*"
    r"\b(?:used|using|uses|spent|took money|made (?:a )?payments?|withdrew)\b"
    r"|\b(?:fraud|fraudulent|unauthori[sz]ed|compromised|hacked|skimmed|cloned|scammed)\b"
    r"|\b(?:didn't|did not|never) (?:make|made|authori[sz]e)\b"
    r"|\bdon't recogni[sz]e\b|\bdo not recogni[sz]e\b"
)


def normalize(text: str) -> str:
    """Lower case words separated by one space, curly apostrophes made straight."""
    flat = text.lower().replace("\u2019", "'").replace("`", "'")
    return " ".join(_WORD.findall(flat))


def _words(text: str) -> list[str]:
    return normalize(text).split()


def _without_filler(text: str) -> str:
    return " ".join(w for w in _words(text) if w not in _FILLER)


def is_cancel(text: str) -> bool:
    return _without_filler(text) in _CANCEL


def is_yes(text: str) -> bool:
    words = _words(text)
    phrase = " ".join(words)
    if phrase in _YES or _without_filler(text) in _YES:
        return True
    return bool(words) and words[0] in _YES_FIRST and not _NEGATIONS & set(words[1:])


def is_plain_no(text: str) -> bool:
    """A bare "no" (not "no, the credit card"): at a question other than a confirmation it
    means the customer does not want to go on."""
    return " ".join(_words(text)) in _NO or _without_filler(text) in _NO


def is_no(text: str) -> bool:
    words = _words(text)
    if " ".join(words) in _NO or _without_filler(text) in _NO:
        return True
    return bool(words) and words[0] in _NO_FIRST


def reports_compromise(text: str) -> bool:
    """Whether the customer says someone else used (or may use) their card."""
    sentences = _SENTENCE_END.split(text)
    return any(_COMPROMISE.search(normalize(sentence)) for sentence in sentences)
