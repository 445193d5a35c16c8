"""Training and evaluating the router (Training, Evaluation).

Labels come from clerks' decisions in the database (accepted and reassigned documents,
``RoutingDecision.is_label``) and from already-filed documents imported from a DMS
(``TrainingSample``). Every run holds out a stratified part, measures the model on it and
stores a new candidate :class:`~mailroom.infra.db.models.ModelVersion` with its metrics, the
held-out set and a precision/coverage plot.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.svm import LinearSVC
from sqlalchemy import select
from sqlalchemy.orm import Session

from classifiers import model_io
from classifiers.extract import extract
from classifiers.router import (
    CHAR_PARAMS,
    PRIOR_WEIGHT,
    WORD_PARAMS,
    FloatArray,
    Router,
    TextModel,
    apply_evidence,
    coldstart_model,
    prepare_text,
    softmax,
)
from config.fileplan import FilePlan
from config.settings import Settings
from mailroom.core.domain import CaseMatch
from mailroom.core.errors import BadInputError
from mailroom.infra.db.database import Database
from mailroom.infra.db.models import Document, ModelVersion, RoutingDecision, TrainingSample
from mailroom.infra.objects import ObjectStore

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


# -- collecting labels ---------------------------------------------------------------


def collect_labels(session: Session, fileplan: FilePlan) -> list[LabelledText]:
    """Clerks' latest label per document plus the imported DMS samples (known units only)."""
    latest: dict[str, tuple[datetime, int, str | None]] = {}
    rows = session.execute(
        select(
            RoutingDecision.document_id,
            RoutingDecision.created_at,
            RoutingDecision.id,
            RoutingDecision.unit_code,
        ).where(RoutingDecision.is_label.is_(True), RoutingDecision.unit_code.is_not(None))
    )
    for doc_id, created, decision_id, unit in rows:
        if doc_id not in latest or (created, decision_id) > latest[doc_id][:2]:
            latest[doc_id] = (created, decision_id, unit)
    out: list[LabelledText] = []
    if latest:
        query = select(Document.id, Document.text).where(Document.id.in_(list(latest)))
        texts: dict[str, str | None] = {row[0]: row[1] for row in session.execute(query)}
        for doc_id, (_, _, unit) in sorted(latest.items()):
            text = texts.get(doc_id)
            if text and unit is not None and unit in fileplan.units_by_code:
                out.append(LabelledText(text, unit, f"document:{doc_id}"))
    for sample in session.scalars(select(TrainingSample).order_by(TrainingSample.id)):
        if sample.unit_code in fileplan.units_by_code and sample.text.strip():
            out.append(LabelledText(sample.text, sample.unit_code, f"sample:{sample.id}"))
    return out


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


# -- evaluation --------------------------------------------------------------------------


def route_texts(
    router: Router, texts: Sequence[str]
) -> tuple[list[str], list[str], FloatArray, list[str]]:
    """Units, departments, confidences and decisions for many texts (no case matching)."""
    proba = router.unit_proba(texts) if texts else np.zeros((0, len(router.labels)))
    units: list[str] = []
    depts: list[str] = []
    conf: list[float] = []
    decisions: list[str] = []
    for text, p in zip(texts, proba, strict=True):
        extraction = extract(text, router.fileplan)
        evidence = apply_evidence(p, router.labels, router.fileplan, extraction)
        result = router.decide(evidence, text, extraction, CaseMatch())
        units.append(result.unit_code or "")
        depts.append(result.department_id or "")
        conf.append(result.confidence)
        decisions.append(result.decision)
    return units, depts, np.array(conf), decisions


