"""Training runs against the database and the object store (Training).

Labels come from clerks' decisions in the database (accepted and reassigned documents,
``RoutingDecision.is_label``) and from already-filed documents imported from a DMS
(``TrainingSample``). Fitting itself is :func:`classifiers.training.train_router`; here a
run's model file, held-out set and precision/coverage plot are stored and a new candidate
:class:`~mailroom.infra.db.models.ModelVersion` is listed with its metrics.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from classifiers import model_io
from classifiers.training import LabelledText, TrainingRun, new_version_name, train_router
from config.fileplan import FilePlan
from config.settings import Settings
from mailroom.core.errors import BadInputError
from mailroom.infra.db.database import Database
from mailroom.infra.db.models import Document, ModelVersion, RoutingDecision, TrainingSample
from mailroom.infra.objects import ObjectStore

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


# -- storing a run --------------------------------------------------------------------


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
    """Object-store key of a version's held-out set (gzipped JSON)."""
    return f"models/{version}/heldout.json.gz"


def load_heldout(store: ObjectStore, version: str) -> list[LabelledText]:
    """The held-out set stored with ``version`` by :func:`save_run`."""
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


# -- the precision/coverage plot -------------------------------------------------------


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
