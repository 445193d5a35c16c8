"""Separators Tesseract misreads: the middle dot, the en dash and the bullet, from their ink.

Letterheads, return-address lines and footers part their items with a middle dot
("Neumarkt 10 · 42103 Wuppertal"), office names use an en dash ("Ordnungsamt –
Sondernutzungen") and lists a bullet. Tesseract's German model hardly knows these: it
reads a middle dot as "-", "»", "+" or ":", a bullet as "°" or "«", and every dash as a
hyphen. Each of those is one character wrong, on nearly every line of a letterhead and
footer, and "-" between two numbers makes "29 - 45127" look like a range.

The glyph itself tells them apart. For every lone token made of such marks, the ink in its
box is measured against its line's words (ascender to descender); it must sit at mid
height, where dots and dashes stand (a full stop sits on the baseline):

- a small round blob (about as high as wide, under :data:`MAX_DOT` line heights) is a
  middle dot ``·`` - or a bullet ``•`` when it opens the line and is larger;
- a flat bar is an en dash ``–`` when it is at least :data:`MIN_DASH` line heights long,
  else a hyphen ``-``.

A token whose ink fits neither (two marks run together, a stroke of a stamp) is left as
read. A dot Tesseract glued to a word ("91-", "-42369") is split off when the word's
last or first ink shape stands apart and is a dot; a hyphen ending a line and a dash
opening one stay.
A corrected token gets at least :data:`KEPT_CONFIDENCE`: the layout drops tokens
read below Tesseract's noise level, and the ink has just shown what it is.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from mailroom.core.domain import Box, GrayImage, Word
from mailroom.infra.tesseract import NOISE_CONFIDENCE

#: What Tesseract makes of a middle dot, a dash or a bullet (a token of at most two).
LOOKALIKES = frozenset("-»«·•.:+*°~–—")
#: Darker than this is ink (pages are background-normalised).
INK = 150
#: A blob at most this high (line heights) and between these width/height ratios is a dot.
MAX_DOT = 0.3
MAX_BULLET = 0.5
DOT_RATIO = (0.5, 1.9)
#: A bar at least this flat (width/height) is a dash; an en dash at least MIN_DASH long.
BAR_RATIO = 2.5
MIN_DASH = 0.4
KEPT_CONFIDENCE = NOISE_CONFIDENCE + 30.0
#: The ink of a dot or dash sits between these shares of its line's band (word tops to
#: bottoms): a full stop sits on the baseline, a degree sign at the top.
MID_BAND = (0.3, 0.85)
#: Marks Tesseract glues to the word before a middle dot ("91-", "mbB»").
ATTACHED = frozenset("-»+·")


def fix_separators(image: GrayImage, words: Sequence[Word]) -> list[Word]:
    """``words`` with misread middle dots, en dashes and bullets corrected."""
    boxes: dict[int, list[Box]] = {}
    for word in words:
        if sum(ch.isalpha() for ch in word.text) >= 3:
            boxes.setdefault(word.line, []).append(word.box)
    lines = {number: _Line.of(found) for number, found in boxes.items()}
    fixed = []
    for index, word in enumerate(words):
        opens_line = index == 0 or words[index - 1].line != word.line
        ends_line = index + 1 == len(words) or words[index + 1].line != word.line
        line = lines.get(word.line)
        if line is None:
            pass
        elif len(word.text) <= 2 and set(word.text) <= LOOKALIKES:
            mark = _mark(image, word.box, line, opens_line)
            if mark is not None and mark != word.text:
                word = replace(word, text=mark, confidence=max(word.confidence, KEPT_CONFIDENCE))
        elif len(word.text) > 2 and word.text[-1] in ATTACHED and not ends_line:
            # (a hyphen ending a line divides a word: it stays)
            fixed += _split_attached(image, word, line, leading=False)
            continue
        elif len(word.text) > 2 and word.text[0] in ATTACHED and not opens_line:
            # (a dash opening a line starts a list item: it stays)
            fixed += _split_attached(image, word, line, leading=True)
            continue
        fixed.append(word)
    return fixed


@dataclass(frozen=True)
class _Line:
    """A text line's words: their median height and the band from their tops to bottoms."""

    height: float
    top: float
    bottom: float

    @classmethod
    def of(cls, boxes: list[Box]) -> _Line:
        return cls(
            statistics.median(b.height for b in boxes),
            statistics.median(b.top for b in boxes),
            statistics.median(b.top + b.height for b in boxes),
        )

    def mid_height(self, top: float, bottom: float) -> bool:
        """Whether ink from ``top`` to ``bottom`` sits at mid height (a dot or dash), not
        on the baseline (a full stop) or at the top (a degree sign, an apostrophe)."""
        middle = (top + bottom) / 2
        band = max(self.bottom - self.top, 1.0)
        return MID_BAND[0] <= (middle - self.top) / band <= MID_BAND[1]


