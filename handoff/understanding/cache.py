"""The on-disk cache of trained intent models, keyed by what the model was built from.

The key hashes the training data, MODEL_VERSION and the library versions that shape the
result, so a changed data set, feature code or scikit-learn gets a fresh build instead of
a stale model. Files are written to a temporary name and renamed into place: a reader
never sees half a file, and two processes building at once both end with a whole model
(the last rename wins; both files are identical in content).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from handoff.understanding.model import IntentModel

__all__ = ["ModelCache", "default_cache_dir"]

_ENV_DIR = "TANDEM_UNDERSTANDING_CACHE_DIR"


def default_cache_dir() -> Path:
    """`$TANDEM_UNDERSTANDING_CACHE_DIR`, else `$XDG_CACHE_HOME/tandem/understanding`."""
    explicit = os.environ.get(_ENV_DIR)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tandem" / "understanding"


class ModelCache:
    """Intent models under `directory`, one file per key."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else default_cache_dir()

    @staticmethod
    def key(**parts: str) -> str:
        canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def path(self, key: str) -> Path:
        return self.directory / f"intent-{key}.npz"

    def load(self, key: str) -> IntentModel | None:
        """The cached model, or None when absent or unreadable (it is then rebuilt)."""
        path = self.path(key)
        try:
            return IntentModel.load(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError):
            # A truncated or foreign file is not fatal: the caller rebuilds and replaces it.
            return None

    def store(self, key: str, model: IntentModel) -> Path:
        def write(target: Path) -> None:
            with target.open("wb") as file:
                model.save(file)
                file.flush()
                os.fsync(file.fileno())

        return self.write_file(self.path(key).name, write)

    def write_file(self, name: str, write: Callable[[Path], None]) -> Path:
        """Create `name` in the cache by `write(temporary path)`, then rename it into place."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / name
        handle, temporary = tempfile.mkstemp(
            dir=self.directory, prefix=f".{target.stem}.", suffix=".tmp"
        )
        os.close(handle)
        try:
            write(Path(temporary))
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target

    def load_or_build(self, key: str, build: Callable[[], IntentModel]) -> IntentModel:
        cached = self.load(key)
        if cached is not None:
            return cached
        model = build()
        self.store(key, model)
        return model
