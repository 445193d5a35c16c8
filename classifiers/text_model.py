"""The text model: word and character n-gram TF-IDF features and linear unit scores.

Part of the router (:mod:`classifiers.router`): :class:`TextModel` turns a letter's text
into calibrated file-plan unit probabilities. The feature extraction is a hand-written,
equivalent replacement for scikit-learn's per-call pipeline (13 -> 6 ms per letter, see
``tests/unit/test_router.py``'s equivalence test and ``benchmarks/routing.py``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from classifiers.model_io import Arrays
from mailroom.core.errors import ModelError

FloatArray = npt.NDArray[np.float64]

WORD_PARAMS: dict[str, Any] = {
    "analyzer": "word",
    "ngram_range": (1, 2),
    "sublinear_tf": True,
    "min_df": 1,
    "lowercase": True,
    "token_pattern": r"(?u)\b\w\w+\b",
}
CHAR_PARAMS: dict[str, Any] = {
    "analyzer": "char_wb",
    "ngram_range": (3, 5),
    "sublinear_tf": True,
    "min_df": 1,
    "lowercase": True,
}
_DIGITS = re.compile(r"\d")


def prepare_text(text: str) -> str:
    """What the classifier sees: digits folded (dates and amounts carry no topic)."""
    return _DIGITS.sub("0", text)


@dataclass
class TextModel:
    """Linear unit scores over TF-IDF features; ``scale`` turns them into probabilities."""

    labels: list[str]
    word: TfidfVectorizer
    char: TfidfVectorizer
    coef: npt.NDArray[np.float32]  # (n_labels, n_features)
    intercept: npt.NDArray[np.float32]
    scale: float  # softmax(scale * score), fitted on held-out folds (temperature scaling)

    def __post_init__(self) -> None:
        # Sparse @ dense wants the dense side contiguous; transposing per call copies it.
        self._coef_t = np.ascontiguousarray(self.coef.T)
        self._word = _FastTfidf(self.word)
        self._char = _FastTfidf(self.char)

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The TF-IDF feature rows (word n-grams, then character n-grams)."""
        rows = [self._row(text) for text in texts]
        indptr = np.cumsum([0, *(len(idx) for idx, _ in rows)])
        return sp.csr_matrix(
            (
                np.concatenate([w for _, w in rows]) if rows else np.zeros(0),
                np.concatenate([i for i, _ in rows]) if rows else np.zeros(0, dtype=np.int64),
                indptr,
            ),
            shape=(len(texts), self._coef_t.shape[0]),
        )

    def scores(self, texts: Sequence[str]) -> FloatArray:
        """Linear scores per label; one short text costs a gather of its features' rows."""
        out = np.empty((len(texts), len(self.labels)), dtype=np.float64)
        for r, text in enumerate(texts):
            idx, weights = self._row(text)
            out[r] = weights @ self._coef_t[idx]
        return out + self.intercept

    def _row(self, text: str) -> tuple[npt.NDArray[np.int64], FloatArray]:
        prepared = prepare_text(text)
        word_idx, word_w = self._word(prepared)
        char_idx, char_w = self._char(prepared)
        return (
            np.concatenate([word_idx, char_idx + len(self._word.idf)]),
            np.concatenate([word_w, char_w]),
        )

    def proba(self, texts: Sequence[str]) -> FloatArray:
        return softmax(self.scores(texts), self.scale)

    def to_arrays(self) -> tuple[Arrays, dict[str, Any]]:
        """Arrays and metadata for :func:`classifiers.model_io.dump_model` (no pickle)."""
        arrays: Arrays = {
            "labels": np.array(self.labels),
            "word_vocab": _vocab_array(self.word),
            "word_idf": self.word.idf_.astype(np.float64),
            "char_vocab": _vocab_array(self.char),
            "char_idf": self.char.idf_.astype(np.float64),
            "coef": self.coef.astype(np.float32),
            "intercept": self.intercept.astype(np.float32),
        }
        meta = {
            "scale": self.scale,
            "word_params": _jsonable(WORD_PARAMS),
            "char_params": _jsonable(CHAR_PARAMS),
        }
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: Arrays, meta: Mapping[str, Any]) -> TextModel:
        """Rebuild from verified arrays; raises :class:`ModelError` if parts are missing."""
        try:
            word = _vectorizer(meta["word_params"], arrays["word_vocab"], arrays["word_idf"])
            char = _vectorizer(meta["char_params"], arrays["char_vocab"], arrays["char_idf"])
            coef = arrays["coef"].astype(np.float32)
            intercept = arrays["intercept"].astype(np.float32)
            labels = [str(x) for x in arrays["labels"]]
            scale = float(meta["scale"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model file lacks a part of the router: {exc}") from exc
        n_features = len(word.vocabulary_) + len(char.vocabulary_)
        if coef.shape != (len(labels), n_features) or intercept.shape != (len(labels),):
            raise ModelError("model file is inconsistent: weights do not fit the vocabulary")
        return cls(labels, word, char, coef, intercept, scale)


def softmax(scores: FloatArray, scale: float) -> FloatArray:
    z = scores * scale
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _vocab_array(vectorizer: TfidfVectorizer) -> npt.NDArray[Any]:
    terms = [""] * len(vectorizer.vocabulary_)
    for term, index in vectorizer.vocabulary_.items():
        terms[index] = term
    return np.array(terms)


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


class _FastTfidf:
    """``TfidfVectorizer.transform`` without scikit-learn's per-call overhead.

    Routing one letter transforms one short text with four vectorizers (word and character
    n-grams of the trained model and of the file-plan prior); scikit-learn's input
    validation costs more than the counting there. The same numbers, computed directly:
    counts over the fitted vocabulary, ``1 + log(tf)`` when sublinear, times idf, L2-normed.
    Token lists are shared between vectorizers with the same analyzer settings.
    """

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.sublinear = bool(vectorizer.sublinear_tf)
        if vectorizer.norm != "l2" or not vectorizer.use_idf:
            raise ModelError("model file uses TF-IDF settings this router does not support")
        self.key = json.dumps(
            [
                vectorizer.analyzer,
                list(vectorizer.ngram_range),
                vectorizer.lowercase,
                vectorizer.token_pattern,
            ]
        )
        _analyzer(self.key, vectorizer)

    def __call__(self, text: str) -> tuple[npt.NDArray[np.int64], FloatArray]:
        """Column indices (ascending) and L2-normed TF-IDF weights of one text."""
        vocabulary = self.vocabulary
        counts = Counter(i for i in map(vocabulary.get, _tokens(self.key, text)) if i is not None)
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        order = np.argsort(idx)
        idx, tf = idx[order], tf[order]
        if self.sublinear:
            tf = np.log(tf) + 1.0
        weights = tf * self.idf[idx]
        norm = float(np.sqrt(weights @ weights))
        if norm > 0:
            weights /= norm
        return idx, weights


_ANALYZERS: dict[str, Callable[[str], list[str]]] = {}


def _analyzer(key: str, vectorizer: TfidfVectorizer | None = None) -> Callable[[str], list[str]]:
    if key not in _ANALYZERS:
        assert vectorizer is not None
        _ANALYZERS[key] = vectorizer.build_analyzer()
    return _ANALYZERS[key]


@lru_cache(maxsize=16)
def _tokens(key: str, text: str) -> tuple[str, ...]:
    return tuple(_analyzer(key)(text))


def _vectorizer(
    params: Mapping[str, Any], vocab: npt.NDArray[Any], idf: FloatArray
) -> TfidfVectorizer:
    allowed = {"analyzer", "ngram_range", "sublinear_tf", "min_df", "lowercase", "token_pattern"}
    kwargs = {k: tuple(v) if k == "ngram_range" else v for k, v in params.items() if k in allowed}
    if kwargs.get("analyzer") not in ("word", "char", "char_wb"):
        raise ModelError("model file names an unknown text analyzer")
    kwargs.pop("min_df", None)
    vectorizer = TfidfVectorizer(vocabulary={str(t): i for i, t in enumerate(vocab)}, **kwargs)
    vectorizer.idf_ = np.asarray(idf, dtype=np.float64)
    return vectorizer
