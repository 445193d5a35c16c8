"""Segments: a page's words as runs of one Tesseract line, cleaned for layout analysis.

A Tesseract line is split where two neighbouring words leave a gap of more than
:data:`SEGMENT_GAP` line heights (a second column, a tab stop), so that
:mod:`workers.layout` can find the white space between blocks. Two kinds of segment are
left out because they would bridge that white space: specks (a lone mark read as "|", "/"
or "y": stamp borders, punch holes, pen strokes) and shadows (words Tesseract read twice,
once more on a line of their own, lying on the longer reading). Words below the noise
level are kept only as tokens of three or more letters or digits on a line of confident
print (:func:`text_words`): Tesseract reads old-style figures or a value under a tick at
20-30 %, and dropping them lost reference numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from mailroom.core.domain import Box, Word

#: A gap between two words of a Tesseract line wider than this (in line heights) splits it.
SEGMENT_GAP = 1.2
#: A segment of fewer than two letters or digits read below this confidence is a speck.
SPECK_CONFIDENCE = 80.0
#: A segment lying this much on a longer segment of another line is read twice: dropped.
SHADOW = 0.6
#: A word read below the noise level is kept when it has at least WEAK_TOKEN_CHARS letters
#: or digits making up WEAK_TOKEN_SHARE of it, and a word of its line of about its height
#: is read at least PRINT_CONFIDENCE.
WEAK_TOKEN_CHARS = 3
WEAK_TOKEN_SHARE = 0.7
PRINT_CONFIDENCE = 70.0


@dataclass(frozen=True)
class Segment:
    """Words of one Tesseract line without a wide gap between them, left to right."""

    words: tuple[Word, ...]
    left: int
    top: int
    right: int
    bottom: int

    @classmethod
    def of(cls, words: Sequence[Word]) -> Segment:
        return cls(
            tuple(words),
            min(w.box.left for w in words),
            min(w.box.top for w in words),
            max(w.box.left + w.box.width for w in words),
            max(w.box.top + w.box.height for w in words),
        )

    @property
    def box(self) -> Box:
        return Box(self.left, self.top, self.right - self.left, self.bottom - self.top)

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def speck(self) -> bool:
        """A lone mark read as a character or two at modest confidence: not text.

        Stamp borders, punch holes and pen strokes come out as "|", "/" or "y" beside the
        text; kept, they would bridge the white space between blocks.
        """
        characters = sum(c.isalnum() for w in self.words for c in w.text)
        confidence = sum(w.confidence for w in self.words) / len(self.words)
        return characters < 2 and confidence < SPECK_CONFIDENCE


def text_words(words: Sequence[Word], min_confidence: float) -> list[Word]:
    """The words that are text: read above the noise level, or tokens read weakly amid a
    line of print (a reference number in old-style figures, "3576.1303.7669" at 23)."""
    return [w for w in words if w.text.strip() and _text_word(w, words, min_confidence)]


def _text_word(word: Word, words: Sequence[Word], min_confidence: float) -> bool:
    """Whether ``word`` is text (see :func:`text_words`)."""
    if word.confidence >= min_confidence:
        return True
    core = sum(ch.isalnum() for ch in word.text)
    if core < WEAK_TOKEN_CHARS or core < WEAK_TOKEN_SHARE * len(word.text):
        return False
    height = word.box.height
    company = [
        w
        for w in words
        if w.line == word.line
        and w is not word
        and w.confidence >= PRINT_CONFIDENCE
        and 0.6 * w.box.height <= height <= 1.6 * w.box.height
    ]
    return len(company) >= 1


def line_height(words: Sequence[Word]) -> float:
    """The median height of the page's lines (each line as tall as its tallest word)."""
    tallest: dict[int, int] = {}
    for w in words:
        tallest[w.line] = max(tallest.get(w.line, 0), w.box.height)
    return max(float(statistics.median(tallest.values())), 1.0)


def segments(words: Sequence[Word], unit: float) -> list[Segment]:
    """Tesseract's lines, split where two neighbouring words leave a wide gap."""
    by_line: dict[int, list[Word]] = {}
    for w in words:
        by_line.setdefault(w.line, []).append(w)
    out: list[Segment] = []
    for line in by_line.values():
        line.sort(key=lambda w: w.box.left)
        current = [line[0]]
        right = _right(line[0])
        for w in line[1:]:
            if w.box.left - right > SEGMENT_GAP * unit:
                out.append(Segment.of(current))
                current = []
            current.append(w)
            right = max(right, _right(w))
        out.append(Segment.of(current))
    kept = [s for s in out if not s.speck]
    return [s for s in kept if not _shadow(s, kept)]


def _shadow(segment: Segment, others: list[Segment]) -> bool:
    """Whether ``segment`` lies mostly on a longer one of another line (read twice)."""
    area = max((segment.right - segment.left) * (segment.bottom - segment.top), 1)
    for other in others:
        if other.words[0].line == segment.words[0].line or len(other.text) <= len(segment.text):
            continue
        width = min(segment.right, other.right) - max(segment.left, other.left)
        height = min(segment.bottom, other.bottom) - max(segment.top, other.top)
        if width > 0 and height > 0 and width * height >= SHADOW * area:
            return True
    return False


def _right(word: Word) -> int:
    return word.box.left + word.box.width
