"""Orientation you can trust: accept a page's orientation only when its text is plausible.

:func:`workers.preprocess.prepare_page` turns pages upright with a cheap test on the ink
(line direction, ascenders against descenders). It is right on nearly every printed page,
but handwriting, sparse pages and heavy degradation can fool it, and a page read turned
comes out as garbage. So after the first reading the page is checked
(:func:`plausible`): enough words, a fair mean confidence and a fair share of German
dictionary words (:mod:`workers.plausibility`). A page that fails is tried in all four
orientations *cheaply*: only a square of about 10 cm from the middle of its text (which
still holds text whichever way the page is turned) is read in each orientation - the
first reading is no fair measure of it, since a turned square read with the whole page
around it yields more "words" - and each orientation is scored by the letters of
confident German words. Only when another orientation reads clearly better is the whole
page turned, deskewed anew (the skew found before belonged to the wrong orientation) and
read again, and the new reading is kept only if it is better than the first on the whole
page too. The page records that the check ran
(``orientation_check``: ``kept`` or ``corrected``).

An upright page is turned only when its turned reading has clearly more German in it;
garbage read turned has almost none, so an upright page does not come out turned. When no
orientation reads (two scribbled lines of handwriting), the cheap test's turn is not
trusted either: the page goes back to the orientation it was scanned in.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace

from mailroom.core.domain import Box, GrayImage, PageOcr, PreparedPage, Word
from workers.plausibility import READ_CONFIDENCE, WordList, german_letters
from workers.preprocess import content_box, straighten, turn

#: A first reading is plausible with at least this mean word confidence, this share of
#: German words and this many confidently read words. Upright printed letters of the own
#: corpus, clean to heavily degraded, score 85-96 and 0.6-0.9 (see benchmarks/reading.py).
PLAUSIBLE_CONFIDENCE = 70.0
PLAUSIBLE_SHARE = 0.45
PLAUSIBLE_WORDS = 8
#: Side of the square read in every orientation (pixels at 300 dpi: about 10 cm).
TRIAL_SIDE = 1200
#: Another orientation wins when its German letters exceed the current one's by this
#: factor and by at least TRIAL_MARGIN letters.
TRIAL_FACTOR = 1.5
TRIAL_MARGIN = 8
#: With fewer German letters than this in every orientation the trial is undecided: the
#: page goes back to the orientation it was scanned in, since nothing shows it is turned.
TRIAL_MIN = 10

Read = Callable[[PreparedPage], PageOcr]


def plausible(result: PageOcr) -> bool:
    """Whether the reading looks like German text read the right way up."""
    confident = sum(w.confidence >= READ_CONFIDENCE for w in result.words)
    return (
        (result.confidence or 0.0) >= PLAUSIBLE_CONFIDENCE
        and (result.dictionary_share or 0.0) >= PLAUSIBLE_SHARE
        and confident >= PLAUSIBLE_WORDS
    )


def check_orientation(
    page: PreparedPage, first: PageOcr, read: Read, vocabulary: WordList
) -> tuple[PreparedPage, PageOcr]:
    """Try the other orientations on a middle square; turn and re-read if one wins.

    ``read`` recognises a prepared page. Returns the page as finally read and its
    reading, with ``orientation_check`` set and the trials' seconds added.
    """
    trial = _trial_square(page, first.words)
    scores: list[int] = []
    seconds = 0.0
    for quarter in range(4):
        result = read(replace(page, image=turn(trial, quarter), content=None))
        seconds += result.seconds
        scores.append(german_letters(result.words, vocabulary))
    best = max(range(4), key=lambda q: scores[q])
    first.orientation_check = "kept"
    first.seconds += seconds
    undecided = scores[best] < TRIAL_MIN
    if undecided and not page.rotation:
        return page, first  # nothing reads, and the page is as it was scanned
    if undecided:
        best = (-page.rotation // 90) % 4  # nothing reads: back as it was scanned
    elif best == 0 or scores[best] < max(TRIAL_FACTOR * scores[0], scores[0] + TRIAL_MARGIN):
        return page, first
    image, skew = straighten(turn(page.image, best), page.dpi)
    turned = replace(
        page,
        image=image,
        rotation=(page.rotation + 90 * best) % 360,
        skew_degrees=round(page.skew_degrees + skew, 2),
        content=content_box(image, page.dpi),
    )
    result = read(turned)
    result.seconds += first.seconds
    gain = german_letters(result.words, vocabulary) - german_letters(first.words, vocabulary)
    if (undecided and gain < -TRIAL_MIN) or (not undecided and gain <= 0):
        return page, first
    result.orientation_check = "corrected"
    return turned, result


def _trial_square(page: PreparedPage, words: Sequence[Word]) -> GrayImage:
    """A square of at most TRIAL_SIDE pixels around the middle of the words found (read
    right or wrong, they show where the text is), inside the page's content."""
    height, width = page.image.shape[:2]
    box = page.content or Box(0, 0, width, height)
    side = min(box.width, box.height, TRIAL_SIDE)
    if words:
        x = statistics.median(w.box.left + w.box.width / 2 for w in words)
        y = statistics.median(w.box.top + w.box.height / 2 for w in words)
    else:
        x, y = box.left + box.width / 2, box.top + box.height / 2
    left = int(min(max(x - side / 2, box.left), box.left + box.width - side))
    top = int(min(max(y - side / 2, box.top), box.top + box.height - side))
    return page.image[top : top + side, left : left + side].copy()