def evaluate_router(router: Router, texts: Sequence[str], units: Sequence[str]) -> dict[str, Any]:
    """Accuracy and macro-F1 for unit and department, per-class precision/recall, confusion
    matrix, automatic-routing precision/coverage and the precision/coverage curve."""
    started = time.perf_counter()
    pred_units, pred_depts, conf, decisions = route_texts(router, texts)
    ms = 1000 * (time.perf_counter() - started) / max(1, len(texts))
    plan = router.fileplan
    true_depts = [plan.unit(u).department for u in units]
    unit_ok = np.array([p == t for p, t in zip(pred_units, units, strict=True)])
    auto = np.array([d == "auto" for d in decisions])
    labels = sorted(set(units) | set(pred_units))
    prec, rec, _, support = precision_recall_fscore_support(
        units, pred_units, labels=labels, zero_division=0
    )
    dept_labels = sorted(set(true_depts) | set(pred_depts))
    order = np.argsort(-conf, kind="stable")
    hits = np.cumsum(unit_ok[order])
    n = max(1, len(texts))
    curve = [
        [round((k + 1) / n, 4), round(float(hits[k]) / (k + 1), 4), round(float(conf[order][k]), 4)]
        for k in range(0, len(order), max(1, len(order) // 200))
    ]
    return {
        "n": len(texts),
        "unit_accuracy": float(unit_ok.mean()) if len(texts) else 0.0,
        "unit_macro_f1": float(f1_score(units, pred_units, average="macro", zero_division=0)),
        "department_accuracy": float(
            np.mean([p == t for p, t in zip(pred_depts, true_depts, strict=True)])
        ),
        "department_macro_f1": float(
            f1_score(true_depts, pred_depts, average="macro", zero_division=0)
        ),
        "auto_precision": float(unit_ok[auto].mean()) if auto.any() else None,
        "auto_department_precision": float(
            np.mean([pred_depts[i] == true_depts[i] for i in np.nonzero(auto)[0]])
        )
        if auto.any()
        else None,
        "auto_coverage": float(auto.mean()) if len(texts) else 0.0,
        "per_class": {
            code: {"precision": round(float(p), 4), "recall": round(float(r), 4), "support": int(s)}
            for code, p, r, s in zip(labels, prec, rec, support, strict=True)
        },
        "department_confusion": {
            "labels": dept_labels,
            "matrix": confusion_matrix(true_depts, pred_depts, labels=dept_labels).tolist(),
        },
        "unit_confusion": _sparse_confusion(units, pred_units),
        "precision_coverage": curve,
        "ms_per_document": round(ms, 3),
    }


def _sparse_confusion(truth: Sequence[str], pred: Sequence[str]) -> list[list[Any]]:
    counts: dict[tuple[str, str], int] = {}
    for t, p in zip(truth, pred, strict=True):
        if t != p:
            counts[(t, p)] = counts.get((t, p), 0) + 1
    return [[t, p, c] for (t, p), c in sorted(counts.items(), key=lambda kv: -kv[1])]


def precision_coverage_png(metrics: dict[str, Any], title: str) -> bytes:
    """PNG plot of automatic-routing precision against coverage (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = np.array(metrics.get("precision_coverage") or [[0, 0, 0]], dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(curve[:, 0], curve[:, 1], label="Präzision")
    if metrics.get("auto_precision") is not None:
        ax.scatter(
            [metrics["auto_coverage"]],
            [metrics["auto_precision"]],
            color="red",
            zorder=3,
            label="gewählte Schwellen",
        )
    ax.set_xlabel("Abdeckung (Anteil automatisch zugestellt)")
    ax.set_ylabel("Präzision (Einheit richtig)")
    ax.set_ylim(max(0.0, float(curve[:, 1].min()) - 0.05), 1.005)
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    ax.set_title(title)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


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
    return datetime.now(UTC).strftime("m%Y%m%d-%H%M%S-%f")[:-3]


def save_run(
    db: Database, store: ObjectStore, run: TrainingRun, *, notes: str | None = None
) -> ModelVersion:
    """Store model file, plot and held-out set in the object store and list the version."""
    version = run.router.version
    arrays, meta = run.router.model.to_arrays()
    meta = {
        **meta,
        "version": version,
        "thresholds": run.router.thresholds,
        "prior_weight": run.router.prior_weight if run.router.prior is not None else 0.0,
    }
    key, digest = model_io.store_model(store, version, model_io.dump_model(arrays, meta))
    plot = precision_coverage_png(run.metrics, f"Modell {version}")
    store.put(model_io.plot_key(version), plot, "image/png")
    heldout = [{"text": e.text, "unit": e.unit_code, "source": e.source} for e in run.heldout]
    store.put(heldout_key(version), gzip.compress(json.dumps(heldout).encode()), "application/gzip")
    row = ModelVersion(
        version=version,
        status="candidate",
        object_key=key,
        sha256=digest,
        format_version=model_io.FORMAT_VERSION,
        sklearn_version=meta.get("sklearn_version") or _sklearn(),
        training_size=run.training_size,
        metrics=run.metrics,
        plot_key=model_io.plot_key(version),
        notes=notes,
    )
    with db.session() as session:
        session.add(row)
    return row


def heldout_key(version: str) -> str:
    return f"models/{version}/heldout.json.gz"


def load_heldout(store: ObjectStore, version: str) -> list[LabelledText]:
    raw = json.loads(gzip.decompress(store.get(heldout_key(version))))
    return [LabelledText(str(r["text"]), str(r["unit"]), str(r.get("source", ""))) for r in raw]


def _sklearn() -> str:
    import sklearn

    return sklearn.__version__


def train(
    db: Database,
    store: ObjectStore,
    fileplan: FilePlan,
    settings: Settings,
    *,
    seed: int = 0,
    notes: str | None = None,
) -> ModelVersion:
    """Train on every label in the database; returns the new candidate version."""
    with db.session() as session:
        examples = collect_labels(session, fileplan)
    run = train_router(examples, fileplan, settings, version=new_version_name(), seed=seed)
    return save_run(db, store, run, notes=notes)


# -- labelled folders from a DMS ---------------------------------------------------------

MEDIA_TYPES = {
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}


@dataclass(frozen=True)
class LabelledFile:
    """One row of a ``file,unit[,case]`` label list with the file's text."""

    source: str
    text: str
    unit_code: str
    case_ref: str | None
    sha256: str


def read_labelled_dir(
    directory: Path, labels: Path, fileplan: FilePlan, ocr_text: Callable[[bytes, str], str]
) -> list[LabelledFile]:
    """Read ``labels`` (CSV ``file,unit[,case]``) and the files it names below ``directory``.
    ``.txt`` files are taken as already transcribed; images and PDFs go through ``ocr_text``.
    Errors name the CSV line."""
    try:
        handle = labels.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise BadInputError(f"cannot read {labels}: {exc.strerror}") from exc
    root = directory.resolve()
    out: list[LabelledFile] = []
    errors: list[str] = []
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        if "file" not in header or "unit" not in header:
            raise BadInputError(f"{labels}:1: the header must be file,unit[,case]")
        reader.fieldnames = header
        for row in reader:
            line = reader.line_num
            name = (row.get("file") or "").strip()
            unit = (row.get("unit") or "").strip()
            path = (root / name).resolve()
            if not name or not path.is_relative_to(root):
                errors.append(f"{labels}:{line}: file {name!r} is not inside {directory}")
                continue
            if unit not in fileplan.units_by_code:
                errors.append(f"{labels}:{line}: unit {unit!r} is not in the file plan")
                continue
            media = MEDIA_TYPES.get(path.suffix.lower())
            if media is None or not path.is_file():
                errors.append(f"{labels}:{line}: {name!r} is missing or not .txt/.pdf/image")
                continue
            data = path.read_bytes()
            text = (
                data.decode("utf-8", errors="replace")
                if media == "text/plain"
                else ocr_text(data, media)
            )
            case = (row.get("case") or "").strip() or None
            out.append(LabelledFile(name, text, unit, case, hashlib.sha256(data).hexdigest()))
    if errors:
        raise BadInputError("\n".join(errors[:50]), hint="fix these lines and run again")
    return out


def store_samples(session: Session, files: Sequence[LabelledFile]) -> int:
    """Save labelled files as training samples; a file seen before (same bytes) is updated."""
    existing = {
        s.sha256: s
        for s in session.scalars(
            select(TrainingSample).where(TrainingSample.sha256.in_([f.sha256 for f in files]))
        )
    }
    for f in files:
        sample = existing.get(f.sha256) or TrainingSample(sha256=f.sha256)
        sample.source, sample.text, sample.unit_code, sample.case_ref = (
            f.source,
            f.text,
            f.unit_code,
            f.case_ref,
        )
        session.add(sample)
        existing[f.sha256] = sample
    session.flush()
    return len(files)
