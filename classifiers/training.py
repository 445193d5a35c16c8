"""Fitting the router (Training): the text model, its calibration and its thresholds.

Pure: the labelled examples come in as :class:`LabelledText`, the result goes out as a
:class:`TrainingRun`. Collecting labels from the database and storing a run are in
:mod:`mailroom.services.training`; measuring a router on a labelled set is in
:mod:`classifiers.evaluation`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.svm import LinearSVC

from classifiers.evaluation import evaluate_router
from classifiers.extract import extract
from classifiers.router import PRIOR_WEIGHT, Router, apply_evidence, coldstart_model
from classifiers.text_model import (
    CHAR_PARAMS,
    WORD_PARAMS,
    FloatArray,
    TextModel,
    prepare_text,
    softmax,
)
from config.fileplan import FilePlan
from config.settings import Settings
from mailroom.core.domain import CaseMatch
from mailroom.core.errors import BadInputError

MIN_TRAINING_DOCS = 20
MIN_THRESHOLD_SUPPORT = 40
NEVER = 1.01  # a threshold no confidence reaches: that department always goes to review
#: Upper bound of the softmax temperature scale: with perfectly separated training folds the
#: log-loss optimum is unbounded, and an unbounded scale makes every letter look certain.
MAX_SCALE = 10.0
#: Share of words kept when thinning held-out text for calibration.
THIN_KEEP = 0.3


@dataclass(frozen=True)
class LabelledText:
    """One training example: the letter's text and the unit a person filed it under."""

    text: str
    unit_code: str
    source: str


# -- fitting ---------------------------------------------------------------------------


def _fit_svm(x: sp.csr_matrix, y: np.ndarray, seed: int) -> LinearSVC:
    return LinearSVC(C=0.5, class_weight="balanced", random_state=seed, max_iter=3000).fit(x, y)


def _fit_scale(scores: FloatArray, y_index: np.ndarray, log_prior: FloatArray | None) -> float:
    """Temperature scaling: the softmax scale with the lowest log-loss on held-out scores
    (combined with the file-plan prior the router multiplies in)."""
    best, best_loss = 1.0, float("inf")
    for scale in np.geomspace(0.5, MAX_SCALE, 40):
        z = scores * float(scale) + (log_prior if log_prior is not None else 0.0)
        p = softmax(z, 1.0)
        loss = -float(np.mean(np.log(np.maximum(p[np.arange(len(y_index)), y_index], 1e-12))))
        if loss < best_loss:
            best, best_loss = float(scale), loss
    return best


def fit_text_model(
    texts: Sequence[str],
    units: Sequence[str],
    *,
    seed: int = 0,
    folds: int = 3,
    log_prior: FloatArray | None = None,
    validation_texts: Sequence[str] | None = None,
) -> tuple[TextModel, FloatArray]:
    """Fit the unit model; returns it with out-of-fold probabilities of the training texts
    (calibration and thresholds are measured on those, never on the fitted texts).

    ``log_prior`` (texts x sorted labels) is the weighted log-probability of the file-plan
    prior; the temperature is fitted for the combination the router actually uses.
    ``validation_texts`` (default: ``texts``) are what the held-out folds are scored on."""
    labels = sorted(set(units))
    y = np.array([labels.index(u) for u in units])
    prepared = [prepare_text(t) for t in texts]
    word = TfidfVectorizer(**{**WORD_PARAMS, "min_df": 2}).fit(prepared)
    char = TfidfVectorizer(**{**CHAR_PARAMS, "min_df": 2}).fit(prepared)
    x = sp.hstack([word.transform(prepared), char.transform(prepared)], format="csr")
    if validation_texts is None:
        x_val = x
    else:
        val_prepared = [prepare_text(t) for t in validation_texts]
        x_val = sp.hstack(
            [word.transform(val_prepared), char.transform(val_prepared)], format="csr"
        )
    oof = np.zeros((len(texts), len(labels)))
    n_splits = max(2, min(folds, int(np.bincount(y).min())))
    if len(labels) > 1 and np.bincount(y).min() >= 2:
        for train_i, val_i in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(
            x, y
        ):
            svm = _fit_svm(x[train_i], y[train_i], seed)
            scores = svm.decision_function(x_val[val_i])
            if scores.ndim == 1:
                scores = np.column_stack([-scores, scores])
            oof[np.ix_(val_i, svm.classes_)] = scores
        scale = _fit_scale(oof, y, log_prior)
    else:
        scale = 10.0
    if len(labels) == 1:
        coef = np.zeros((1, x.shape[1]), np.float32)
        intercept = np.zeros(1, np.float32)
    else:
        svm = _fit_svm(x, y, seed)
        coef = np.asarray(svm.coef_, np.float32)
        intercept = np.asarray(svm.intercept_, np.float32)
        if len(labels) == 2:  # binary LinearSVC has one row: score of the second label
            coef = np.vstack([-coef, coef])
            intercept = np.concatenate([-intercept, intercept])
    model = TextModel(labels, word, char, coef, intercept, scale)
    return model, softmax(oof * scale + (log_prior if log_prior is not None else 0.0), 1.0)


