"""The slate's text: drawn with the built-in bitmap font, encoded once per text, replayed."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import pytest

from media.assets import HOLD_LINES, WAITING_LINES, CallAssets, waiting_lines
from media.bitmap_font import CELL_HEIGHT, GLYPHS, text_mask
from media.frames import vp8_dimensions, vp8_is_keyframe
from media.slate import EncodedSlate, SlatePainter, render_slate


def luma(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    rows = np.frombuffer(bytes(plane), np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, : frame.width].astype(np.int16)


def decode(keyframe: bytes) -> av.VideoFrame:
    decoder = av.CodecContext.create("libvpx", "r")
    (frame,) = decoder.decode(av.Packet(keyframe))
    return frame


def test_text_is_drawn_letter_by_letter_at_the_chosen_scale() -> None:
    one = text_mask("Hi 3", 1)
    assert one.shape == (CELL_HEIGHT, 4 * 6 - 1)
    assert np.array_equal(one[:, 0:6], GLYPHS["H"][:, :6])
    assert not one[:, 12:17].any(), "a space is blank"
    assert text_mask("Hi 3", 3).shape == (3 * CELL_HEIGHT, 3 * (4 * 6 - 1))
    # Letters it lacks are blanks, not errors.
    assert not text_mask("\u00e9", 2).any()
    with pytest.raises(ValueError, match="scale"):
        text_mask("x", 0)


def test_every_glyph_fits_its_cell_and_is_not_empty() -> None:
    for char, glyph in GLYPHS.items():
        assert glyph.shape == (CELL_HEIGHT, 6), char
        assert not glyph[:, 5].any(), f"{char!r} touches the gap column"
        assert glyph.any() or char == " ", char


def test_the_slate_changes_where_its_text_does() -> None:
    plain = luma(render_slate(320, 240))
    waiting = luma(render_slate(320, 240, lines=WAITING_LINES))
    second = luma(render_slate(320, 240, lines=waiting_lines(2)))
    third = luma(render_slate(320, 240, lines=waiting_lines(3)))
    assert (waiting != plain).any()
    changed = np.argwhere(second != third)
    # Only the digit differs: a small box on the right of the second line.
    rows, cols = changed[:, 0], changed[:, 1]
    assert rows.min() > 120 and cols.min() > 200 and cols.max() - cols.min() < 20
    # The text is white on the panel, inside the panel.
    assert second.max() == 235
    assert (second[:60] == plain[:60]).all()


def test_text_too_long_for_a_small_slate_is_cut_not_refused() -> None:
    frame = render_slate(64, 48, lines=("A line far too long for such a small picture",))
    assert (frame.width, frame.height) == (64, 48)


def test_the_painter_encodes_each_text_once_and_forgets_the_oldest() -> None:
    painter = SlatePainter(64, 48)
    keyframe = painter.paint(("On hold",))
    assert vp8_is_keyframe(keyframe) and vp8_dimensions(keyframe) == (64, 48)
    assert painter.paint(("On hold",)) is keyframe
    assert painter.painted(("Else",)) is None
    for n in range(70):
        painter.paint((str(n),))
    assert painter.painted(("On hold",)) is None
    assert painter.painted(("69",)) is not None


async def test_painting_off_the_loop_is_shared_by_everyone_waiting() -> None:
    painter = SlatePainter(64, 48)
    lines = waiting_lines(7)
    first, second = await asyncio.gather(painter.paint_soon(lines), painter.paint_soon(lines))
    assert first is second
    assert painter.painted(lines) is first
    # Decoded, it is the picture render_slate draws (up to the codec's loss).
    drawn = luma(render_slate(64, 48, lines=lines))
    assert float(np.abs(luma(decode(first)) - drawn).mean()) < 8


def test_a_slate_shows_a_new_picture_from_its_next_frame() -> None:
    painter = SlatePainter(64, 48)
    slate = EncodedSlate(painter.paint(()), fps=50.0)
    held = painter.paint(HOLD_LINES)

    async def next_data() -> bytes:
        return (await slate.next_frame()).data

    assert asyncio.run(next_data()) == painter.paint(())
    slate.show(held)
    assert asyncio.run(next_data()) == held
    with pytest.raises(ValueError, match="keyframe"):
        slate.show(b"\x01not a keyframe")


def test_call_assets_paint_the_common_slates_at_start_up() -> None:
    assets = CallAssets.build(slate=EncodedSlate.render(64, 48))
    for lines in (WAITING_LINES, HOLD_LINES, waiting_lines(1)):
        assert assets.painter.painted(lines) is not None
    assert (assets.painter.width, assets.painter.height) == (64, 48)
