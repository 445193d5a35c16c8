"""Routing benchmark: extraction, case matching and the router against a paperless-style baseline.

Two test sets, both scored for the router and the baseline:

* **unseen wording**: different seeds *and* disjoint phrase variants of the generator
  (``variants="train"`` / ``"test"``): every test sentence is one the models never saw in
  training. This is the hard case of a new kind of letter; the router can still use the file
  plan's titles, descriptions and keywords, a bag-of-words baseline cannot.
* **seen wording**: different seed, same phrase pool as training: new letters, familiar
  sentences, the situation after a few weeks of clerks' corrections.

Both test sets contain the confusable pairs, letters addressed to the wrong office, letters
quoting open cases (some with a typo) and a share of letters printed, degraded like a scan
and read back with the real Tesseract.

Run: ``OMP_THREAD_LIMIT=1 .venv/bin/python -m benchmarks.routing [--ocr 40] [--big 10000]``
"""

from __future__ import annotations

import argparse
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import f1_score
from sklearn.neural_network import MLPClassifier

from classifiers.cases import CaseIndex, OpenCase
from classifiers.extract import extract
from classifiers.training import LabelledText, train_router
from config.fileplan import FilePlan, load_file_plan
from config.settings import CONFIG_DIR, Settings
from mailroom.demo.letters import Letter, Variants, generate_letters


def make_cases(plan: FilePlan, per_unit: int, seed: int) -> list[tuple[str, str]]:
    """Open cases in the units' standard Aktenzeichen form, sparse running numbers."""
    rng = random.Random(seed)
    cases: set[tuple[str, str]] = set()
    for unit in plan.units:
        while sum(1 for _, c in cases if c == unit.code) < per_unit:
            year = rng.choice([2022, 2023, 2024])
            cases.add((f"{unit.code}-{rng.randint(1, 4999):04d}/{year}", unit.code))
    return sorted(cases)


def ocr_some(letters: list[Letter], n: int, seed: int) -> tuple[list[Letter], int]:
    """Replace the text of ``n`` letters by what Tesseract reads from a degraded scan."""
    try:
        from mailroom.core.domain import PageImage
        from mailroom.demo.scan import degrade, render_page
        from mailroom.infra.tesseract import TesseractEngine
        from workers.preprocess import prepare_page
    except ImportError as exc:  # pragma: no cover - the OCR helper's modules are missing
        print(f"OCR share skipped: {exc}")
        return letters, 0
    engine = TesseractEngine("deu")
    rng = random.Random(seed)
    chosen = rng.sample(range(len(letters)), min(n, len(letters)))

    def read(i: int) -> tuple[int, str]:
        image = render_page(letters[i].lines, seed=seed + i)
        image = degrade(
            image,
            skew=rng.uniform(-1.5, 1.5),
            noise=rng.uniform(0, 0.04),
            blur=rng.choice([0, 0, 1]),
            stamp=rng.random() < 0.3,
            seed=seed + i,
        )
        prepared = prepare_page(PageImage(1, image, 300))
        return i, engine.recognize(prepared).text

    out = list(letters)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for i, text in pool.map(read, chosen):
            out[i] = replace(letters[i], text=text)
    return out, len(chosen)


def run_router(router: Any, index: CaseIndex, plan: FilePlan, test: list[Letter]) -> dict[str, Any]:
    """Full stage chain per letter: extract -> match case -> route."""
    results = []
    started = time.perf_counter()
    for letter in test:
        extraction = extract(letter.text, plan)
        match = index.match(extraction)
        results.append((router.route(letter.text, extraction, match), match))
    ms = 1000 * (time.perf_counter() - started) / len(test)
    units = [r.unit_code for r, _ in results]
    truth = [t.unit_code for t in test]
    unit_ok = np.array([u == t for u, t in zip(units, truth, strict=True)])
    dept_ok = np.array(
        [r.department_id == t.department_id for (r, _), t in zip(results, test, strict=True)]
    )
    auto = np.array([r.decision == "auto" for r, _ in results])
    attached = [
        (m.case.aktenzeichen if m.case else None, t.case_aktenzeichen)
        for (_, m), t in zip(results, test, strict=True)
    ]
    made = [(a, t) for a, t in attached if a is not None]
    with_case = [(a, t) for a, t in attached if t is not None]
    return {
        "department_accuracy": float(dept_ok.mean()),
        "unit_accuracy": float(unit_ok.mean()),
        "unit_macro_f1": float(f1_score(truth, units, average="macro", zero_division=0)),
        "auto_precision": float(unit_ok[auto].mean()) if auto.any() else float("nan"),
        "auto_department_precision": float(dept_ok[auto].mean()) if auto.any() else float("nan"),
        "auto_coverage": float(auto.mean()),
        "case_precision": float(np.mean([a == t for a, t in made])) if made else float("nan"),
        "case_recall": float(np.mean([a == t for a, t in with_case]))
        if with_case
        else float("nan"),
        "case_letters": len(with_case),
        "ambiguous_to_review": sum(1 for _, m in results if m.ambiguous),
        "ms_per_document": ms,
    }