def measure_thresholds(
    confidence: FloatArray, correct: np.ndarray, depts: Sequence[str], target: float
) -> dict[str, float]:
    """The lowest confidence at which automatic routing keeps ``target`` precision on
    held-out predictions: ``"*"`` for all departments (counting one error more than seen,
    so a small sample cannot promise much), and a stricter one per department where that
    department's own predictions fall short."""

    def lowest(conf: FloatArray, ok: np.ndarray, phantom_errors: int) -> float:
        order = np.argsort(-conf, kind="stable")
        precision = np.cumsum(ok[order]) / (np.arange(1, len(order) + 1) + phantom_errors)
        good = np.nonzero(precision >= target)[0]
        return float(conf[order][good.max()]) if len(good) else NEVER

    overall = lowest(confidence, correct, 1)
    thresholds = {"*": overall}
    dept_arr = np.array(depts)
    for dept in sorted(set(depts)):
        mask = dept_arr == dept
        if mask.sum() >= MIN_THRESHOLD_SUPPORT:
            thresholds[dept] = max(overall, lowest(confidence[mask], correct[mask], 0))
    return thresholds


# -- one training run --------------------------------------------------------------------


@dataclass
class TrainingRun:
    """What :func:`train_router` produced: the router and its measurements."""

    router: Router
    metrics: dict[str, Any]
    heldout: list[LabelledText]
    training_size: int


def train_router(
    examples: Sequence[LabelledText],
    fileplan: FilePlan,
    settings: Settings,
    *,
    version: str,
    seed: int = 0,
    test_size: float = 0.2,
) -> TrainingRun:
    """Hold out a stratified part, fit on the rest, measure thresholds and metrics."""
    examples = [e for e in examples if e.unit_code in fileplan.units_by_code]
    if len(examples) < MIN_TRAINING_DOCS:
        raise BadInputError(
            f"only {len(examples)} labelled documents; training needs at least {MIN_TRAINING_DOCS}",
            hint="import filed documents with 'mailroom train DIR --labels FILE.csv'",
        )
    units = [e.unit_code for e in examples]
    counts = {u: units.count(u) for u in set(units)}
    stratify = [u if counts[u] >= 2 else "_rare" for u in units]
    if min(stratify.count(s) for s in set(stratify)) < 2:
        stratify = None  # type: ignore[assignment]
    train_i, test_i = train_test_split(
        np.arange(len(examples)), test_size=test_size, random_state=seed, stratify=stratify
    )
    train_ex = [examples[i] for i in train_i]
    heldout = [examples[i] for i in test_i]
    started = time.perf_counter()
    train_units = [e.unit_code for e in train_ex]
    labels = sorted(set(train_units))
    rng = np.random.default_rng(seed)
    # Held-out folds are scored on thinned-out text: new letters use words the training
    # letters did not, and OCR loses some; calibrating on intact text makes it overconfident.
    thinned = [thin_text(e.text, rng) for e in train_ex]
    prior = coldstart_model(fileplan)
    prior_p = prior.proba(thinned)[:, [prior.labels.index(c) for c in labels]]
    prior_p /= prior_p.sum(axis=1, keepdims=True)
    log_prior = PRIOR_WEIGHT * np.log(np.maximum(prior_p, 1e-12))
    model, oof = fit_text_model(
        [e.text for e in train_ex],
        train_units,
        seed=seed,
        log_prior=log_prior,
        validation_texts=thinned,
    )
    router = Router(version, model, fileplan, settings, prior=prior, prior_weight=PRIOR_WEIGHT)
    router.thresholds = _thresholds_from_oof(router, train_ex, oof, settings.target_precision)
    seconds = time.perf_counter() - started
    metrics = evaluate_router(router, [e.text for e in heldout], [e.unit_code for e in heldout])
    metrics.update(
        training_seconds=round(seconds, 2),
        thresholds=router.thresholds,
        target_precision=settings.target_precision,
        training_size=len(train_ex),
    )
    return TrainingRun(router, metrics, heldout, len(train_ex))


def thin_text(text: str, rng: np.random.Generator, keep: float = THIN_KEEP) -> str:
    """The text with a random part of its words left out (calibration text)."""
    lines = []
    for line in text.splitlines():
        words = line.split(" ")
        mask = rng.random(len(words)) < keep
        lines.append(" ".join(w for w, k in zip(words, mask, strict=True) if k))
    return "\n".join(lines)


def _thresholds_from_oof(
    router: Router, train_ex: Sequence[LabelledText], oof: FloatArray, target: float
) -> dict[str, float]:
    # Out-of-fold probabilities over the model's labels -> the file plan's units.
    keep = np.array([c in router.fileplan.units_by_code for c in router.model.labels])
    proba = oof[:, keep]
    conf, ok, depts = [], [], []
    for example, p in zip(train_ex, proba, strict=True):
        extraction = extract(example.text, router.fileplan)
        evidence = apply_evidence(p, router.labels, router.fileplan, extraction)
        result = router.decide(evidence, example.text, extraction, CaseMatch())
        conf.append(result.confidence)
        ok.append(result.unit_code == example.unit_code)
        depts.append(result.department_id or "")
    return measure_thresholds(np.array(conf), np.array(ok), depts, target)


def new_version_name() -> str:
    """A new, sortable version name from the current UTC time (``mYYYYMMDD-HHMMSS-mmm``)."""
    return datetime.now(UTC).strftime("m%Y%m%d-%H%M%S-%f")[:-3]
