"""Measuring a router on a labelled set (Evaluation): accuracy, macro-F1, confusion,
automatic-routing precision and coverage. Pure: texts and their true units in, metrics out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from classifiers.extract import extract
from classifiers.router import Router, apply_evidence
from classifiers.text_model import FloatArray
from mailroom.core.domain import CaseMatch


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
