"""The product on letters it did not make: the independent development set.

    OMP_THREAD_LIMIT=1 .venv/bin/python -m benchmarks.devset [--devset PATH]
        [--scans N | --no-scans] [--jobs 2] [--json]

The devset (``<repo>/../shared/devset``, see its README) is read at run time; nothing of it
is in this repository. It is used as a city would use the product: its ``fileplan.yaml`` is
the file plan, ``cases.csv`` goes through the product's import (``mailroom cases import``,
into a throw-away SQLite database) and the case index is built from that database. The
cold-start router comes from the file plan alone; the trained router is fitted at run time
with :func:`classifiers.training.train_router` and default settings on the ``train`` split.

**A. Text letters** (``kind == letter``, ``test`` split, exact printed text), per router:
department and unit accuracy, the share routed automatically (``auto``) and its unit
precision, open-case recall (of letters whose label has a case: the routed ``case_id``'s
Aktenzeichen equals it) and precision (of letters a case was attached to), and per
``case_mode`` the share with the right case (for ``unknown_reference``, label null: left
without one). Extraction, the same for both: *Absender* is right when the extracted sender
contains the expected sender, the first line of the text's first block (the letterhead's
organisation or the sender's name), case-insensitive on whitespace-normalised text;
*DatumDesSchreibens* is right when the extracted letter date equals ``meta.letter_date``.

**B. Scans** (letters only; blank and separator sheets are skipped): each file through the
product's OCR stages (``rasterize_stage`` + ``recognize_stage``, ``TesseractEngine``,
default settings) in ``--jobs`` processes. Pooled document CER (all edits / all reference
characters, whitespace-normalised, in the label's reading order); pooled line-level CER
(each non-empty truth line against its closest recognised line: reading order does not
count); letters above 5 % line-level CER; the same per ``meta.scan_severity`` and
``meta.handwritten``; seconds per page (wall clock of the run, and inside the workers).
Then the trained router reads the label text and the OCR text of the same letters (unit
accuracy, case recall), also for only the scans whose text was not in the training split.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from benchmarks.corpus import char_errors, edit_distance, normalise_whitespace
from classifiers.cases import CaseIndex
from classifiers.extract import extract
from classifiers.router import Router, make_coldstart_router
from classifiers.training import LabelledText, train_router
from config.fileplan import FilePlan, load_file_plan
from config.settings import Settings
from mailroom.core.domain import Extraction, RoutingResult
from mailroom.infra.db.database import Database
from mailroom.infra.tesseract import TesseractEngine
from mailroom.runtime.pipeline import rasterize_stage, recognize_stage
from mailroom.services.cases import import_cases_csv, load_case_index

DEFAULT_DEVSET = Path(__file__).resolve().parents[2] / "shared" / "devset"
Row = dict[str, Any]


def share(flags: Iterable[bool]) -> float | None:
    """The share of true values; None when there are none at all."""
    values = list(flags)
    return sum(values) / len(values) if values else None


def read_jsonl(path: Path) -> list[Row]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def open_cases(devset: Path, plan: FilePlan) -> CaseIndex:
    """The case index as the product builds it after ``mailroom cases import cases.csv``."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'devset.db'}")
        db.upgrade()
        with db.session() as session:
            import_cases_csv(session, devset / "cases.csv", plan)
        with db.session() as session:
            index = load_case_index(session)
        db.engine.dispose()
    return index


@dataclass(frozen=True)
class Routed:
    row: Row
    extraction: Extraction
    routing: RoutingResult
    case_az: str | None  # the Aktenzeichen of the attached case


def route(
    router: Router, index: CaseIndex, plan: FilePlan, rows: list[Row], texts: list[str]
) -> list[Routed]:
    """extract -> match case -> route, as the worker pipeline does, for every text."""
    az_of = {case.id: case.aktenzeichen for cases in index.by_key.values() for case in cases}
    out: list[Routed] = []
    for row, text in zip(rows, texts, strict=True):
        extraction = extract(text, plan)
        routing = router.route(text, extraction, index.match(extraction))
        case_az = None if routing.case_id is None else az_of.get(routing.case_id)
        out.append(Routed(row, extraction, routing, case_az))
    return out


