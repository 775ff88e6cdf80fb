"""Piper's encoding of IPA phonemes as the ids its voices take (pure)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

__all__ = ["phoneme_ids"]

_PAD, _BOS, _EOS = "_", "^", "$"


def phoneme_ids(phonemes: str, id_map: Mapping[str, Sequence[int]]) -> list[int]:
    """Piper's encoding. Symbols the voice does not know are left out."""
    ids = [*id_map[_BOS], *id_map[_PAD]]
    for symbol in unicodedata.normalize("NFD", phonemes):
        known = id_map.get(symbol)
        if known is not None:
            ids.extend(known)
            ids.extend(id_map[_PAD])
    ids.extend(id_map[_EOS])
    return ids
