"""The bundled PolyAI data sets (CC BY 4.0, see data/README.md) and their fingerprint.

BANKING77 trains the intent model; NLU++ (banking) measures slot extraction. Both ship
inside the package so a fresh clone or an installed wheel needs nothing else.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

__all__ = [
    "NLUPP_FOLDS",
    "LabelledText",
    "NluExample",
    "data_root",
    "fingerprint",
    "load_banking77",
    "load_intents",
    "load_nlupp",
]

NLUPP_FOLDS = 15


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    intent: str


@dataclass(frozen=True, slots=True)
class NluExample:
    """One NLU++ utterance; `slots` maps a slot name to its raw annotation."""

    fold: int
    text: str
    intents: tuple[str, ...]
    slots: Mapping[str, Mapping[str, Any]]


def data_root() -> Traversable:
    return resources.files("handoff.understanding").joinpath("data")


def _banking77() -> Traversable:
    return data_root().joinpath("banking77")


def load_intents(root: Traversable | None = None) -> tuple[str, ...]:
    """The 77 intent names, in the data set's order."""
    folder = root if root is not None else _banking77()
    names = json.loads(folder.joinpath("categories.json").read_text(encoding="utf-8"))
    return tuple(str(name) for name in names)


def load_banking77(root: Traversable | None = None) -> tuple[LabelledText, ...]:
    """Every row of BANKING77's `train.csv`; raises if a row names an unknown intent."""
    folder = root if root is not None else _banking77()
    known = set(load_intents(folder))
    text = folder.joinpath("train.csv").read_text(encoding="utf-8")
    rows = tuple(
        LabelledText(row["text"], row["category"]) for row in csv.DictReader(io.StringIO(text))
    )
    unknown = {row.intent for row in rows} - known
    if unknown:
        raise ValueError(f"train.csv names intents missing from categories.json: {unknown}")
    return rows


def load_nlupp(folds: Iterable[int] = range(NLUPP_FOLDS)) -> tuple[NluExample, ...]:
    folder = data_root().joinpath("nlupp-banking")
    examples: list[NluExample] = []
    for fold in folds:
        for raw in json.loads(folder.joinpath(f"fold{fold}.json").read_text(encoding="utf-8")):
            examples.append(
                NluExample(
                    fold=fold,
                    text=raw["text"],
                    intents=tuple(raw.get("intents", ())),
                    slots=raw.get("slots", {}),
                )
            )
    return tuple(examples)


def fingerprint(root: Traversable | None = None) -> str:
    """SHA-256 over the training files' bytes: a changed data set gets a new model."""
    folder = root if root is not None else _banking77()
    digest = hashlib.sha256()
    for name in ("categories.json", "train.csv"):
        content = folder.joinpath(name).read_bytes()
        # Length-prefixed, so moving bytes from one file to the other changes the hash.
        digest.update(f"{name}:{len(content)}:".encode())
        digest.update(content)
    return digest.hexdigest()
