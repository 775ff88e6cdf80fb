"""The sentence encoder's own parts that need no model: WordPiece and safetensors."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from handoff.understanding.encoder.safetensors import read_safetensors
from handoff.understanding.encoder.wordpiece import WordPiece

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "runn", "##ing", ",",
         "cafe", "£", "0", "我"]  # fmt: skip


@pytest.fixture
def pieces() -> WordPiece:
    return WordPiece({token: index for index, token in enumerate(VOCAB)})


def tokens(wordpiece: WordPiece, text: str, **kwargs: int) -> list[str]:
    return [VOCAB[i] for i in wordpiece.encode(text, **kwargs)]


def test_words_split_into_the_longest_known_pieces(pieces: WordPiece) -> None:
    assert tokens(pieces, "Unaffable, RUNNING") == [
        "[CLS]", "un", "##aff", "##able", ",", "runn", "##ing", "[SEP]",
    ]  # fmt: skip


def test_accents_are_stripped_and_punctuation_and_cjk_split(pieces: WordPiece) -> None:
    assert tokens(pieces, "Café,我£") == ["[CLS]", "cafe", ",", "我", "£", "[SEP]"]


def test_a_word_with_an_unknown_piece_is_one_unknown_token(pieces: WordPiece) -> None:
    assert tokens(pieces, "unaffablex running") == ["[CLS]", "[UNK]", "runn", "##ing", "[SEP]"]


def test_control_characters_vanish_and_whitespace_separates(pieces: WordPiece) -> None:
    assert tokens(pieces, "un\u200b\taff\x00") == ["[CLS]", "un", "[UNK]", "[SEP]"]


def test_long_text_is_cut_but_keeps_its_end_marker(pieces: WordPiece) -> None:
    cut = tokens(pieces, "running " * 50, max_tokens=6)
    assert cut == ["[CLS]", "runn", "##ing", "runn", "##ing", "[SEP]"]


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        dtype = {"float32": "F32", "int64": "I64"}[str(array.dtype)]
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}  # fmt: skip
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def test_safetensors_arrays_come_back_with_their_shape_and_values(tmp_path: Path) -> None:
    weights = np.arange(12, dtype=np.float32).reshape(3, 4)
    ids = np.arange(5, dtype=np.int64)
    write_safetensors(tmp_path / "m.safetensors", {"w": weights, "ids": ids})
    read = read_safetensors(tmp_path / "m.safetensors")
    assert set(read) == {"w", "ids"}
    np.testing.assert_array_equal(read["w"], weights)
    np.testing.assert_array_equal(read["ids"], ids)


def test_a_file_that_is_not_safetensors_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError, match="not a safetensors file"):
        read_safetensors(tmp_path / "bad")