def case_figures(routed: list[Routed]) -> Row:
    cased = [r for r in routed if r.row["case"]]
    attached = [r for r in routed if r.case_az]
    return {
        "case_letters": len(cased),
        "case_recall": share(r.case_az == r.row["case"] for r in cased),
        "case_attached": len(attached),
        "case_precision": share(r.case_az == r.row["case"] for r in attached),
    }


def routing_figures(routed: list[Routed]) -> Row:
    """Accuracy, automatic share and its precision, open-case recall and precision."""
    auto = [r for r in routed if r.routing.decision == "auto"]
    return {
        "department_accuracy": share(
            r.routing.department_id == r.row["department"] for r in routed
        ),
        "unit_accuracy": share(r.routing.unit_code == r.row["unit"] for r in routed),
        "auto_share": share(r.routing.decision == "auto" for r in routed),
        "auto_precision": share(r.routing.unit_code == r.row["unit"] for r in auto),
        **case_figures(routed),
        "case_by_mode": grouped(routed, "case_mode", lambda r: r.case_az == r.row["case"]),
    }


def grouped(routed: list[Routed], key: str, right: Callable[[Routed], bool]) -> Row:
    """``{meta[key]: {"n", "share"}}`` for the letters that have that meta field."""
    groups: dict[str, list[bool]] = {}
    for r in routed:
        if (value := r.row["meta"].get(key)) is not None:
            groups.setdefault(str(value), []).append(right(r))
    return {k: {"n": len(v), "share": share(v)} for k, v in sorted(groups.items())}


def expected_sender(text: str) -> str:
    """The first line of the first non-empty block: the letterhead's or sender's name."""
    first = next(block for block in text.split("\n\n") if block.strip())
    return normalise_whitespace(first.strip().splitlines()[0]).casefold()


def sender_right(r: Routed) -> bool:
    found = normalise_whitespace(r.extraction.sender or "").casefold()
    return expected_sender(r.row["text"]) in found


def extraction_figures(routed: list[Routed]) -> Row:
    def date_right(r: Routed) -> bool:
        return r.extraction.letter_date == date.fromisoformat(r.row["meta"]["letter_date"])

    return {
        "sender": share(sender_right(r) for r in routed),
        "sender_by_type": grouped(routed, "sender_type", sender_right),
        "letter_date": share(date_right(r) for r in routed),
    }


@dataclass(frozen=True)
class ScanScore:
    text: str
    pages: int
    seconds: float
    document: tuple[int, int]  # (edits, reference characters) of the whole text
    lines: tuple[int, int]  # the same, each truth line against its closest OCR line


ScanRun = tuple[list[Row], list[ScanScore], float]  # label rows, scores, wall-clock seconds


@cache
def _worker() -> tuple[Settings, TesseractEngine]:
    """One settings object and one engine per benchmark process, as in a worker."""
    settings = Settings()
    return settings, TesseractEngine(settings.ocr_language, settings.ocr_timeout_seconds)


def read_scan(job: tuple[str, str]) -> ScanScore:
    """OCR one scanned file with the product's stages and score it against ``truth``."""
    path, truth = job
    settings, engine = _worker()
    started = time.perf_counter()
    pages = rasterize_stage(Path(path).read_bytes(), None, settings)
    text = recognize_stage(pages, engine).text
    seconds = time.perf_counter() - started
    return ScanScore(text, len(pages), seconds, char_errors(truth, text), line_errors(truth, text))


def line_errors(truth: str, text: str) -> tuple[int, int]:
    """(edits, characters) of every non-empty truth line against its closest OCR line."""
    seen = [line for line in map(normalise_whitespace, text.splitlines()) if line]
    edits = chars = 0
    for line in map(normalise_whitespace, truth.splitlines()):
        if line:
            edits += closest(line, seen)
            chars += len(line)
    return edits, chars


