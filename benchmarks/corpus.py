"""The degraded scan corpus shared by the OCR benchmarks and the throughput benchmark.

``make_ocr_corpus(n, seed)`` renders ``n`` one-page German letters at 300 dpi and degrades
each like a real scan line does (turned 0/90/180/270, skewed up to 4°, blurred, speckled,
JPEG-compressed, grey or unevenly lit paper, stamps, handwritten notes; every fifth page also
has a dark scanner border and, mostly, punch holes). The ground truth is
the exact printed text of the page, line by line: the incoming-mail stamp (printed, above the
letter) first, then the letter. Handwritten notes are scribbles, not text; a reader should
output nothing for them (they are what ``low_confidence_regions`` flags).

``make_reading_corpus(n, seed)`` is the wider corpus of the reading benchmark
(``benchmarks/reading.py``): DIN 5008 letters of many kinds (:mod:`mailroom.demo.layouts`:
form A/B, letterhead left/centred/right in colour or grey, information block right,
footer columns; sans, serif, mono and narrow fonts; whole letters in handwriting fonts,
printed letters with handwritten notes) at four degradation levels. Its truth follows the
dev set's convention: blocks in reading order, no stamps, notes or signatures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mailroom.core.domain import GrayImage, Handwritten
from mailroom.core.errors import ConfigurationError
from mailroom.demo.fonts import require_fonts
from mailroom.demo.layouts import render_din_letter
from mailroom.demo.scan import (
    degrade,
    degrade_colour,
    jpeg_bytes,
    layout_lines,
    png_bytes,
    render_page,
    stamp_lines,
)

_FIRST = ["Anna", "Jürgen", "Sabine", "Mehmet", "Katharina", "Björn", "Özlem", "Günter", "Maria"]
_LAST = ["Müller", "Schäfer", "Weiß", "Yılmaz", "Hoffmann", "Krüger", "Schröder", "Becker"]
_STREETS = ["Hauptstraße", "Friedrich-Ebert-Straße", "Luisenstraße", "Am Brögel", "Kölner Str."]
_DEPARTMENTS = [
    ("Bürgeramt", "Melderegisterauskunft für meine Mutter"),
    ("Elterngeld und Unterhalt", "Antrag auf Unterhaltsvorschuss (UVG)"),
    ("Bauen und Wohnen", "Antrag auf Wohngeld, Weiterbewilligung"),
    ("Steueramt", "Widerspruch gegen den Grundsteuerbescheid"),
    ("Straßenverkehrsamt", "Bewohnerparkausweis für die Zone B"),
    ("Tageseinrichtungen für Kinder", "Elternbeiträge für die Kita Sonnenschein"),
    ("Ordnungsamt", "Gewerbeanmeldung eines Kiosks"),
    ("Sport- und Bäderamt", "Nutzung der Turnhalle durch unseren Verein"),
]
_SENTENCES = [
    "hiermit beziehe ich mich auf Ihr Schreiben vom {d}. {m} 2024.",
    "Die erforderlichen Unterlagen über mein Einkommen füge ich diesem Schreiben bei.",
    "Bitte teilen Sie mir mit, ob weitere Nachweise benötigt werden.",
    "Leider konnte ich die Frist aus gesundheitlichen Gründen nicht einhalten.",
    "Ich bitte Sie daher um eine Verlängerung bis zum {d}. {m} 2024.",
    "Der Betrag von {eur},{ct} Euro wurde bereits am {d}.{mn}.2024 überwiesen.",
    "Meine Tochter besucht seit August die Offene Ganztagsschule an der Düppelstraße.",
    "Für Rückfragen stehe ich Ihnen telefonisch unter 0202 {tel} gern zur Verfügung.",
    "Gegen den Bescheid lege ich hiermit fristgerecht Widerspruch ein.",
    "Die Begründung reiche ich innerhalb der nächsten vier Wochen nach.",
    "Außerdem hat sich meine Anschrift zum {d}. {m} geändert.",
    "Ich möchte Sie höflich bitten, den Vorgang zügig zu bearbeiten.",
    "Aus den beigefügten Kontoauszügen ergibt sich, dass keine Überzahlung vorliegt.",
    "Bitte überweisen Sie das Geld auf mein Konto bei der Stadtsparkasse Wuppertal.",
]
_MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September"]


@dataclass(frozen=True)
class CorpusPage:
    image: GrayImage
    ground_truth: str
    description: str


def simple_letter(rng: np.random.Generator) -> list[str]:
    """A plain one-page German letter (used when ``mailroom.demo.letters`` is absent)."""

    def pick(items: list[Any]) -> Any:
        return items[int(rng.integers(len(items)))]

    def fill(sentence: str) -> str:
        return sentence.format(
            d=int(rng.integers(1, 29)),
            m=pick(_MONTHS),
            mn=f"{int(rng.integers(1, 13)):02d}",
            eur=int(rng.integers(20, 2000)),
            ct=f"{int(rng.integers(0, 100)):02d}",
            tel=int(rng.integers(100000, 999999)),
        )

    name = f"{pick(_FIRST)} {pick(_LAST)}"
    street = f"{pick(_STREETS)} {int(rng.integers(1, 140))}"
    department, subject = pick(_DEPARTMENTS)
    unit = f"{int(rng.integers(100, 500))}.{int(rng.integers(10, 99))}"
    az = f"{unit}-{int(rng.integers(1, 99)):02d}/2024"
    sentences = [fill(s) for s in rng.permutation(_SENTENCES)[: int(rng.integers(5, 9))]]
    paragraphs = [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]
    body: list[str] = []
    for paragraph in paragraphs:
        body += [paragraph, ""]
    return [
        f"{name} · {street} · 42{int(rng.integers(100, 399))} Wuppertal",
        "",
        "Stadt Wuppertal",
        department,
        "Johannes-Rau-Platz 1",
        "42275 Wuppertal",
        "",
        f"Wuppertal, {int(rng.integers(1, 29))}. {pick(_MONTHS)} 2024",
        "",
        f"Betreff: {subject}",
        f"Ihr Zeichen: {az}",
        "",
        "Sehr geehrte Damen und Herren,",
        "",
        *body,
        "Mit freundlichen Grüßen",
        "",
        name,
    ]


def letter_texts(n: int, seed: int) -> list[list[str]]:
    """``n`` letters as lines: the project's letter generator over the shipped file plan,
    or :func:`simple_letter` where that is not available."""
    try:
        from config.fileplan import load_file_plan
        from config.settings import CONFIG_DIR
        from mailroom.demo.letters import generate_letters

        plan = load_file_plan(CONFIG_DIR / "fileplan.yaml")
    except (ImportError, OSError, ValueError, ConfigurationError):  # no file plan here
        rng = np.random.default_rng(seed)
        return [simple_letter(rng) for _ in range(n)]
    return [list(letter.lines) for letter in generate_letters(plan, n, seed=seed)]


def degradation(index: int, rng: np.random.Generator) -> dict[str, Any]:
    """Degradation settings for page ``index``: every fourth page is turned, most skewed."""
    turned = index % 4 == 3
    return {
        "rotate": (90, 180, 270)[(index // 4) % 3] if turned else 0,
        "skew": float(rng.uniform(-4, 4)) if rng.random() < 0.75 else 0.0,
        "blur": float(rng.uniform(0.5, 1.3)) if rng.random() < 0.5 else 0.0,
        "noise": float(rng.uniform(0.1, 0.35)) if rng.random() < 0.6 else 0.0,
        "jpeg_quality": int(rng.integers(40, 85)) if rng.random() < 0.5 else None,
        "background": (None, "grey", "uneven")[int(rng.integers(3))],
        "stamp": bool(rng.random() < 0.25),
        "handwriting": bool(rng.random() < 0.15),
    }


def scan_edges(index: int, page_seed: int) -> dict[str, Any]:
    """Scanner border and punch holes for page ``index``: on every fifth page.

    Drawn from a random stream of their own, so that adding them changed no other page and
    no other setting of these pages.
    """
    if index % 5 != 2:
        return {"border": 0.0, "punch_holes": False}
    rng = np.random.default_rng([page_seed, 5])
    return {"border": float(rng.uniform(2, 7)), "punch_holes": bool(rng.random() < 0.8)}


def describe(settings: dict[str, Any]) -> str:
    parts = [f"rot{settings['rotate']}", f"skew{settings['skew']:+.1f}"]
    if settings["blur"]:
        parts.append(f"blur{settings['blur']:.1f}")
    if settings["noise"]:
        parts.append(f"noise{settings['noise']:.2f}")
    if settings["jpeg_quality"]:
        parts.append(f"jpeg{settings['jpeg_quality']}")
    for flag in ("background", "stamp", "handwriting"):
        if settings[flag]:
            parts.append(flag if settings[flag] is True else str(settings[flag]))
    if settings.get("border"):
        parts.append(f"border{settings['border']:.1f}mm")
    if settings.get("punch_holes"):
        parts.append("holes")
    return " ".join(parts)


def make_ocr_corpus(n: int, seed: int = 0) -> list[tuple[GrayImage, str, str]]:
    """``n`` degraded 300 dpi letter pages as (image, ground truth text, description)."""
    rng = np.random.default_rng(seed)
    corpus = []
    for index, lines in enumerate(letter_texts(n, seed)):
        page_seed = int(rng.integers(1 << 30))
        settings = degradation(index, rng) | scan_edges(index, page_seed)
        image, truth = corpus_page(lines, page_seed, settings)
        corpus.append((image, truth, f"#{index} {describe(settings)}"))
    return corpus


def corpus_page(
    lines: list[str], page_seed: int, settings: dict[str, Any]
) -> tuple[GrayImage, str]:
    """One letter rendered and degraded with ``settings``, and its ground truth text."""
    image = degrade(render_page(lines, seed=page_seed), seed=page_seed, **settings)
    # The stamp is printed text on the page: a reader should read it (it is on top).
    stamp = stamp_lines(page_seed) if settings["stamp"] else []
    return image, "\n".join(stamp + layout_lines(lines, seed=page_seed))


# --- DIN 5008 letters of many kinds (the reading benchmark) -----------------------------

LEVELS = ("clean", "light", "medium", "heavy")


@dataclass(frozen=True)
class ReadingPage:
    """One scanned DIN letter of the reading corpus and the truth about it."""

    data: bytes  # the file as a scan line delivers it: PNG (grey) or JPEG (colour)
    truth: str  # blocks in reading order, as in the dev set
    level: str  # clean / light / medium / heavy
    handwritten: Handwritten | None  # "letter", "notes" or None
    font: str
    form: str  # DIN form "A"/"B", or "hand"
    rotation: int  # what PreparedPage.rotation must be to make the page upright
    colour: bool  # a colour scan
    description: str


def reading_degradation(level: str, rng: np.random.Generator) -> dict[str, Any]:
    """``degrade`` settings of one level (heavy: strong blur, grain, JPEG, shadow, stamp)."""

    def uniform(low: float, high: float) -> float:
        return float(rng.uniform(low, high))

    if level == "clean":
        return {"skew": uniform(-0.5, 0.5)}
    if level == "light":
        return {"skew": uniform(-1, 1), "blur": uniform(0.4, 0.7) if rng.random() < 0.5 else 0,
                "noise": uniform(0.04, 0.1), "jpeg_quality": int(rng.integers(70, 90)),
                "background": None if rng.random() < 0.6 else "grey"}  # fmt: skip
    if level == "medium":
        return {"skew": uniform(-2.5, 2.5), "blur": uniform(0.7, 1.1),
                "noise": uniform(0.12, 0.22), "jpeg_quality": int(rng.integers(50, 70)),
                "background": ("grey", "uneven")[int(rng.integers(2))],
                "stamp": bool(rng.random() < 0.4),
                "border": uniform(2, 6) if rng.random() < 0.3 else 0.0}  # fmt: skip
    return {"skew": uniform(-3, 3), "blur": uniform(1.1, 1.5), "noise": uniform(0.25, 0.35),
            "jpeg_quality": int(rng.integers(30, 45)), "background": "uneven", "stamp": True,
            "punch_holes": bool(rng.random() < 0.5)}  # fmt: skip


def reading_kinds(n: int, seed: int = 0) -> list[Handwritten | None]:
    """The handwriting label of each of ``n`` pages: 10 % "letter", 15 % "notes", shuffled."""
    letters, notes = round(n * 0.1), round(n * 0.15)
    kinds: list[Handwritten | None] = [None] * n
    kinds[:letters] = ["letter"] * letters
    kinds[letters : letters + notes] = ["notes"] * notes
    order = np.random.default_rng([seed, 12]).permutation(n)
    return [kinds[int(i)] for i in order]


def reading_page(index: int, handwritten: Handwritten | None, seed: int = 0) -> ReadingPage:
    """Page ``index`` of the reading corpus (rendered on its own: workers make their pages).

    Every fourth page is clean, light, medium, heavy in turn; every fifth page (not heavy) is
    turned 90/180/270 degrees; every second heavy page is an upright colour scan (JPEG).
    """
    rng = np.random.default_rng([seed, 11, index])
    level = LEVELS[index % 4]
    page_seed = int(rng.integers(1 << 30))
    letter = render_din_letter(page_seed, handwritten=handwritten)
    settings = reading_degradation(level, rng)
    turned = (90, 180, 270)[(index // 5) % 3] if index % 5 == 1 and level != "heavy" else 0
    colour = level == "heavy" and index % 8 == 3
    if colour:
        image = degrade_colour(letter.colour, skew=settings["skew"], blur=settings["blur"],
                               noise=settings["noise"], uneven=True, stamp=True,
                               seed=page_seed)  # fmt: skip
        data = jpeg_bytes(image, quality=settings["jpeg_quality"])
    else:
        data = png_bytes(degrade(letter.image, rotate=turned, seed=page_seed, **settings))
    kind = f"hand:{handwritten}" if handwritten else "printed"
    return ReadingPage(
        data, letter.truth, level, handwritten, letter.font, letter.form, (360 - turned) % 360,
        colour, f"#{index} {level} {kind} form {letter.form} {letter.font}"
        f"{' colour' if colour else ''} rot{turned} {_settings_text(settings)}",
    )  # fmt: skip


def make_reading_corpus(n: int = 120, seed: int = 0) -> list[ReadingPage]:
    """``n`` DIN 5008 letter scans across the four levels, deterministic by ``seed``
    (:func:`reading_page`); about 10 % are whole letters in a handwriting font and 15 %
    printed letters with handwritten notes. A missing font fails here, naming its package.
    """
    require_fonts()
    return [reading_page(i, kind, seed) for i, kind in enumerate(reading_kinds(n, seed))]


def _settings_text(settings: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in settings.items()
        if v not in (None, False, 0, 0.0)
    )


# --- error rates -----------------------------------------------------------------------


def edit_distance(a: list[int] | str, b: list[int] | str) -> int:
    """Levenshtein distance, one numpy row at a time (fast enough for whole pages)."""
    x = np.array([ord(c) for c in a] if isinstance(a, str) else a, dtype=np.int64)
    y = np.array([ord(c) for c in b] if isinstance(b, str) else b, dtype=np.int64)
    if len(x) == 0 or len(y) == 0:
        return max(len(x), len(y))
    positions = np.arange(len(y) + 1, dtype=np.int64)
    previous = positions.copy()
    for i, symbol in enumerate(x, start=1):
        substitute = previous[:-1] + (y != symbol)
        best = np.empty_like(previous)
        best[0] = i
        best[1:] = np.minimum(previous[1:] + 1, substitute)
        # Insertions chain along the row: best[j] = min_k(best[k] + j - k).
        previous = np.minimum.accumulate(best - positions) + positions
    return int(previous[-1])


def normalise_whitespace(text: str) -> str:
    return " ".join(text.split())


def char_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edits, reference characters) on whitespace-normalised text."""
    ref, hyp = normalise_whitespace(reference), normalise_whitespace(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edits, reference words) counting whole words."""
    ref, hyp = reference.split(), hypothesis.split()
    vocabulary: dict[str, int] = {}
    ref_ids = [vocabulary.setdefault(w, len(vocabulary)) for w in ref]
    hyp_ids = [vocabulary.setdefault(w, len(vocabulary)) for w in hyp]
    return edit_distance(ref_ids, hyp_ids), len(ref)
