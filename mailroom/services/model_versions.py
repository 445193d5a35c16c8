"""Model versions (Modellversionen): the active router, promotion, rollback, retraining.

Exactly one version is ``active``; new ones start as ``candidate``. Workers ask
:meth:`ModelRegistry.router` for every document; it re-checks the database at most every
few seconds, so a promoted model is picked up without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from classifiers import model_io
from classifiers.evaluation import evaluate_router
from classifiers.router import Router, make_coldstart_router
from classifiers.text_model import TextModel
from classifiers.thresholds import Threshold
from config.fileplan import FilePlan
from config.settings import Settings
from mailroom.core.errors import Conflict, ModelError, NotFound
from mailroom.infra.db.audit import audit
from mailroom.infra.db.database import Database
from mailroom.infra.db.models import BlobLock, ModelVersion, RoutingDecision
from mailroom.infra.objects import ObjectStore
from mailroom.services.thresholds import admin_thresholds
from mailroom.services.training import load_heldout
from mailroom.services.training import train as train_candidate

log = logging.getLogger(__name__)

RETRAIN_LOCK = "router-retrain"
#: A candidate may be this much worse (rounding noise) and still count as "not worse".
TOLERANCE = 0.002


class ModelRegistry:
    """Loads, lists, promotes and rolls back router versions."""

    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        fileplan: FilePlan,
        settings: Settings,
        *,
        recheck_seconds: float = 5.0,
    ) -> None:
        self.db = db
        self.store = store
        self.fileplan = fileplan
        self.settings = settings
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._router: Router | None = None
        self._checked_at = 0.0
        self._coldstart: Router | None = None

    # -- the router the pipeline uses ---------------------------------------------------

    def router(self) -> Router:
        """The active model's router, or the cold-start router when none is active."""
        now = time.monotonic()
        with self._lock:
            if self._router is not None and now - self._checked_at < self.recheck_seconds:
                return self._router
            self._checked_at = now
            with self.db.session() as session:
                active = session.scalar(select(ModelVersion).where(ModelVersion.status == "active"))
                admin = admin_thresholds(session)
            if active is None:
                router = self.coldstart()
            elif self._router is not None and self._router.version == active.version:
                router = self._router
            else:
                router = self._load_row(active)
            router.admin_thresholds = admin
            self._router = router
            return router

    def refresh(self) -> None:
        """Re-read the active model and the administrators' thresholds on the next call."""
        self._checked_at = 0.0

    def thresholds_in_force(self, session: Session) -> dict[str, Threshold]:
        """Per department of the file plan: the threshold routing uses and its source, with
        the administrators' values read from ``session`` (shown right after a change)."""
        router = self.router()
        admin = admin_thresholds(session)
        return {d.id: router.threshold_in_force(d.id, admin) for d in self.fileplan.departments}

    def coldstart(self) -> Router:
        if self._coldstart is None:
            self._coldstart = make_coldstart_router(self.fileplan, self.settings)
        return self._coldstart

    def load(self, version: str) -> Router:
        """The router of any stored version (verified against the recorded checksum)."""
        return self._load_row(self.show(version))

    def _load_row(self, row: ModelVersion) -> Router:
        if not row.object_key or not row.sha256:
            raise ModelError(f"model {row.version} has no stored file or checksum")
        arrays, meta = model_io.fetch_model(self.store, row.object_key, row.sha256)
        thresholds = {str(k): float(v) for k, v in (meta.get("thresholds") or {}).items()}
        prior_weight = float(meta.get("prior_weight", 0.0))
        prior = self.coldstart().model if prior_weight > 0 else None
        return Router(
            row.version,
            TextModel.from_arrays(arrays, meta),
            self.fileplan,
            self.settings,
            thresholds=thresholds,
            prior=prior,
            prior_weight=prior_weight,
        )

    # -- listing -------------------------------------------------------------------------

    def list(self) -> list[ModelVersion]:
        with self.db.session() as session:
            return list(
                session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc()))
            )

    def show(self, version: str) -> ModelVersion:
        with self.db.session() as session:
            row = session.get(ModelVersion, version)
        if row is None:
            raise NotFound(
                f"model version {version!r} does not exist", hint="see 'mailroom models list'"
            )
        return row

    def active(self) -> ModelVersion | None:
        with self.db.session() as session:
            return session.scalar(select(ModelVersion).where(ModelVersion.status == "active"))

    # -- promotion and rollback ------------------------------------------------------------

    def compare(self, version: str) -> dict[str, Any]:
        """Candidate and active model measured on the candidate's held-out set."""
        candidate = self.show(version)
        heldout = load_heldout(self.store, version)
        texts, units = [e.text for e in heldout], [e.unit_code for e in heldout]
        result: dict[str, Any] = {
            "candidate": _score(evaluate_router(self.load(version), texts, units))
        }
        active = self.active()
        if active is not None and active.version != candidate.version:
            result["active_version"] = active.version
            result["active"] = _score(evaluate_router(self._load_row(active), texts, units))
        return result

    def promote(self, version: str, *, force: bool = False, actor: str = "system") -> ModelVersion:
        """Make ``version`` active unless it is worse than the active one on the same data."""
        comparison = self.compare(version)
        if "active" in comparison and not force:
            cand, act = comparison["candidate"], comparison["active"]
            worse = [k for k in cand if cand[k] < act[k] - TOLERANCE]
            if worse:
                details = ", ".join(f"{k} {cand[k]:.3f} < {act[k]:.3f}" for k in worse)
                raise Conflict(
                    f"model {version} is worse than the active {comparison['active_version']} "
                    f"on the same held-out data ({details})",
                    hint="use --force to promote anyway",
                )
        with self.db.session() as session:
            row = session.get(ModelVersion, version)
            if row is None:
                raise NotFound(f"model version {version!r} does not exist")
            for other in session.scalars(
                select(ModelVersion).where(ModelVersion.status == "active")
            ):
                other.status = "retired"
            row.status = "active"
            row.promoted_at = datetime.now(UTC)
            audit(
                session,
                actor,
                "model_promote",
                version=version,
                forced=force,
                comparison=comparison,
            )
        self._checked_at = 0.0
        return self.show(version)

    def rollback(self, *, actor: str = "system") -> ModelVersion:
        """Re-activate the version that was active before the current one."""
        with self.db.session() as session:
            current = session.scalar(select(ModelVersion).where(ModelVersion.status == "active"))
            if current is None:
                raise Conflict("no model is active; nothing to roll back")
            previous = session.scalar(
                select(ModelVersion)
                .where(
                    ModelVersion.status == "retired",
                    ModelVersion.promoted_at.is_not(None),
                    ModelVersion.version != current.version,
                )
                .order_by(ModelVersion.promoted_at.desc())
            )
            if previous is None:
                raise Conflict(f"model {current.version} has no predecessor to roll back to")
            current.status = "retired"
            current.promoted_at = None  # so a second rollback goes further back
            previous.status = "active"
            version = previous.version
            audit(session, actor, "model_rollback", version=version, replaced=current.version)
        self._checked_at = 0.0
        return self.show(version)

    def train(self, *, actor: str = "system", seed: int = 0) -> ModelVersion:
        """Train a new candidate on every label in the database (web "Training starten")."""
        notes = f"trained by {actor}"
        return train_candidate(
            self.db, self.store, self.fileplan, self.settings, seed=seed, notes=notes
        )

    def evaluate(self, version: str) -> dict[str, Any]:
        """Measure a version again on its own held-out set (metrics without bulky parts)."""
        heldout = load_heldout(self.store, version)
        metrics = evaluate_router(
            self.load(version), [e.text for e in heldout], [e.unit_code for e in heldout]
        )
        return {
            k: v for k, v in metrics.items() if k not in ("unit_confusion", "precision_coverage")
        }

    # -- background retraining ---------------------------------------------------------------

    def corrections_since_last(self) -> int:
        """Clerks' labels recorded after the newest model version was trained."""
        with self.db.session() as session:
            newest = session.scalar(
                select(ModelVersion.created_at).order_by(ModelVersion.created_at.desc())
            )
            query = select(RoutingDecision.id).where(RoutingDecision.is_label.is_(True))
            if newest is not None:
                query = query.where(RoutingDecision.created_at > newest)
            return len(session.scalars(query).all())

    def maybe_retrain(self, *, owner: str = "retrain", force: bool = False) -> ModelVersion | None:
        """Train when enough corrections arrived (or ``force``), under a lock; promote the
        result if it is not worse. Returns the new version or ``None`` if nothing ran."""
        if not force and self.corrections_since_last() < self.settings.retrain_after_corrections:
            return None
        if not _acquire(self.db, RETRAIN_LOCK, owner, minutes=30):
            log.info("retraining skipped: another process holds the lock")
            return None
        try:
            row = train_candidate(
                self.db, self.store, self.fileplan, self.settings, notes=f"retrained by {owner}"
            )
            try:
                return self.promote(row.version, actor=owner)
            except Conflict as exc:
                log.info("retrained model %s not promoted: %s", row.version, exc)
                return row
        finally:
            _release(self.db, RETRAIN_LOCK, owner)


def _score(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        "unit_macro_f1": float(metrics["unit_macro_f1"]),
        "unit_accuracy": float(metrics["unit_accuracy"]),
        "department_accuracy": float(metrics["department_accuracy"]),
    }


def _acquire(db: Database, name: str, owner: str, *, minutes: int) -> bool:
    now = datetime.now(UTC)
    try:
        with db.session() as session:
            lock = session.get(BlobLock, name)
            if lock is None:
                session.add(
                    BlobLock(name=name, owner=owner, until=now + timedelta(minutes=minutes))
                )
            elif lock.until < now or lock.owner == owner:
                lock.owner, lock.until = owner, now + timedelta(minutes=minutes)
            else:
                return False
    except IntegrityError:
        return False
    return True


def _release(db: Database, name: str, owner: str) -> None:
    with db.session() as session:
        lock = session.get(BlobLock, name)
        if lock is not None and lock.owner == owner:
            session.delete(lock)


__all__ = ["RETRAIN_LOCK", "ModelRegistry"]