def closest(line: str, candidates: list[str]) -> int:
    """Smallest edit distance to a candidate; a length gap is a lower bound, so stop there."""
    best = len(line)  # nothing recognised for it: every character is missing
    for candidate in sorted(candidates, key=lambda c: abs(len(c) - len(line))):
        if abs(len(candidate) - len(line)) >= best:
            break
        best = min(best, edit_distance(line, candidate))
    return best


def pooled(pairs: Iterable[tuple[int, int]]) -> float:
    """All edits over all reference characters."""
    counted = list(pairs)
    return sum(e for e, _ in counted) / max(sum(c for _, c in counted), 1)


def cer_figures(scores: list[ScanScore]) -> Row:
    return {
        "letters": len(scores),
        "document_cer": pooled(s.document for s in scores),
        "line_cer": pooled(s.lines for s in scores),
        "above_5pct": sum(pooled([s.lines]) > 0.05 for s in scores),
    }


def scan_figures(rows: list[Row], scores: list[ScanScore], wall: float) -> Row:
    """CER overall, per scan severity and handwritten or not, and seconds per page."""

    def by(key: str) -> Row:
        groups: dict[str, list[ScanScore]] = {}
        for r, score in zip(rows, scores, strict=True):
            groups.setdefault(str(r["meta"].get(key)), []).append(score)
        return {value: cer_figures(group) for value, group in sorted(groups.items())}

    pages = max(sum(s.pages for s in scores), 1)
    return {
        "pages": pages,
        "all": cer_figures(scores),
        "by_severity": by("scan_severity"),
        "by_handwritten": by("handwritten"),
        "seconds_per_page_wall": wall / pages,
        "seconds_per_page_worker": sum(s.seconds for s in scores) / pages,
    }


def run_scans(devset: Path, limit: int | None, jobs: int) -> ScanRun:
    """The first ``limit`` scans' letters through OCR in ``jobs`` processes."""
    rows = read_jsonl(devset / "scans" / "labels.jsonl")[:limit]
    rows = [r for r in rows if r["kind"] == "letter"]
    work = [(str(devset / "scans" / r["file"]), r["text"]) for r in rows]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        scores = list(pool.map(read_scan, work))
    return rows, scores, time.perf_counter() - started


