"""A bank's own avatar: pictures of the face at rest, its mouth shapes and closed eyes.

A folder of PNGs (decoded with PyAV, no image library):

* `neutral.png`: the face at rest, mouth closed, eyes open (required);
* `mouth_0.png` ... `mouth_N.png`: the mouth from closed to widest open (at least two);
* `blink.png`: the eyes closed (optional: without it the avatar does not blink);
* `avatar.toml` (optional): `mouth_at = [x, y]` and `blink_at = [x, y]`, where the
  top-left corner of smaller mouth / blink pictures goes on the neutral one, and
  `background = "#rrggbb"` behind transparent pixels and around a picture whose shape
  is not the video's.

A mouth or blink picture the size of the neutral one is a whole picture; a smaller one
is a sprite, blended over the neutral picture by its alpha. Pictures are scaled to fit
the video (16:9 pictures fill it).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

__all__ = ["AvatarImageError", "AvatarImages", "Rgb", "parse_colour"]

Rgb = npt.NDArray[np.uint8]  # (height, width, 3)
_Rgba = npt.NDArray[np.uint8]  # (height, width, 4)

_MAX_SIDE = 4096
_MAX_MOUTHS = 32
_MAX_FILE_BYTES = 20 * 1024 * 1024
DEFAULT_BACKGROUND: tuple[int, int, int] = (214, 224, 236)


class AvatarImageError(ValueError):
    """The avatar's pictures cannot be used (the message says which and why)."""


@dataclass(frozen=True, slots=True, eq=False)
class AvatarImages:
    """RGB pictures of one size: the face at rest, its mouth shapes (closed first), and
    the eyes closed (None: no blinking). `background` fills what the pictures do not
    cover once fitted to a video of another shape."""

    neutral: Rgb
    mouths: tuple[Rgb, ...]
    blink: Rgb | None = None
    background: tuple[int, int, int] = DEFAULT_BACKGROUND

    def __post_init__(self) -> None:
        if len(self.mouths) < 2:
            raise AvatarImageError("an avatar needs at least two mouth shapes")
        shape = self.neutral.shape
        if len(shape) != 3 or shape[2] != 3 or self.neutral.dtype != np.uint8:
            raise AvatarImageError("pictures must be (height, width, 3) uint8 RGB")
        pictures = [*self.mouths, *([self.blink] if self.blink is not None else [])]
        if any(p.shape != shape or p.dtype != np.uint8 for p in pictures):
            raise AvatarImageError("all the avatar's pictures must have the same size")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.neutral.shape[1], self.neutral.shape[0]

    @classmethod
    def load(cls, directory: Path) -> AvatarImages:
        """From a folder laid out as the module says; blocking (start-up)."""
        if not directory.is_dir():
            raise AvatarImageError(f"{directory} is not a folder")
        manifest = _manifest(directory / "avatar.toml")
        background = (
            parse_colour(manifest["background"]) if "background" in manifest else DEFAULT_BACKGROUND
        )
        neutral = _flatten(read_png(directory / "neutral.png"), background)
        paths: list[Path] = []
        while (path := directory / f"mouth_{len(paths)}.png").is_file():
            paths.append(path)
            if len(paths) > _MAX_MOUTHS:
                raise AvatarImageError(f"more than {_MAX_MOUTHS} mouth pictures")
        if len(paths) < 2:
            raise AvatarImageError(f"{directory} needs mouth_0.png and mouth_1.png at least")
        mouths = tuple(
            _place(neutral, read_png(p), manifest.get("mouth_at"), p.name) for p in paths
        )
        blink_path = directory / "blink.png"
        blink = (
            _place(neutral, read_png(blink_path), manifest.get("blink_at"), blink_path.name)
            if blink_path.is_file()
            else None
        )
        return cls(neutral, mouths, blink, background)

    def fitted(self, width: int, height: int) -> AvatarImages:
        """The same pictures scaled to fit `width` x `height`, centred on the background."""
        if self.size == (width, height):
            return self
        source_width, source_height = self.size
        scale = min(width / source_width, height / source_height)
        inner = (
            max(2, round(source_width * scale / 2) * 2),
            max(2, round(source_height * scale / 2) * 2),
        )

        def fit(picture: Rgb) -> Rgb:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            scaled = frame.reformat(width=inner[0], height=inner[1], interpolation="AREA")
            canvas = np.empty((height, width, 3), np.uint8)
            canvas[:] = np.asarray(self.background, np.uint8)
            top, left = (height - inner[1]) // 2, (width - inner[0]) // 2
            canvas[top : top + inner[1], left : left + inner[0]] = scaled.to_ndarray(format="rgb24")
            return canvas

        return AvatarImages(
            fit(self.neutral),
            tuple(fit(m) for m in self.mouths),
            fit(self.blink) if self.blink is not None else None,
            self.background,
        )


