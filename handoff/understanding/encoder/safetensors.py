"""Reading a `.safetensors` file into numpy arrays, without the safetensors package.

The format is an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and byte range, then the raw little-endian data: a memory map and a view
per tensor, so nothing is copied until a caller asks for a contiguous or transposed
array, and nothing in the file can run code.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["read_safetensors"]

_DTYPES: Mapping[str, str] = MappingProxyType(
    {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1"}
)
# A header larger than this is not a model file we know how to read.
_MAX_HEADER = 100 * 1024 * 1024


def read_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Every tensor in `path` by name, as read-only arrays over a memory map."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        if not 0 < length <= _MAX_HEADER:
            raise ValueError(f"{path}: not a safetensors file (header length {length})")
        header: dict[str, Any] = json.loads(file.read(length))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + length)
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {entry['dtype']}")
        start, end = entry["data_offsets"]
        tensors[name] = data[start:end].view(dtype).reshape(entry["shape"])
    return tensors
