"""Writing by hand on a sample page (Handschrift): irregular lines, notes, signatures.

A handwriting font alone looks typeset: every letter on one baseline, every line level. A
hand is irregular, so :class:`Hand` sets each word with its own baseline offset and size,
each line with a slight slope, and lets the left margin drift. :func:`margin_note` writes a
short, slightly turned note (Randvermerk); :func:`signature` a name as a signature with a
flourish. Drawing is in colour (blue or black ink); callers convert the page to grey.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from random import Random

from PIL import Image, ImageDraw

from mailroom.demo.fonts import Face, faces, printable, truetype

Rgb = tuple[int, int, int]
MM = 300 / 25.4
INKS: tuple[Rgb, ...] = ((24, 42, 140), (30, 30, 38), (16, 60, 170), (60, 60, 70))


@dataclass(frozen=True)
class Hand:
    """One writer: font, size in points, ink, and how irregular the writing is."""

    face: Face
    points: float
    ink: Rgb | int  # an int on a mask layer
    jitter: float  # word baseline offset, share of the size (0.02-0.06)
    slope: float  # largest line slope in degrees

    @classmethod
    def random(cls, rng: Random, *, points: tuple[float, float] = (15, 19)) -> Hand:
        face = rng.choice(faces("hand"))
        return cls(face, rng.uniform(*points), rng.choice(INKS), rng.uniform(0.02, 0.06),
                   rng.uniform(0.3, 1.3))  # fmt: skip

    def text(self, line: str) -> str:
        """The line as this hand writes it (characters its font lacks replaced)."""
        return printable(line, self.face)

    def width(self, line: str) -> float:
        return float(truetype(self.face, self.points).getlength(self.text(line)))

    def wrap(self, paragraph: str, width: float) -> list[str]:
        """Break a paragraph into lines of at most ``width`` pixels (with slack for size)."""
        lines: list[str] = []
        current = ""
        for word in self.text(paragraph).split():
            candidate = f"{current} {word}".strip()
            if current and self.width(candidate) * 1.08 > width:
                lines.append(current)
                current = word
            else:
                current = candidate
        return [*lines, current] if current else lines

    def write(self, draw: ImageDraw.ImageDraw, x: float, y: float, line: str,
              rng: Random) -> None:  # fmt: skip
        """One line from ``(x, y)`` (top left, pixels): words on a wavering, sloped baseline."""
        slope = math.tan(math.radians(rng.uniform(-self.slope, self.slope)))
        scale = rng.uniform(0.95, 1.05)
        left = x
        for word in self.text(line).split():
            size = self.points * scale * rng.uniform(0.95, 1.05)
            font = truetype(self.face, round(size * 2) / 2)  # half points: few cached sizes
            lift = rng.gauss(0, self.jitter) * size / 72 * 300
            draw.text((x, y + (x - left) * slope + lift), word, font=font, fill=self.ink)
            space = font.getlength(" ") * rng.uniform(0.9, 1.5)
            x += font.getlength(word) + space

    def line_step(self) -> float:
        """Pixels from one written line to the next."""
        return self.points / 72 * 300 * 1.55


def ruled_paper(size: tuple[int, int], rng: random.Random, step: float) -> Image.Image:
    """White, cream or light-coloured paper, lined (or squared) in light blue or grey."""
    tone = rng.choice(((255, 255, 255), (252, 248, 232), (246, 250, 255), (255, 252, 240)))
    paper = Image.new("RGB", size, tone)
    if rng.random() < 0.35:
        return paper
    pen = ImageDraw.Draw(paper)
    colour = rng.choice(((170, 200, 230), (200, 200, 205), (180, 210, 240)))
    squared = rng.random() < 0.3
    spacing = 5 * MM if squared else step
    y = rng.uniform(20, 30) * MM
    while y < size[1] - 10 * MM:
        pen.line([(0, y), (size[0], y)], fill=colour, width=2)
        y += spacing
    if squared:
        for x in range(int(10 * MM), size[0], int(spacing)):
            pen.line([(x, 0), (x, size[1])], fill=colour, width=2)
    elif rng.random() < 0.5:  # the red margin line of a writing pad
        pen.line([(22 * MM, 0), (22 * MM, size[1])], fill=(225, 120, 120), width=3)
    return paper


def margin_note(page: Image.Image, text: str, box: tuple[float, float, float, float],
                rng: Random) -> None:  # fmt: skip
    """Write ``text`` by hand, turned a few degrees, inside ``box`` (pixels) of ``page``."""
    hand = Hand.random(rng, points=(16, 22))
    ink = rng.choice(((24, 42, 140), (170, 30, 30), (90, 90, 95), (30, 30, 38)))
    x0, y0, x1, y1 = (int(v) for v in box)
    layer = Image.new("L", (x1 - x0, y1 - y0), 0)
    pen = ImageDraw.Draw(layer)
    step = hand.line_step()
    for number, line in enumerate(hand.wrap(text, (x1 - x0) * 0.85)[:3]):
        replace(hand, ink=255).write(pen, 10, 10 + number * step, line, rng)
    if rng.random() < 0.4:  # underlined, or a tick mark
        pen.line([(10, step * 1.05), (hand.width(text) * 0.8, step * 1.1)], fill=255, width=4)
    turned = layer.rotate(rng.uniform(-7, 7), expand=False, resample=Image.Resampling.BILINEAR)
    page.paste(Image.new("RGB", turned.size, ink), (x0, y0), turned)


def signature(page: Image.Image, name: str, at: tuple[float, float], rng: random.Random,
              *, width: float) -> None:  # fmt: skip
    """The signer's name written large and fast at ``at`` (top left), with a flourish."""
    hand = Hand.random(rng, points=(18, 24))
    ink = rng.choice(((24, 42, 140), (20, 20, 30), (10, 50, 160)))
    written = name.split()[-1] if rng.random() < 0.5 else name
    layer = Image.new("L", (int(width), int(hand.line_step() * 1.3)), 0)
    pen = ImageDraw.Draw(layer)
    replace(hand, ink=255, jitter=hand.jitter * 2, slope=4).write(pen, 5, 5, written, rng)
    end = min(hand.width(written), width - 20)
    base = hand.points / 72 * 300 * 1.1
    points = [(5 + end * t, base + 18 * math.sin(t * math.pi * rng.uniform(1, 3))) for t in
              (i / 20 for i in range(21))]  # fmt: skip
    pen.line(points, fill=255, width=3)
    turned = layer.rotate(rng.uniform(1, 5), expand=False, resample=Image.Resampling.BILINEAR)
    page.paste(Image.new("RGB", turned.size, ink), (int(at[0]), int(at[1])), turned)