def scan_routing(router: Router, index: CaseIndex, plan: FilePlan, rows: list[Row],
                 scores: list[ScanScore], trained_on: set[str]) -> Row:  # fmt: skip
    """Trained router on the label text and on the OCR text of the same scanned letters."""
    fresh = [i for i, r in enumerate(rows) if r["text"] not in trained_on]
    out: Row = {}
    for name, chosen in (("not_trained_on", fresh), ("all", list(range(len(rows))))):
        picked = [rows[i] for i in chosen]
        ocr = [scores[i].text for i in chosen]
        for source, texts in (("label", [r["text"] for r in picked]), ("ocr", ocr)):
            routed = route(router, index, plan, picked, texts)
            right = share(r.routing.unit_code == r.row["unit"] for r in routed)
            out[f"{name}_{source}"] = {"letters": len(routed), "unit_accuracy": right}
            out[f"{name}_{source}"].update(case_figures(routed))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devset", type=Path, default=DEFAULT_DEVSET)
    parser.add_argument("--scans", type=int, default=None, help="only the first N scan files")
    parser.add_argument("--no-scans", action="store_true")
    parser.add_argument("--jobs", type=int, default=2, help="OCR processes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    plan = load_file_plan(args.devset / "fileplan.yaml")
    settings = Settings()
    index = open_cases(args.devset, plan)
    letters = [r for r in read_jsonl(args.devset / "letters.jsonl") if r["kind"] == "letter"]
    train = [r for r in letters if r["split"] == "train"]
    test = [r for r in letters if r["split"] == "test"]
    started = time.perf_counter()
    examples = [LabelledText(r["text"], r["unit"], "devset") for r in train]
    trained = train_router(examples, plan, settings, version="devset").router
    report: Row = {
        "devset": str(args.devset),
        "open_cases": len(index),
        "train_letters": len(train),
        "test_letters": len(test),
        "training_seconds": time.perf_counter() - started,
    }
    routers = {"coldstart": make_coldstart_router(plan, settings), "trained": trained}
    for name, router in routers.items():
        routed = route(router, index, plan, test, [r["text"] for r in test])
        report[name] = routing_figures(routed)
    # Extraction does not depend on the router: the last run's is everybody's.
    report["extraction"] = extraction_figures(routed)
    if not args.no_scans:
        rows, scores, wall = run_scans(args.devset, args.scans, args.jobs)
        report["scans"] = scan_figures(rows, scores, wall) | {"jobs": args.jobs}
        trained_on = {r["text"] for r in train}
        report["scan_routing"] = scan_routing(trained, index, plan, rows, scores, trained_on)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_report(report)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def table(title: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """A label column and right-aligned cells, one line per row."""
    print(f"\n{title}")
    for line in [("", *header), *rows]:
        print(f"{line[0]:44}" + "".join(f"{cell:>12}" for cell in line[1:]))


def print_report(report: Row) -> None:
    cold, trained, ex = report["coldstart"], report["trained"], report["extraction"]
    rows = [
        (label, pct(cold[key]), pct(trained[key]))
        for label, key in (
            ("department accuracy", "department_accuracy"),
            ("file-plan unit accuracy", "unit_accuracy"),
            ("routed automatically (auto)", "auto_share"),
            ("  unit precision of those", "auto_precision"),
            (f"open case recall (of {trained['case_letters']})", "case_recall"),
            ("open case precision (of attached)", "case_precision"),
        )
    ]
    rows.append(("  cases attached", str(cold["case_attached"]), str(trained["case_attached"])))
    for mode, f in trained["case_by_mode"].items():
        cold_share = cold["case_by_mode"][mode]["share"]
        rows.append((f"  case right, {mode} ({f['n']})", pct(cold_share), pct(f["share"])))
    rows.append(("Absender named (both routers)", "", pct(ex["sender"])))
    rows += [(f"  {k} ({f['n']})", "", pct(f["share"])) for k, f in ex["sender_by_type"].items()]
    rows.append(("DatumDesSchreibens = meta.letter_date", "", pct(ex["letter_date"])))
    table(
        f"A. Text letters, test split: {report['test_letters']} (trained on "
        f"{report['train_letters']} in {report['training_seconds']:.1f} s; "
        f"{report['open_cases']} open cases)",
        ("cold start", "trained"),
        rows,
    )
    if "scans" in report:
        print_scans(report["scans"], report["scan_routing"])


def print_scans(scans: Row, routing: Row) -> None:
    def cer(label: str, f: Row) -> tuple[str, ...]:
        rates = (pct(f["document_cer"]), pct(f["line_cer"]))
        return (label, str(f["letters"]), *rates, str(f["above_5pct"]))

    rows = [cer("all", scans["all"])]
    rows += [cer(f"  scan_severity {k}", f) for k, f in scans["by_severity"].items()]
    rows += [cer(f"  handwritten {k}", f) for k, f in scans["by_handwritten"].items()]
    table(
        f"B. Scans: {scans['all']['letters']} letters, {scans['pages']} pages, "
        f"{scans['seconds_per_page_wall']:.2f} s/page wall clock with {scans['jobs']} jobs, "
        f"{scans['seconds_per_page_worker']:.2f} s/page in one worker",
        ("letters", "doc CER", "line CER", ">5 % line"),
        rows,
    )
    rows = []
    for name, label in (("not_trained_on", "scans not in training"), ("all", "all scans")):
        text, ocr = routing[f"{name}_label"], routing[f"{name}_ocr"]
        rows.append((f"{label} ({text['letters']}): unit accuracy",
                     pct(text["unit_accuracy"]), pct(ocr["unit_accuracy"])))  # fmt: skip
        rows.append((f"  case recall (of {text['case_letters']})",
                     pct(text["case_recall"]), pct(ocr["case_recall"])))  # fmt: skip
    table("Trained router on the scanned letters", ("label text", "OCR text"), rows)


if __name__ == "__main__":
    main()
