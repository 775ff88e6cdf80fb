"""BERT's uncased WordPiece tokenizer, as the MiniLM sentence encoder was trained with.

Basic tokenization (clean, lower-case, strip accents, split CJK characters and
punctuation), then greedy longest-match-first word pieces with the "##" continuation
prefix. A few dozen lines of Python instead of a tokenizer library: the vocabulary file is
all it needs, and it gives the same pieces as Hugging Face's `BertTokenizer` for the
text a bank's customers type.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

__all__ = ["WordPiece"]

_MAX_WORD_CHARS = 100


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    # BERT counts every non-alphanumeric ASCII character as punctuation ("$", "^", "`").
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def _basic_words(text: str) -> list[str]:
    """Whitespace- and punctuation-split, lower-cased, accent-free words of `text`."""
    spaced: list[str] = []
    for char in text:
        code = ord(char)
        if code == 0 or code == 0xFFFD:
            continue
        category = unicodedata.category(char)
        if char in "\t\n\r" or category == "Zs":
            spaced.append(" ")
        elif category in ("Cc", "Cf"):
            continue
        elif _is_cjk(code):
            spaced.append(f" {char} ")
        else:
            spaced.append(char)
    words: list[str] = []
    for token in "".join(spaced).lower().split():
        token = "".join(
            char
            for char in unicodedata.normalize("NFD", token)
            if unicodedata.category(char) != "Mn"
        )
        current: list[str] = []
        for char in token:
            if _is_punctuation(char):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(char)
            else:
                current.append(char)
        if current:
            words.append("".join(current))
    return words


class WordPiece:
    """Text -> BERT token ids ([CLS] ... [SEP]) from a `vocab.txt`."""

    def __init__(self, vocabulary: Mapping[str, int]) -> None:
        self.vocabulary = MappingProxyType(dict(vocabulary))
        self.cls = self.vocabulary["[CLS]"]
        self.sep = self.vocabulary["[SEP]"]
        self.unknown = self.vocabulary["[UNK]"]

    @classmethod
    def from_file(cls, path: Path) -> WordPiece:
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls({line.rstrip("\n"): index for index, line in enumerate(lines)})

    def _pieces(self, word: str) -> list[int]:
        if len(word) > _MAX_WORD_CHARS:
            return [self.unknown]
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found: int | None = None
            while start < end:
                candidate = word[start:end] if start == 0 else f"##{word[start:end]}"
                found = self.vocabulary.get(candidate)
                if found is not None:
                    break
                end -= 1
            if found is None:
                # One unknown piece makes the whole word unknown, as in BERT.
                return [self.unknown]
            pieces.append(found)
            start = end
        return pieces

    def encode(self, text: str, *, max_tokens: int = 128) -> list[int]:
        """Token ids of `text` between [CLS] and [SEP], at most `max_tokens` in all."""
        ids = [self.cls]
        for word in _basic_words(text):
            ids.extend(self._pieces(word))
        del ids[max_tokens - 1 :]
        ids.append(self.sep)
        return ids
