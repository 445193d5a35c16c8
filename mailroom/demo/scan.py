"""Render letter text as a realistic 300 dpi scan and degrade it like a real scan line.

Used by the demo, the tests and the OCR benchmarks. ``render_page`` lays the lines out on
an A4 page (DIN 5008-like margins, DejaVu fonts); ``degrade`` adds what scan lines deliver:
turned and skewed pages, blur, speckle noise, JPEG artefacts, grey or uneven paper, an
incoming-mail stamp (Eingangsstempel), a handwritten note, the dark border a scanner lid
leaves around the page (Scannerrand) and the two punch holes of a filed letter (Lochung).
Writing the pages as PNG, TIFF or PDF is in ``scanfiles.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mailroom.core.domain import GrayImage

# The file writers live in scanfiles.py; they are re-exported here, where the demo, the tests
# and the benchmarks have always imported them from.
from mailroom.demo.scanfiles import (
    DPI,
    ColourImage,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
    tiff_bytes,
    write_pdf,
    write_png,
    write_tiff,
)

__all__ = [
    "DPI",
    "EXAMPLE_LETTER",
    "degrade",
    "degrade_colour",
    "jpeg_bytes",
    "layout_lines",
    "pdf_bytes",
    "png_bytes",
    "render_page",
    "stamp_lines",
    "tiff_bytes",
    "write_pdf",
    "write_png",
    "write_tiff",
]

A4_PIXELS = (2480, 3508)  # width, height at 300 dpi
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansCondensed.ttf")
_MM = DPI / 25.4
_LEFT, _TOP = 25 * _MM, 45 * _MM  # DIN 5008-like margins

#: A short example letter for demos and tests (the corpus uses generated letters).
EXAMPLE_LETTER = [
    "Jürgen Weiß · Luisenstraße 17 · 42103 Wuppertal",
    "",
    "Stadt Wuppertal",
    "Elterngeld und Unterhalt",
    "Johannes-Rau-Platz 1",
    "42275 Wuppertal",
    "",
    "Wuppertal, 12. März 2024",
    "",
    "Betreff: Antrag auf Unterhaltsvorschuss",
    "Ihr Zeichen: 404.21-07/2024",
    "",
    "Sehr geehrte Damen und Herren,",
    "",
    "hiermit beantrage ich Unterhaltsvorschuss für meine Tochter Lena. Die erforderlichen "
    "Unterlagen über mein Einkommen füge ich diesem Schreiben bei. Bitte teilen Sie mir mit, "
    "ob weitere Nachweise benötigt werden.",
    "",
    "Der Vater zahlt seit Oktober keinen Unterhalt mehr. Für Rückfragen stehe ich Ihnen "
    "telefonisch gern zur Verfügung. Außerdem bitte ich um eine kurze Eingangsbestätigung.",
    "",
    "Mit freundlichen Grüßen",
    "",
    "Jürgen Weiß",
]


def _font(name: str, points: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), size=round(points / 72 * DPI))


def _wrap(line: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Break a line at spaces so that it fits ``width`` pixels."""
    if not line or font.getlength(line) <= width:
        return [line]
    out: list[str] = []
    current = ""
    for word in line.split(" "):
        candidate = f"{current} {word}".strip()
        if current and font.getlength(candidate) > width:
            out.append(current)
            current = word
        else:
            current = candidate
    out.append(current)
    return out


