"""Is a page's OCR text plausible German? The word list behind the orientation check and
the second pass.

Tesseract's word confidence alone does not tell a page read the right way up from one
read turned: on a turned page it still finds "words", some with fair confidence. Words
that are in a German dictionary do: a page read upright has most of its words there, a
turned one almost none. The dictionary is the system's German word list (Debian
``wngerman``, 356,000 words with inflections; ``scripts/setup.sh`` and the Dockerfile
install it), read once per process.

A word counts when it has at least :data:`MIN_LETTERS` letters after its punctuation is
stripped; hyphenated compounds ("Johannes-Rau-Platz") count part by part, numbers and
codes not at all. Names of people and places are often missing from the list: an upright
letter scores 0.6-0.9, not 1.0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from mailroom.core.domain import Word
from mailroom.core.errors import MissingDependencyError

DEFAULT_WORDLIST = Path("/usr/share/dict/ngerman")
MIN_LETTERS = 3
#: Words below this confidence count as not read at all.
READ_CONFIDENCE = 50.0

_LETTERS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


class WordList:
    """A set of lower-case German words."""

    def __init__(self, words: Iterable[str]) -> None:
        self._words = frozenset(w.strip().lower() for w in words if w.strip())

    @classmethod
    def load(cls, path: Path) -> WordList:
        try:
            with path.open(encoding="utf-8") as fh:
                return cls(fh)
        except OSError as exc:
            raise MissingDependencyError(
                f"the German word list {path} cannot be read: {exc.strerror}",
                hint="install the Debian package wngerman (scripts/setup.sh does) "
                "or point MAILROOM_OCR_WORDLIST to another list, one word per line",
            ) from exc

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self._words

    def known(self, token: str) -> bool | None:
        """Whether ``token`` is German; None when it is no word (a number, too short)."""
        match = _LETTERS.search(token)
        if match is None:
            return None
        parts = [p for p in match.group().split("-") if len(p) >= MIN_LETTERS]
        if not parts:
            return None
        return all(p in self for p in parts)


@cache
def wordlist(path: Path = DEFAULT_WORDLIST) -> WordList:
    """The word list at ``path``, loaded once per process (about 0.4 s, 40 MB)."""
    return WordList.load(path)


def dictionary_share(words: Iterable[Word], vocabulary: WordList) -> float | None:
    """Share of the read words that are German; None when the page has no words at all.

    Words below READ_CONFIDENCE and words standing on end (:func:`standing`: read from a
    text line that runs down the page) count as not German.
    """
    known = counted = 0
    for word in words:
        verdict = vocabulary.known(word.text)
        if verdict is None:
            continue
        counted += 1
        known += verdict and word.confidence >= READ_CONFIDENCE and not standing(word)
    return known / counted if counted else None


def standing(word: Word) -> bool:
    """A word standing on end: Tesseract found its line running down the page (it reads
    such lines too, turned), so the page is turned. Its box is taller than wide - for
    three letters, clearly so (an upright "ich" in a narrow face is nearly square)."""
    letters = sum(ch.isalpha() for ch in word.text)
    if letters < MIN_LETTERS:
        return False
    return word.box.height > word.box.width * (1.3 if letters == MIN_LETTERS else 1.0)


def german_letters(words: Iterable[Word], vocabulary: WordList) -> int:
    """Letters in words read with confidence that are German and lie across the page: the
    measure to compare two readings of the same part of a page (turned or not, prepared
    one way or another). A page turned a quarter still yields German words, read from
    lines running down - standing on end (:func:`standing`), which do not count.
    """
    return sum(
        len(w.text)
        for w in words
        if w.confidence >= READ_CONFIDENCE and not standing(w) and vocabulary.known(w.text)
    )
