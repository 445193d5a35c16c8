from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from classifiers import model_io
from classifiers.training import LabelledText, train_router
from config.settings import Settings
from mailroom.core.errors import Conflict, ModelError
from mailroom.demo.letters import generate_letters
from mailroom.infra.db.models import (
    Document,
    ModelVersion,
    RoutingDecision,
    ScanLine,
    TrainingSample,
)
from mailroom.services.model_versions import ModelRegistry
from mailroom.services.training import collect_labels, save_run, train
from tests.helpers_routing import fileplan, temp_db, temp_store

UNITS = [
    "209.10",
    "209.20",
    "403.10",
    "403.20",
    "403.30",
    "105.10",
    "105.20",
    "405.40",
    "302.20",
    "003.10",
]
SETTINGS = Settings(_env_file=None, retrain_after_corrections=1)  # type: ignore[call-arg]


def _letters(n: int, seed: int):
    return generate_letters(fileplan(), n, seed=seed, units=UNITS)


def _samples(db, n: int, seed: int, *, shuffle_labels: bool = False) -> None:
    letters = _letters(n, seed)
    units = [letter.unit_code for letter in letters]
    if shuffle_labels:  # a deliberately bad teacher: confusable pairs swapped
        swap = {
            a: b
            for i in range(0, len(UNITS), 2)
            for a, b in ((UNITS[i], UNITS[i + 1]), (UNITS[i + 1], UNITS[i]))
        }
        units = [swap[u] for u in units]
    with db.session() as session:
        session.query(TrainingSample).delete()
        for i, (letter, unit) in enumerate(zip(letters, units, strict=True)):
            session.add(
                TrainingSample(
                    source=f"s{seed}-{i}",
                    sha256=f"{seed:04d}{i:060d}",
                    text=letter.text,
                    unit_code=unit,
                )
            )


def _registry(tmp_path) -> ModelRegistry:
    db, store = temp_db(tmp_path), temp_store(tmp_path)
    return ModelRegistry(db, store, fileplan(), SETTINGS, recheck_seconds=0)


def test_a_clerks_reassignment_is_a_label_for_the_next_training_run(tmp_path):
    registry = _registry(tmp_path)
    with registry.db.session() as session:
        session.add(ScanLine(id="s1", name="Scanstraße 1", hot_folder="/tmp/x"))
        session.flush()
        session.add(
            Document(
                id="d1",
                scan_line_id="s1",
                source_name="a.tif",
                sha256="0" * 64,
                size_bytes=1,
                media_type="image/tiff",
                text="Hundesteuer für Bello",
            )
        )
        session.flush()
        session.add(
            RoutingDecision(
                document_id="d1", kind="auto", actor="router", unit_code="403.20", is_label=False
            )
        )
        session.add(
            RoutingDecision(
                document_id="d1",
                kind="reassign",
                actor="clerk",
                unit_code="403.30",
                department_id="403",
                is_label=True,
            )
        )
    with registry.db.session() as session:
        labels = collect_labels(session, fileplan())
    assert [(x.source, x.unit_code) for x in labels] == [("document:d1", "403.30")]


def test_training_promotion_refusal_rollback_and_pickup_without_restart(tmp_path):
    registry = _registry(tmp_path)
    assert registry.router().version.startswith("coldstart-")
    _samples(registry.db, 240, seed=1)
    good = train(registry.db, registry.store, fileplan(), SETTINGS)
    assert good.status == "candidate" and good.sha256
    metrics = good.metrics or {}
    assert metrics["unit_accuracy"] > 0.9 and metrics["department_accuracy"] > 0.9
    assert {
        "unit_macro_f1",
        "per_class",
        "department_confusion",
        "auto_precision",
        "auto_coverage",
        "thresholds",
    } <= set(metrics)
    assert registry.store.get(good.plot_key or "").startswith(b"\x89PNG")
    registry.promote(good.version)
    assert registry.router().version == good.version  # picked up without a restart

    # A candidate taught with wrong labels, measured on correctly labelled held-out data.
    _samples(registry.db, 240, seed=2, shuffle_labels=True)
    with registry.db.session() as session:
        examples = collect_labels(session, fileplan())
    run = train_router(examples, fileplan(), SETTINGS, version="bad-teacher")
    truth = {e.text: e.unit_code for e in _letters(240, seed=2)}
    run.heldout = [LabelledText(e.text, truth[e.text], e.source) for e in run.heldout]
    bad = save_run(registry.db, registry.store, run)
    with pytest.raises(Conflict, match="worse"):
        registry.promote(bad.version)
    assert registry.router().version == good.version
    registry.promote(bad.version, force=True)
    assert registry.router().version == bad.version
    restored = registry.rollback()
    assert restored.version == good.version
    assert registry.router().version == good.version


def test_a_corrupt_or_foreign_model_file_is_refused_and_never_unpickled(tmp_path: Path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    with pytest.raises(ModelError, match="not a mailroom model"):
        model_io.load_model(pickle.dumps(Exploit()))
    assert not marker.exists()

    data = model_io.dump_model({"a": __import__("numpy").arange(3)}, {"scale": 1.0})
    arrays, meta = model_io.load_model(data, expected_sha256=model_io.sha256_hex(data))
    assert list(arrays["a"]) == [0, 1, 2] and meta["scale"] == 1.0
    damaged = data[:-5] + b"XXXXX"
    with pytest.raises(ModelError, match="checksum"):
        model_io.load_model(damaged)
    with pytest.raises(ModelError, match="recorded in the database"):
        model_io.load_model(data, expected_sha256="0" * 64)


def test_registry_refuses_a_replaced_model_file(tmp_path):
    registry = _registry(tmp_path)
    _samples(registry.db, 120, seed=4)
    row = train(registry.db, registry.store, fileplan(), SETTINGS)
    registry.store.put(row.object_key or "", model_io.dump_model({}, {"scale": 1.0}))
    with pytest.raises(ModelError, match="recorded in the database"):
        registry.load(row.version)
    with registry.db.session() as session:
        assert session.get(ModelVersion, row.version) is not None