def layout_lines(lines: Sequence[str], *, seed: int) -> list[str]:
    """The lines exactly as ``render_page`` prints them (wrapped, cut at the page end).

    This is the ground truth of a rendered page.
    """
    font, points, spacing = _page_style(seed)
    width = A4_PIXELS[0] - 45 * _MM
    wrapped = [part for line in lines for part in _wrap(line, font, width)]
    step = points / 72 * DPI * spacing
    fitting = int((A4_PIXELS[1] - 20 * _MM - _TOP) // step)
    return wrapped[:fitting]


def _page_style(seed: int) -> tuple[ImageFont.FreeTypeFont, float, float]:
    rng = np.random.default_rng(seed)
    name = _FONTS[int(rng.integers(len(_FONTS)))]
    points = float(rng.choice([10.0, 11.0, 12.0]))
    spacing = float(rng.uniform(1.25, 1.45))
    return _font(name, points), points, spacing


def render_page(lines: list[str], *, seed: int) -> GrayImage:
    """Lay out ``lines`` on a clean white A4 page at 300 dpi (8-bit grayscale).

    Long lines are wrapped; an empty string is an empty line. Text that does not fit on
    the page is cut off (callers keep letters to one page).
    """
    font, points, spacing = _page_style(seed)
    page = Image.new("L", A4_PIXELS, 255)
    draw = ImageDraw.Draw(page)
    step = points / 72 * DPI * spacing
    for number, line in enumerate(layout_lines(lines, seed=seed)):
        if line:
            draw.text((_LEFT, _TOP + number * step), line, fill=20, font=font)
    return np.asarray(page, dtype=np.uint8).copy()


# --- degradation -----------------------------------------------------------------------


def stamp_lines(seed: int) -> list[str]:
    """The text of the incoming-mail stamp ``degrade(..., stamp=True, seed=seed)`` prints."""
    rng = np.random.default_rng([seed, 1])
    day, month = int(rng.integers(1, 28)), int(rng.integers(1, 13))
    return ["EINGEGANGEN", f"{day:02d}.{month:02d}.2024", "Stadt Wuppertal"]


def _stamp(image: GrayImage, seed: int) -> GrayImage:
    """An incoming-mail stamp (Eingangsstempel), slightly turned, in the upper right."""
    rng = np.random.default_rng([seed, 2])
    box = Image.new("L", (620, 300), 255)
    draw = ImageDraw.Draw(box)
    draw.rounded_rectangle((6, 6, 613, 293), radius=24, outline=0, width=7)
    big, small = _font("DejaVuSans-Bold.ttf", 17), _font("DejaVuSans.ttf", 12)
    title, date, place = stamp_lines(seed)
    draw.text((310, 80), title, font=big, fill=0, anchor="mm")
    draw.text((310, 160), date, font=big, fill=0, anchor="mm")
    draw.text((310, 240), place, font=small, fill=0, anchor="mm")
    turned = box.rotate(float(rng.uniform(-5, 5)), expand=True, fillcolor=255)
    stamp = np.asarray(turned, dtype=np.uint8)
    h, w = stamp.shape
    y0 = int(rng.integers(int(5 * _MM), int(10 * _MM)))  # above the first text line
    x0 = image.shape[1] - w - int(rng.integers(int(10 * _MM), int(30 * _MM)))
    region = image[y0 : y0 + h, x0 : x0 + w]
    ink = 255 - stamp.astype(np.int32)  # a red stamp comes out mid-grey
    region[:] = np.clip(region.astype(np.int32) - ink * 0.55, 0, 255).astype(np.uint8)
    return image


def _handwriting(image: GrayImage, rng: np.random.Generator) -> GrayImage:
    """A short handwritten note (scribbled cursive strokes) in the lower page margin."""
    x = int(rng.integers(int(30 * _MM), int(60 * _MM)))
    y0 = image.shape[0] - int(rng.integers(int(28 * _MM), int(38 * _MM)))
    thickness = int(rng.integers(3, 6))
    for _word in range(int(rng.integers(3, 6))):
        length = int(rng.integers(120, 320))
        t = np.linspace(0, 1, length)
        freq = rng.uniform(10, 18)
        xs = x + t * length * 1.4 + 12 * np.sin(t * freq * math.pi * 2 + rng.uniform(0, 6))
        ys = y0 + 28 * np.sin(t * freq * math.pi) * rng.uniform(0.6, 1.2) + rng.normal(0, 2)
        points = np.stack([xs, ys], axis=1).astype(np.int32)
        cv2.polylines(image, [points], isClosed=False, color=45, thickness=thickness)
        x += int(length * 1.4) + int(rng.integers(40, 90))
        if x > image.shape[1] - 40 * _MM:
            break
    return image


def _background(image: GrayImage, kind: str, rng: np.random.Generator) -> GrayImage:
    """Grey paper (recycled paper) or uneven illumination (a shadow from the fold)."""
    h, w = image.shape
    ink = (255 - image.astype(np.float32)) / 255
    # Ranges as 300 dpi greyscale scans of real letters show them: recycled paper comes out
    # at 190-225 (white paper at 240-255); a fold's or a lid's shadow darkens one side by
    # up to a third. Darker paper (the first corpus used 170) is not what scan lines deliver:
    # they calibrate white and most apply background suppression.
    if kind == "grey":
        paper = np.full((h, w), rng.uniform(190, 225), dtype=np.float32)
    elif kind == "uneven":
        yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        dist = np.hypot(xx - cx, yy - cy) / math.hypot(w, h)
        small = 245 - 70 * dist * rng.uniform(0.8, 1.2)
        paper = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        raise ValueError(f"unknown background {kind!r}: use 'grey' or 'uneven'")
    text_tone = 25.0
    out = paper * (1 - ink) + text_tone * ink
    return np.clip(out, 0, 255).astype(np.uint8)


def _punch_holes(image: GrayImage, seed: int) -> GrayImage:
    """Two filing holes as ISO 838 places them, dark where the scanner lid shows through.

    6 mm across, 80 mm apart about the middle of the left edge, centres 12 mm from it; real
    punches sit a millimetre or two off, and the edge of a hole is slightly soft.
    """
    rng = np.random.default_rng([seed, 3])
    h, _ = image.shape
    radius = 3 * _MM
    x = (12 + rng.uniform(-1.5, 1.5)) * _MM
    middle = h / 2 + rng.uniform(-3, 3) * _MM
    tone = rng.uniform(20, 60)
    for y in (middle - 40 * _MM, middle + 40 * _MM):
        x0, y0 = int(x - 2 * radius), int(y - 2 * radius)
        size = int(4 * radius)
        disc = np.zeros((size, size), dtype=np.float32)
        centre = (round((x - x0) * 16), round((y - y0) * 16))  # 4 bits of subpixel precision
        cv2.circle(disc, centre, round(radius * 16), 1.0, -1, cv2.LINE_AA, shift=4)
        mask = np.asarray(cv2.GaussianBlur(disc, (0, 0), 1.2), dtype=np.float32)
        region = image[y0 : y0 + size, x0 : x0 + size]
        mixed = region.astype(np.float32) * (1 - mask) + tone * mask
        region[:] = np.clip(mixed, 0, 255).astype(np.uint8)
    return image


def _border(image: GrayImage, width_mm: float, seed: int) -> GrayImage:
    """A dark band along every edge, where the scanner lid shows beside the page.

    Each edge's band is 25-100 % of ``width_mm`` wide at either end (a wedge, as when the
    page lies slightly askew on the glass) and has its own dark tone.
    """
    rng = np.random.default_rng([seed, 4])
    out = np.ascontiguousarray(image)
    for quarter in range(4):  # left, top, right, bottom: turn the edge to the left
        view = np.rot90(out, k=quarter)
        h = view.shape[0]
        start, end = rng.uniform(0.25, 1.0, size=2) * width_mm * _MM
        tone = rng.uniform(10, 60)
        reach = int(np.ceil(max(start, end))) + 2
        widths = np.linspace(start, end, h, dtype=np.float32)[:, None]
        columns = np.arange(reach, dtype=np.float32)[None, :]
        alpha = np.clip(widths - columns + 0.5, 0, 1)  # anti-aliased inner edge
        strip = view[:, :reach]
        strip[:] = np.clip(strip * (1 - alpha) + tone * alpha, 0, 255).astype(np.uint8)
    return out


def _skew(image: GrayImage, degrees: float) -> GrayImage:
    """Turn by ``degrees`` (positive = counter-clockwise), keeping the page size."""
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    fill = int(np.median(image[:20, :]))
    turned = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=fill)
    return np.asarray(turned, dtype=np.uint8)