def _split_attached(image: GrayImage, word: Word, line: _Line, *, leading: bool) -> list[Word]:
    """A middle dot Tesseract glued to the word after or before it ("91-" for "91 ·",
    "-42369" for "· 42369"): two words, when the word's last (``leading``: first) ink
    shape, apart from the rest, is a dot."""
    box = word.box
    ink = (image[box.top : box.top + box.height, box.left : box.left + box.width] < INK).astype(
        np.uint8
    )
    if min(ink.shape) < 2:  # an empty crop (a box at or beyond the edge) crashes OpenCV
        return [word]
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if count < 3:
        return [word]
    shapes = sorted(stats[1:count].tolist(), key=lambda s: s[0] if leading else s[0] + s[2])
    mark, rest = (shapes[0], shapes[1:]) if leading else (shapes[-1], shapes[:-1])
    left, top, width, height, _ = mark
    if leading:
        rest_left = min(s[0] for s in rest)
        gap, rest_box = rest_left - (left + width), (rest_left, box.width - rest_left)
    else:
        rest_right = max(s[0] + s[2] for s in rest)
        gap, rest_box = left - rest_right, (0, rest_right)
    dot = Box(box.left + left, box.top + top, width, height)
    if gap < 2 or _mark(image, dot, line, opens_line=False) != "·":
        return [word]
    other = replace(
        word,
        text=word.text[1:] if leading else word.text[:-1],
        box=Box(box.left + rest_box[0], box.top, rest_box[1], box.height),
    )
    separator = replace(word, text="·", box=dot, confidence=max(word.confidence, KEPT_CONFIDENCE))
    return [separator, other] if leading else [other, separator]


def _mark(image: GrayImage, box: Box, line: _Line, opens_line: bool) -> str | None:
    """The separator the ink in ``box`` shows, or None when it is none of them.

    Tesseract's box of a dot is often narrower than its ink and beside it (1 x 5 pixels
    right of a 4 x 5 dot), so a box narrower than high is widened to a square and a
    little more first.
    """
    pad = min(max(0, (box.height - box.width + 1) // 2) + 2, 6) if box.width < box.height else 0
    left = max(box.left - pad, 0)
    ink = image[box.top : box.top + box.height, left : box.left + box.width + pad] < INK
    rows, cols = np.nonzero(ink)
    if len(rows) == 0:
        return None
    width = int(cols.max() - cols.min()) + 1
    height = int(rows.max() - rows.min()) + 1
    if not line.mid_height(box.top + rows.min(), box.top + rows.max() + 1):
        return None
    line_height, ratio = line.height, width / height
    if DOT_RATIO[0] <= ratio <= DOT_RATIO[1]:
        if height <= MAX_DOT * line_height and not opens_line:
            return "·"
        if height <= MAX_BULLET * line_height and opens_line:
            return "•"
        return None
    if ratio >= BAR_RATIO and height <= MAX_DOT * line_height:
        return "–" if width >= MIN_DASH * line_height else "-"
    return None
