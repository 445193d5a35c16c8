"""The typefaces of the rendered sample letters (Schriftarten), by kind, with their Debian package.

Printed letters use office fonts (sans, serif, mono, narrow); whole handwritten letters,
signatures and margin notes use handwriting fonts. A missing font is an error that names
the package to install (``scripts/setup.sh --test`` or ``--bench`` installs them all):
the corpora never fall back silently to another font. Some handwriting fonts lack a few
glyphs (ß, „, ·); :func:`printable` replaces those characters the way a writer would, so
that the ground truth stays what the page shows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from PIL import Image, ImageDraw, ImageFont

from mailroom.core.errors import ConfigurationError
from mailroom.demo.phrasebook import PHRASE_DIR

FontKind = Literal["sans", "serif", "mono", "narrow", "hand"]
DPI = 300
_ROOT = Path("/usr/share/fonts")


@dataclass(frozen=True)
class Face:
    """A typeface: its name, kind, regular and bold files, and the package holding them."""

    name: str
    kind: FontKind
    regular: Path
    bold: Path | None
    package: str


def _load_faces() -> tuple[Face, ...]:
    """The faces listed in ``phrases/fonts.yaml``."""
    path = PHRASE_DIR / "fonts.yaml"
    try:
        table = yaml.safe_load(path.read_text(encoding="utf-8"))["faces"]
        return tuple(
            Face(name, kind, _ROOT / regular, _ROOT / bold if bold else None, package)
            for name, (kind, package, regular, bold) in table.items()
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{path}: cannot read the font table: {exc}") from exc


FACES: tuple[Face, ...] = _load_faces()

#: Debian packages of every face (what ``scripts/setup.sh --test``/``--bench`` installs).
PACKAGES = tuple(sorted({face.package for face in FACES}))


def faces(kind: FontKind) -> tuple[Face, ...]:
    """The faces of one kind, in a fixed order (a seed picks by position)."""
    return tuple(face for face in FACES if face.kind == kind)


def missing_fonts() -> list[Face]:
    """Faces whose files are not installed."""
    return [f for f in FACES if not f.regular.is_file() or (f.bold and not f.bold.is_file())]


def require_fonts() -> None:
    """Fail with the packages to install when any face of the corpus is missing."""
    if missing := missing_fonts():
        packages = " ".join(sorted({face.package for face in missing}))
        names = ", ".join(face.name for face in missing)
        raise ConfigurationError(
            f"fonts of the sample letters missing ({names}): apt-get install {packages} "
            "(or run scripts/setup.sh --test)"
        )


@functools.cache
def truetype(face: Face, points: float, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    """The face at ``points`` (300 dpi pixels); a missing file is a ConfigurationError."""
    path = face.bold if bold and face.bold is not None else face.regular
    if not path.is_file():
        raise ConfigurationError(
            f"font {face.name} missing ({path}): apt-get install {face.package}"
        )
    return ImageFont.truetype(str(path), size=max(round(points / 72 * DPI), 4))


#: What a writer puts for a character their font (hand) does not have.
_SUBSTITUTES = {"ß": "ss", "„": '"', "“": '"', "”": '"', "–": "-", "·": "-", "€": "EUR"}


@functools.cache
def _has_glyph(face: Face, char: str) -> bool:
    def drawn(text: str) -> bytes:
        canvas = Image.new("L", (120, 120), 0)
        ImageDraw.Draw(canvas).text((20, 20), text, font=truetype(face, 20), fill=255)
        return canvas.tobytes()

    return char.isspace() or drawn(char) != drawn("\U0010fffd")  # a code point no font has


def printable(text: str, face: Face) -> str:
    """``text`` with the characters ``face`` cannot draw replaced by their substitutes."""
    return "".join(
        _SUBSTITUTES.get(ch, ch) if ch in _SUBSTITUTES and not _has_glyph(face, ch) else ch
        for ch in text
    )