def read_png(path: Path) -> _Rgba:
    """A picture file as RGBA (PyAV's image decoders: PNG, also JPEG)."""
    if not path.is_file():
        raise AvatarImageError(f"{path} is missing")
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise AvatarImageError(f"{path} is larger than {_MAX_FILE_BYTES} bytes")
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            picture = np.asarray(frame.to_ndarray(format="rgba"), np.uint8)
    except (av.FFmpegError, StopIteration, OSError) as error:
        raise AvatarImageError(f"{path} is not a readable picture ({error})") from error
    if max(picture.shape[:2]) > _MAX_SIDE:
        raise AvatarImageError(f"{path} is larger than {_MAX_SIDE} pixels on a side")
    return picture


def parse_colour(value: object) -> tuple[int, int, int]:
    text = str(value).strip().lstrip("#")
    if len(text) != 6:
        raise AvatarImageError(f"a colour is #rrggbb, not {value!r}")
    try:
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    except ValueError:
        raise AvatarImageError(f"a colour is #rrggbb, not {value!r}") from None


def _manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise AvatarImageError(f"{path}: {error}") from error


def _flatten(picture: _Rgba, background: tuple[int, int, int]) -> Rgb:
    alpha = picture[..., 3:4].astype(np.float32) / 255.0
    behind = np.asarray(background, np.float32)
    blended = picture[..., :3].astype(np.float32) * alpha + behind * (1.0 - alpha)
    return _even(np.round(blended).astype(np.uint8))


def _even(picture: Rgb) -> Rgb:
    # The video's chroma is at half resolution: both sides must be even.
    height, width = picture.shape[0] // 2 * 2, picture.shape[1] // 2 * 2
    return np.ascontiguousarray(picture[:height, :width])


def _place(neutral: Rgb, picture: _Rgba, at: object, name: str) -> Rgb:
    """`picture` as a whole picture: itself, or blended over `neutral` at `at`."""
    height, width = neutral.shape[:2]
    if picture.shape[0] // 2 * 2 == height and picture.shape[1] // 2 * 2 == width:
        whole = picture[:height, :width]
        x = y = 0
    else:
        if not (isinstance(at, list) and len(at) == 2 and all(isinstance(v, int) for v in at)):
            raise AvatarImageError(
                f"{name} is smaller than neutral.png: say where it goes in avatar.toml "
                "(mouth_at / blink_at = [x, y])"
            )
        x, y = at
        whole = picture
        if x < 0 or y < 0 or x + picture.shape[1] > width or y + picture.shape[0] > height:
            raise AvatarImageError(f"{name} at {at} does not fit inside neutral.png")
    result = neutral.copy()
    region = result[y : y + whole.shape[0], x : x + whole.shape[1]]
    alpha = whole[..., 3:4].astype(np.float32) / 255.0
    region[:] = np.round(
        whole[..., :3].astype(np.float32) * alpha + region.astype(np.float32) * (1.0 - alpha)
    ).astype(np.uint8)
    return result