def baseline(train: list[Letter], test: list[Letter], plan: FilePlan) -> dict[str, Any]:
    """paperless-ngx's classifier: CountVectorizer word 1-2-grams + MLPClassifier."""
    started = time.perf_counter()
    vectorizer = CountVectorizer(analyzer="word", lowercase=True, ngram_range=(1, 2), min_df=0.01)
    x = vectorizer.fit_transform([t.text for t in train])
    model = MLPClassifier(tol=0.01, random_state=0).fit(x, [t.unit_code for t in train])
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    pred = list(model.predict(vectorizer.transform([t.text for t in test])))
    ms = 1000 * (time.perf_counter() - started) / len(test)
    truth = [t.unit_code for t in test]
    return {
        "department_accuracy": float(
            np.mean(
                [
                    plan.unit(p).department == t.department_id
                    for p, t in zip(pred, test, strict=True)
                ]
            )
        ),
        "unit_accuracy": float(np.mean([p == t for p, t in zip(pred, truth, strict=True)])),
        "unit_macro_f1": float(f1_score(truth, pred, average="macro", zero_division=0)),
        "training_seconds": seconds,
        "ms_per_document": ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=2400)
    parser.add_argument("--test", type=int, default=744)
    parser.add_argument("--ocr", type=int, default=40)
    parser.add_argument("--big", type=int, default=10_000, help="0 skips the big training run")
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    plan = load_file_plan(CONFIG_DIR / "fileplan.yaml")
    settings = Settings(target_precision=args.target)
    cases = make_cases(plan, per_unit=5, seed=7)
    index = CaseIndex.from_cases(OpenCase(i, az, unit) for i, (az, unit) in enumerate(cases, 1))
    train = generate_letters(plan, args.train, seed=11, variants="train", cases=cases)
    test_sets: dict[str, tuple[list[Letter], int]] = {}
    scenarios: list[tuple[str, int, Variants]] = [("unseen", 22, "test"), ("seen", 23, "train")]
    for name, seed, variants in scenarios:
        letters = generate_letters(
            plan,
            args.test,
            seed=seed,
            variants=variants,
            cases=cases,
            case_share=0.3,
            typo_share=0.35,
            wrong_office_share=0.15,
        )
        test_sets[name] = ocr_some(letters, args.ocr, seed=seed + 11)

    examples = [LabelledText(t.text, t.unit_code, "generated") for t in train]
    started = time.perf_counter()
    run = train_router(examples, plan, settings, version="benchmark", test_size=0.2)
    train_seconds = time.perf_counter() - started

    test, n_ocr = test_sets["unseen"]
    report: dict[str, Any] = {
        "train_letters": len(train),
        "test_letters": len(test),
        "ocr_letters": n_ocr,
        "units": len({t.unit_code for t in test}),
        "wrong_office_letters": sum(
            1 for t in test if t.addressed_department not in (None, t.department_id)
        ),
        "target_precision": args.target,
    }
    for name, (letters, _) in test_sets.items():
        ours = run_router(run.router, index, plan, letters)
        ours["training_seconds_total"] = train_seconds
        ours["training_seconds_fit"] = run.metrics["training_seconds"]
        report[name] = {"router": ours, "baseline_paperless": baseline(train, letters, plan)}
    if args.big:
        big = generate_letters(plan, args.big, seed=44, variants="train")
        started = time.perf_counter()
        big_run = train_router(
            [LabelledText(t.text, t.unit_code, "g") for t in big],
            plan,
            settings,
            version="big",
            test_size=0.2,
        )
        report["big_training"] = {
            "documents": args.big,
            "seconds_total": time.perf_counter() - started,
            "seconds_fit": big_run.metrics["training_seconds"],
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    _print(report)


def _print(report: dict[str, Any]) -> None:
    print(
        f"Letters: train {report['train_letters']}, each test set {report['test_letters']} over "
        f"{report['units']} units ({report['ocr_letters']} through Tesseract, "
        f"{report['wrong_office_letters']} addressed to the wrong office)"
    )
    unseen, seen = report["unseen"], report["seen"]
    cols = [
        unseen["router"],
        unseen["baseline_paperless"],
        seen["router"],
        seen["baseline_paperless"],
    ]
    print(f"{'':34}{'unseen wording':^22}{'seen wording':^22}")
    print(f"{'':34}{'router':>11}{'baseline':>11}{'router':>11}{'baseline':>11}")

    def row(label: str, key: str, fmt: str = ">11.1%", router_only: bool = False) -> None:
        cells = []
        for i, col in enumerate(cols):
            if router_only and i % 2:
                cells.append(f"{'':>11}")
            else:
                cells.append(format(col[key], fmt))
        print(f"{label:34}{''.join(cells)}")

    row("department accuracy", "department_accuracy")
    row("unit accuracy", "unit_accuracy")
    row("unit macro-F1", "unit_macro_f1")
    row("auto-routed precision (unit)", "auto_precision", router_only=True)
    row("auto-routed precision (dept)", "auto_department_precision", router_only=True)
    row("auto-routing coverage", "auto_coverage", router_only=True)
    row("case-match precision", "case_precision", router_only=True)
    row("case-match recall", "case_recall", router_only=True)
    print(
        f"{'letters quoting a case':34}{unseen['router']['case_letters']:>11}{'':>11}"
        f"{seen['router']['case_letters']:>11}"
    )
    row("ms per document (text->decision)", "ms_per_document", ">11.2f")
    print(
        f"{'training seconds':34}{unseen['router']['training_seconds_total']:>11.1f}"
        f"{unseen['baseline_paperless']['training_seconds']:>11.1f}"
    )
    if "big_training" in report:
        big = report["big_training"]
        print(
            f"training on {big['documents']} documents: {big['seconds_total']:.1f} s "
            f"(fit and thresholds {big['seconds_fit']:.1f} s)"
        )


if __name__ == "__main__":
    main()
