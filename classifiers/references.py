"""Reference numbers (Aktenzeichen, Kassenzeichen): canonical form and recognisable shapes.

Citizens copy reference numbers by hand and OCR misreads them, so the same Aktenzeichen
arrives as ``209.10-0457/2024``, ``209.10 - 0457/24``, ``2O9.1O-0457/2024`` or
``20910-0457/2024``. :func:`normalize` maps all of these to one matching key; case
matching compares keys, the file plan's ``reference_patterns`` are tested against
:func:`clean` (readable form) and, failing that, against a separator-tolerant variant.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal

ReferenceKind = Literal["aktenzeichen", "kassenzeichen", "kundennummer", "other"]

#: Characters OCR (or a hurried hand) confuses with digits.
_CONFUSABLE_DIGITS = {
    "O": "0",
    "o": "0",
    "Q": "0",
    "D": "0",
    "I": "1",
    "l": "1",
    "|": "1",
    "i": "1",
    "!": "1",
    "S": "5",
    "s": "5",
    "B": "8",
    "Z": "2",
}
# Only these are converted inside a group that also has a letter that is not confusable;
# D, Q, Z, i and s are only converted in groups that are otherwise all digits.
_STRONG_CONFUSABLES = frozenset("OoIl|SB")
_SEPARATORS = "./-–—_:\\ "
_GROUP_RE = re.compile(r"[0-9A-Za-zÄÖÜäöüß|!]+")
_SEP_CLASS = r"[-./ ]{0,2}"

#: Labels in front of a reference and the kind of reference they announce, most specific
#: first. Matching is case-insensitive; OCR may turn "Az.:" into "Az,:" or "Az:".
LABELS: tuple[tuple[str, ReferenceKind], ...] = (
    (r"Ihr(?:e|\.)?\s*(?:Akten|Geschäfts|Gesch\.?)?\s*-?\s*Zeichen", "aktenzeichen"),
    (r"Gesch(?:ä|ae|a)ftszeichen|Gesch\.\s?-?\s?Z(?:eichen)?|GZ", "aktenzeichen"),
    (r"Aktenzeichen|Akten-?Z(?:eichen)?|Az|AZ|Akt\.?\s?Z", "aktenzeichen"),
    (r"Kassenzeichen|Kassen-?Z(?:eichen)?|Kassen-?Nr|KZ", "kassenzeichen"),
    (
        r"Kunden-?(?:nummer|nr)|Personenkonto|Vertrags-?(?:nummer|nr)|Mitglieds-?(?:nummer|nr)"
        r"|Steuer-?(?:nummer|nr)|Objekt-?(?:nummer|nr)|Buchungszeichen",
        "kundennummer",
    ),
    (
        r"Vorgangs-?(?:nummer|nr)|Antrags-?(?:nummer|nr)|Bescheid-?(?:nummer|nr)"
        r"|Unser(?:e)?\s*Zeichen|Zeichen",
        "other",
    ),
)

LABEL_RE = re.compile(
    r"(?<![A-Za-zÄÖÜäöüß])(?P<label>"
    + "|".join(f"(?:{pattern})" for pattern, _ in LABELS)
    + r")\.?\s*[:.,;]?\s*(?:Nr\.?\s*)?[:.]?\s*",
    re.IGNORECASE,
)
_LABEL_KINDS = [(re.compile(rf"^(?:{p})$", re.IGNORECASE), k) for p, k in LABELS]

#: An unlabelled run of digit groups with separators, optionally led by a short letter
#: prefix ("EG-204311", "UV-3391/24"): what the file plan's patterns are tried against.
_NUM_GROUP = r"[0-9OIlSB]*[0-9][0-9OIlSB]*"
_CAND_SEP = r"(?:\s?[./\-–]{1,2}\s?|\s)"
CANDIDATE_RE = re.compile(
    rf"(?<![\w./-])(?:[A-Z]{{1,3}}\s?-\s?{_NUM_GROUP}(?:{_CAND_SEP}{_NUM_GROUP})*"
    rf"|{_NUM_GROUP}(?:{_CAND_SEP}{_NUM_GROUP})+)"
)


def label_kind(label: str) -> ReferenceKind:
    """The kind of reference a label such as "Ihr Zeichen" or "Kassenzeichen" announces."""
    text = re.sub(r"[.:\s]+$", "", label.strip())
    for regex, kind in _LABEL_KINDS:
        if regex.match(text):
            return kind
    return "other"


def _fix_group(group: str) -> str:
    """Resolve O/0, I/l/1, S/5, B/8 where the group is evidently a number."""
    digits = sum(ch.isdigit() for ch in group)
    if digits == 0:
        return group
    others = [ch for ch in group if not ch.isdigit()]
    all_confusable = all(ch in _CONFUSABLE_DIGITS for ch in others)
    if all_confusable and digits >= len(group) / 2:
        return "".join(_CONFUSABLE_DIGITS.get(ch, ch) for ch in group)
    out = list(group)
    for i, ch in enumerate(group):
        if ch not in _STRONG_CONFUSABLES:
            continue
        left = group[i - 1] if i > 0 else ""
        right = group[i + 1] if i + 1 < len(group) else ""
        # A confusable between two digits is a digit ("1O7" -> "107").
        if left.isdigit() and right.isdigit():
            out[i] = _CONFUSABLE_DIGITS[ch]
    return "".join(out)


def _groups(ref: str) -> list[tuple[str, str]]:
    """Split into (separator-before, group) pairs after Unicode normalisation."""
    text = unicodedata.normalize("NFKC", ref).strip()
    pairs: list[tuple[str, str]] = []
    pos = 0
    for m in _GROUP_RE.finditer(text):
        pairs.append((text[pos : m.start()], _fix_group(m.group())))
        pos = m.end()
    if any(any(ch.isdigit() for ch in g) for _, g in pairs):
        # A group made only of O/I/l among numeric groups is a misread number ("Il" = 11).
        pairs = [
            (sep, "".join(_CONFUSABLE_DIGITS[ch] for ch in g))
            if g and len(g) <= 4 and set(g) <= set("OIl|")
            else (sep, g)
            for sep, g in pairs
        ]
    return pairs


def _expand_year(group: str, today: date | None = None) -> str:
    """A two-digit year after a slash becomes four digits (24 -> 2024, 98 -> 1998)."""
    year = (today or date.today()).year
    value = int(group)
    century = 2000 if value <= (year % 100) + 1 else 1900
    return str(century + value)


def normalize(ref: str) -> str:
    """The matching key of a reference: upper case, OCR confusions resolved, no separators.

    Two-digit years after a slash are expanded ("/24" and "/2024" give the same key), so
    missing, doubled or different separators (dots, dashes, slashes, spaces) do not matter.
    """
    pairs = _groups(ref)
    if not pairs:
        return ""
    groups = [g.upper() for _, g in pairs]
    last_sep = pairs[-1][0]
    if len(groups) >= 2 and "/" in last_sep and re.fullmatch(r"\d{2}", groups[-1]):
        groups[-1] = _expand_year(groups[-1])
    return "".join(groups)


def clean(ref: str) -> str:
    """The readable canonical form: OCR confusions resolved, one separator between groups.

    Spaces around separators go, doubled separators collapse to one; a lone space between
    two groups is kept as a space. This is what file-plan patterns are tried against first.
    """
    out: list[str] = []
    for i, (sep, group) in enumerate(_groups(ref)):
        if i:
            marks = [ch for ch in sep if ch in "./-–—_:\\"]
            mark = marks[0] if marks else " "
            out.append({"–": "-", "—": "-", "_": "-", "\\": "/", ":": "."}.get(mark, mark))
        out.append(group.upper())
    return "".join(out)


@lru_cache(maxsize=4096)
def relaxed_pattern(pattern: str) -> re.Pattern[str]:
    """A variant of a file-plan pattern that accepts missing, doubled or other separators.

    Literal ``.``, ``-``, ``/`` and spaces outside character classes become
    ``[-./ ]{0,2}``; everything else is kept, so the variant still anchors the unit code.
    """
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            if not in_class and pair in ("\\.", "\\-", "\\/", "\\ "):
                out.append(_SEP_CLASS)
            else:
                out.append(pair)
            i += 2
            continue
        if ch == "[":
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        if not in_class and ch in "-/ ":
            out.append(_SEP_CLASS)
        else:
            out.append(ch)
        i += 1
    return re.compile("".join(out))


@dataclass(frozen=True)
class PatternSet:
    """The reference patterns of all file-plan units, compiled once."""

    patterns: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...]  # unit, exact, relaxed

    @classmethod
    def from_units(cls, units: list[tuple[str, tuple[str, ...]]]) -> PatternSet:
        """Build from ``(unit_code, reference_patterns)`` pairs."""
        compiled = tuple(
            (code, re.compile(p), relaxed_pattern(p)) for code, pats in units for p in pats
        )
        return cls(compiled)

    def unit_for(self, ref: str) -> str | None:
        """The unit whose pattern the reference fits (exactly first, then tolerantly).

        ``None`` when no pattern or patterns of more than one unit fit tolerantly.
        """
        readable = clean(ref)
        exact = {code for code, regex, _ in self.patterns if regex.fullmatch(readable)}
        if len(exact) == 1:
            return exact.pop()
        if exact:
            return None
        compact = readable.replace(" ", "")
        relaxed = {
            code
            for code, _, regex in self.patterns
            if regex.fullmatch(readable) or regex.fullmatch(compact)
        }
        return relaxed.pop() if len(relaxed) == 1 else None


def edit_distance_at_most_one(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one insertion, deletion or substitution."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la == lb:
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def deletion_variants(key: str) -> set[str]:
    """All strings one deletion away from ``key`` (index for tolerant matching)."""
    return {key[:i] + key[i + 1 :] for i in range(len(key))}
