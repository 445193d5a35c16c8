"""The router: which department and file-plan unit a letter belongs to, and how sure.

A linear model over word and character n-gram TF-IDF features of the OCR text gives
calibrated unit probabilities (the department is the sum over its units). Rule evidence
adjusts them: a matched case decides, a reference that fits a unit's pattern and the
addressed department count as evidence. A department's documents are routed automatically
only when the confidence reaches that department's threshold; everything else becomes a
Klärfall with the alternatives and the reasons in German. Which threshold is in force
(administrator, file plan, measured, default) is decided in :mod:`classifiers.thresholds`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from classifiers.text_model import (
    CHAR_PARAMS,
    WORD_PARAMS,
    FloatArray,
    TextModel,
    prepare_text,
    softmax,
)
from classifiers.thresholds import Threshold, threshold_in_force
from config.fileplan import FilePlan
from config.settings import Settings
from mailroom.core.domain import Alternative, CaseMatch, Extraction, RoutingResult
from mailroom.core.errors import ModelError


def fileplan_hash(fileplan: FilePlan) -> str:
    """Short stable hash of the file plan (names the cold-start model)."""
    return hashlib.sha256(fileplan.model_dump_json().encode()).hexdigest()[:10]


def coldstart_model(fileplan: FilePlan) -> TextModel:
    """A model from the file plan alone: each unit's title, description and keywords
    (and its department's names) form a prototype; letters score by cosine similarity."""
    labels = [u.code for u in fileplan.units]
    docs = []
    for unit in fileplan.units:
        dept = fileplan.department(unit.department)
        parts = [
            unit.title,
            unit.title,
            unit.description,
            *unit.keywords,
            *unit.keywords,
            dept.name,
            *dept.aliases,
        ]
        docs.append(prepare_text(" ".join(parts)))
    word = TfidfVectorizer(**WORD_PARAMS).fit(docs)
    char = TfidfVectorizer(**CHAR_PARAMS).fit(docs)
    x = sp.hstack([word.transform(docs), char.transform(docs)], format="csr")
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1))).ravel()
    coef = np.asarray((sp.diags(1 / np.maximum(norms, 1e-9)) @ x).todense(), dtype=np.float32)
    return TextModel(labels, word, char, coef, np.zeros(len(labels), np.float32), scale=25.0)


# -- rule evidence and decision --------------------------------------------------------

#: Weight of the file-plan prior (cold-start model) multiplied into a trained model's
#: probabilities: what the file plan says about a unit keeps counting after training.
PRIOR_WEIGHT = 1.0

#: Likelihood ratios of the rule evidence (how much more likely the unit becomes).
REFERENCE_LR = 12.0
ADDRESSED_LR = 1.6


@dataclass
class Evidence:
    """Probabilities after rule evidence, with the reasons that changed them."""

    proba: FloatArray
    reasons: list[str] = field(default_factory=list)


def apply_evidence(
    proba: FloatArray, labels: Sequence[str], fileplan: FilePlan, extraction: Extraction
) -> Evidence:
    """Combine model probabilities with references that fit a unit and the addressee."""
    p = proba.copy()
    reasons: list[str] = []
    index = {code: i for i, code in enumerate(labels)}
    hinted = {r.unit_hint for r in extraction.references if r.unit_hint in index}
    for code in sorted(hinted, key=str):
        p[index[code]] *= REFERENCE_LR
        unit = fileplan.unit(code)
        reasons.append(f"Aktenzeichen im Format von {unit.code} „{unit.title}“ gefunden")
    for dept_id in extraction.addressed_departments[:2]:
        units = [index[u.code] for u in fileplan.units_of(dept_id) if u.code in index]
        if units:
            p[units] *= ADDRESSED_LR
    total = p.sum()
    return Evidence(p / total if total > 0 else proba, reasons)


