"""Which avatar to show and how: plain values from the environment, and building it."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from media.digital_human.avatar import AvatarLayers
from media.digital_human.images import AvatarImageError, AvatarImages

__all__ = ["DEFAULT_FPS", "AvatarConfig", "build_avatar"]

logger = logging.getLogger(__name__)

DEFAULT_FPS = 15.0


@dataclass(frozen=True, slots=True)
class AvatarConfig:
    """`directory`: a bank's avatar pictures (see `images.py`); None: the drawn face."""

    directory: Path | None = None
    width: int = 640
    height: int = 360
    fps: float = DEFAULT_FPS

    def __post_init__(self) -> None:
        if not 1 <= self.fps <= 60:
            raise ValueError("fps must be between 1 and 60")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AvatarConfig:
        """From `TANDEM_AVATAR_DIR` and `TANDEM_AVATAR_FPS`."""
        env = os.environ if environ is None else environ
        directory = env.get("TANDEM_AVATAR_DIR", "").strip()
        fps = env.get("TANDEM_AVATAR_FPS", "").strip()
        return cls(
            directory=Path(directory).expanduser() if directory else None,
            fps=float(fps) if fps else DEFAULT_FPS,
        )


def build_avatar(config: AvatarConfig) -> tuple[AvatarLayers, str]:
    """The avatar ready to render, and a line saying which one (or why not the bank's).

    Blocking (a few tenths of a second): at start-up, once; every call shares the layers
    (`AvatarRenderer.shared(layers, seed=...)`). Pictures that cannot be used leave the
    drawn face in their place rather than no digital human.
    """
    if config.directory is not None:
        try:
            images = AvatarImages.load(config.directory)
            layers = AvatarLayers.build(config.width, config.height, images)
        except AvatarImageError as error:
            logger.warning("avatar pictures in %s not used: %s", config.directory, error)
            status = f"digital human: the drawn face ({config.directory} not used: {error})"
        else:
            blinking = "blinking" if images.blink is not None else "no blink.png: not blinking"
            return layers, (
                f"digital human: the pictures in {config.directory} "
                f"({len(images.mouths)} mouth shapes, {blinking})"
            )
    else:
        status = "digital human: the drawn face (TANDEM_AVATAR_DIR not set)"
    return AvatarLayers.build(config.width, config.height), status