def degrade(
    image: GrayImage,
    *,
    rotate: int = 0,
    skew: float = 0.0,
    blur: float = 0,
    noise: float = 0,
    jpeg_quality: int | None = None,
    background: str | None = None,
    stamp: bool = False,
    handwriting: bool = False,
    border: float = 0.0,
    punch_holes: bool = False,
    seed: int,
) -> GrayImage:
    """Make a clean page look like a real scan.

    ``rotate``: 0/90/180/270, how far the page is turned clockwise on the scanner.
    ``skew``: degrees, positive = counter-clockwise. ``blur``: Gaussian sigma in pixels.
    ``noise``: 0..1, grain and speckle strength (0.3 is heavy). ``background``: ``"grey"``
    or ``"uneven"``. ``border``: mm, the widest dark band along the scan's edges (0: none).
    ``punch_holes``: two filing holes near the page's left edge. Borders and holes draw on
    random streams of their own: the other degradations of a seed stay the same. The input
    image is not changed.
    """
    if rotate not in (0, 90, 180, 270):
        raise ValueError("rotate must be 0, 90, 180 or 270")
    rng = np.random.default_rng(seed)
    out = image.copy()
    if stamp:
        out = _stamp(out, seed)
    if handwriting:
        out = _handwriting(out, rng)
    if background:
        out = _background(out, background, rng)
    if punch_holes:
        out = _punch_holes(out, seed)  # holes are in the paper: they turn with it
    if skew:
        out = _skew(out, skew)
    if border:
        out = _border(out, border, seed)  # the scanner's edges do not turn with the page
    if blur:
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), blur), dtype=np.uint8)
    if noise:
        grain = rng.normal(0, 40 * noise, out.shape)
        out = np.clip(out.astype(np.float32) + grain, 0, 255).astype(np.uint8)
        speckle = rng.random(out.shape) < 0.02 * noise
        out[speckle] = rng.integers(0, 90, int(speckle.sum()), dtype=np.uint8)
    if jpeg_quality is not None:
        ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        assert ok
        out = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE), dtype=np.uint8)
    if rotate:
        out = np.ascontiguousarray(np.rot90(out, k=-rotate // 90))
    return out


def degrade_colour(
    image: ColourImage,
    *,
    skew: float = 0.0,
    blur: float = 0,
    noise: float = 0,
    uneven: bool = False,
    stamp: bool = False,
    seed: int,
) -> ColourImage:
    """A colour scan of a clean RGB page: a red incoming-mail stamp, a fold's shadow,
    skew, blur and grain (JPEG artefacts come from writing it with :func:`jpeg_bytes`).

    The same knobs as :func:`degrade`; the stamp is the one ``degrade`` prints for ``seed``.
    """
    rng = np.random.default_rng([seed, 6])
    h, w, _ = image.shape
    out = image.astype(np.float32)
    if stamp:
        ink = 255 - _stamp(np.full((h, w), 255, dtype=np.uint8), seed).astype(np.float32)
        out -= ink[:, :, None] * np.array([0.05, 0.7, 0.65], dtype=np.float32)
    if uneven:
        yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
        dist = np.hypot(xx - rng.uniform(0, w), yy - rng.uniform(0, h)) / math.hypot(w, h)
        small = 1 - 0.3 * dist * rng.uniform(0.8, 1.2)
        out *= cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[:, :, None]
    scan = np.clip(out, 0, 255).astype(np.uint8)
    if skew:
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), skew, 1.0)
        fill = tuple(int(v) for v in np.median(scan[:20, :], axis=(0, 1)))
        scan = np.asarray(cv2.warpAffine(scan, matrix, (w, h), flags=cv2.INTER_LINEAR,
                                         borderValue=fill), dtype=np.uint8)  # fmt: skip
    if blur:
        scan = np.asarray(cv2.GaussianBlur(scan, (0, 0), blur), dtype=np.uint8)
    if noise:
        grain = rng.normal(0, 40 * noise, (h, w, 1)) + rng.normal(0, 8 * noise, (h, w, 3))
        scan = np.clip(scan.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    return scan