@dataclass
class Router:
    """Routes one letter; ``version`` names the model (``coldstart-<hash>`` without training)."""

    version: str
    model: TextModel
    fileplan: FilePlan
    settings: Settings
    #: Measured thresholds per department (``"*"`` = all departments), from training.
    thresholds: dict[str, float] = field(default_factory=dict)
    #: Thresholds set by an administrator (database); precedence in
    #: :mod:`classifiers.thresholds`.
    admin_thresholds: dict[str, float] = field(default_factory=dict)
    coldstart: bool = False
    #: The file-plan model combined with a trained one (``None`` for the cold start itself).
    prior: TextModel | None = None
    prior_weight: float = PRIOR_WEIGHT

    def __post_init__(self) -> None:
        known = self.fileplan.units_by_code
        self._keep = np.array([code in known for code in self.model.labels], dtype=bool)
        self._labels = [c for c in self.model.labels if c in known]
        self._dept_of = [known[c].department for c in self._labels]
        self._keywords = {c: [k for k in known[c].keywords if len(k) >= 4] for c in self._labels}

    def threshold(self, dept_id: str) -> float:
        """The confidence a department's documents need for automatic routing."""
        return self.threshold_in_force(dept_id).value

    def threshold_in_force(
        self, dept_id: str, admin: Mapping[str, float] | None = None
    ) -> Threshold:
        """The department's threshold and its source; ``admin`` replaces the administrators'
        values loaded with this router (the Verwaltung passes freshly read ones)."""
        return threshold_in_force(
            dept_id,
            admin=self.admin_thresholds if admin is None else admin,
            fileplan=self.fileplan,
            measured={} if self.coldstart else self.thresholds,
            model_version=self.version,
            default=self.settings.default_auto_threshold,
        )

    def unit_proba(self, texts: Sequence[str]) -> FloatArray:
        """Model probabilities over the file plan's units (order of :attr:`labels`)."""
        z = self.model.scores(texts)[:, self._keep] * self.model.scale
        if self.prior is not None and self.prior_weight > 0:
            columns = [self.prior.labels.index(c) for c in self._labels]
            prior = self.prior.proba(texts)[:, columns]
            prior /= np.maximum(prior.sum(axis=1, keepdims=True), 1e-12)
            z = z + self.prior_weight * np.log(np.maximum(prior, 1e-12))
        return softmax(z, 1.0)

    @property
    def labels(self) -> list[str]:
        return self._labels

    def route(self, text: str, extraction: Extraction, case_match: CaseMatch) -> RoutingResult:
        """Propose department, unit and case; ``auto`` only when confident enough."""
        evidence = apply_evidence(
            self.unit_proba([text])[0], self._labels, self.fileplan, extraction
        )
        return self.decide(evidence, text, extraction, case_match)

    def decide(
        self, evidence: Evidence, text: str, extraction: Extraction, case_match: CaseMatch
    ) -> RoutingResult:
        p = evidence.proba
        reasons: list[str] = []
        if self.coldstart:
            reasons.append(
                "Kaltstart: Zuordnung nur aus Titeln, Beschreibungen und Schlagworten "
                "des Aktenplans"
            )
        if case_match.case is not None:
            return self._by_case(p, extraction, case_match, reasons + evidence.reasons)
        unit_i = self._best_unit(p)
        code, dept_id = self._labels[unit_i], self._dept_of[unit_i]
        confidence = float(p[unit_i])
        unit = self.fileplan.unit(code)
        reasons.append(f"Textklassifikation: {code} „{unit.title}“ mit {confidence:.0%}")
        reasons += evidence.reasons
        reasons += self._keyword_reason(code, text)
        reasons += self._addressee_reason(dept_id, extraction)
        threshold = self.threshold(dept_id)
        decision = "auto" if confidence >= threshold else "review"
        if case_match.ambiguous:
            decision = "review"
            listed = ", ".join(f"{c.aktenzeichen} ({c.unit_code})" for c in case_match.candidates)
            reasons.append(
                f"Aktenzeichen passt zu mehreren Vorgängen: {listed} – bitte Vorgang wählen"
            )
        elif decision == "review":
            reasons.append(
                f"Klärfall: Sicherheit {confidence:.0%} liegt unter der Schwelle {threshold:.0%} "
                f"für {self.fileplan.department(dept_id).name}"
            )
        return RoutingResult(
            dept_id,
            code,
            None,
            confidence,
            decision,  # type: ignore[arg-type]
            self._alternatives(p, unit_i),
            reasons,
            self.version,
        )

    def _best_unit(self, p: FloatArray) -> int:
        # Department first (sum over its units), then the best unit inside it.
        dept_p: dict[str, float] = {}
        for i, dept in enumerate(self._dept_of):
            dept_p[dept] = dept_p.get(dept, 0.0) + float(p[i])
        best_dept = max(dept_p, key=lambda d: dept_p[d])
        inside = [i for i, d in enumerate(self._dept_of) if d == best_dept]
        return max(inside, key=lambda i: p[i])

    def _alternatives(self, p: FloatArray, chosen: int, n: int = 3) -> list[Alternative]:
        order = [int(i) for i in np.argsort(-p) if int(i) != chosen][:n]
        return [
            Alternative(self._labels[i], self._dept_of[i], round(float(p[i]), 4)) for i in order
        ]

    def _by_case(
        self, p: FloatArray, extraction: Extraction, match: CaseMatch, reasons: list[str]
    ) -> RoutingResult:
        case = match.case
        assert case is not None
        unit = self.fileplan.units_by_code.get(case.unit_code)
        if unit is None:
            raise ModelError(
                f"case {case.aktenzeichen} names unit {case.unit_code}, not in the file plan"
            )
        if case.how == "exact":
            confidence = 0.999
            reasons.insert(0, f"Vorgang {case.aktenzeichen} erkannt (Aktenzeichen stimmt überein)")
        else:
            confidence = 0.99 if case.name_confirmed else 0.97
            reasons.insert(
                0, f"Vorgang {case.aktenzeichen} erkannt (Aktenzeichen mit einer Abweichung)"
            )
        if case.name_confirmed:
            reasons.append("Name aus dem Vorgang im Schreiben gefunden")
        threshold = self.threshold(unit.department)
        decision = "auto" if confidence >= threshold else "review"
        if decision == "review":
            reasons.append(
                f"Klärfall: Sicherheit {confidence:.0%} unter der Schwelle {threshold:.0%}"
            )
        chosen = self._labels.index(unit.code) if unit.code in self._labels else -1
        return RoutingResult(
            unit.department,
            unit.code,
            case.case_id,
            confidence,
            decision,  # type: ignore[arg-type]
            self._alternatives(p, chosen),
            reasons,
            self.version,
        )

    def _keyword_reason(self, code: str, text: str) -> list[str]:
        lowered = text.lower()
        hits = [k for k in self._keywords.get(code, []) if k.lower() in lowered][:4]
        return [f"Schlagworte im Text: {', '.join(hits)}"] if hits else []

    def _addressee_reason(self, dept_id: str, extraction: Extraction) -> list[str]:
        if not extraction.addressed_departments:
            return []
        names = ", ".join(
            self.fileplan.department(d).name for d in extraction.addressed_departments
        )
        if dept_id in extraction.addressed_departments:
            return [f"Adressiert an {names}"]
        return [f"Adressiert an {names} – der Inhalt passt zu einer anderen Stelle"]


def make_coldstart_router(fileplan: FilePlan, settings: Settings) -> Router:
    """The router used before any model is trained."""
    return Router(
        f"coldstart-{fileplan_hash(fileplan)}",
        coldstart_model(fileplan),
        fileplan,
        settings,
        coldstart=True,
    )
