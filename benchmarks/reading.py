"""Reading every page right (#11): the product's OCR on DIN letters of many kinds and on the
dev scans.

    OMP_THREAD_LIMIT=1 .venv/bin/python -m benchmarks.reading [--pages 120] [--seed 0]
        [--devset PATH | --no-devset] [--no-corpus] [--scans N] [--jobs 2] [--json]

Both corpora go through the product's OCR stages as ``benchmarks/devset.py`` runs them
(``rasterize_stage`` + ``recognize_stage``, ``TesseractEngine``, default settings) in
``--jobs`` processes. (a) The own corpus, ``make_reading_corpus`` in
``benchmarks/corpus.py`` (each worker renders its pages; the wall clock includes that,
the worker seconds are OCR only); (b) the dev scans (``<repo>/../shared/devset``, letters
only), level = ``meta.scan_severity``, handwriting label ``letter`` when
``meta.handwritten``, ``notes`` when ``meta.annotations`` has a ``handwritten_note``, the
upright rotation per page = ``meta.page_rotation`` (the degrees the product must turn the
page clockwise; checked on the dev set's turned scans).

Printed for each: pooled document CER (reading order) and line-level CER (each truth
line against its closest recognised line), for all letters, printed letters per level and
handwritten letters; printed letters above 5 % line-level; handwriting detection
(document-level ``Recognized.handwritten``) precision and recall for ``letter`` and for
``notes``, and the share of printed letters flagged ``letter``; orientation: pages whose
``PageOcr.orientation_check`` is ``corrected``, pages left turned wrongly (final
``PreparedPage.rotation`` is not the truth), upright pages turned; pages read twice
(``PageOcr.second_pass``); seconds per page.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from benchmarks.corpus import (
    LEVELS,
    ReadingPage,
    char_errors,
    reading_kinds,
    reading_page,
)
from benchmarks.devset import (
    DEFAULT_DEVSET,
    Row,
    line_errors,
    pct,
    pooled,
    read_jsonl,
    share,
    table,
)
from config.settings import Settings
from mailroom.core.domain import Handwritten
from mailroom.demo.fonts import require_fonts
from mailroom.infra.tesseract import TesseractEngine
from mailroom.runtime.pipeline import rasterize_stage, recognize_stage


@dataclass(frozen=True)
class Label:
    """What is true of one letter."""

    name: str
    level: str
    handwritten: Handwritten | None
    rotations: tuple[int, ...] | None  # per page; None: not known


@dataclass(frozen=True)
class Reading:
    """What the product made of one letter."""

    pages: int
    seconds: float  # rasterize + recognize, inside the worker
    document: tuple[int, int]  # (edits, reference characters), reading order
    lines: tuple[int, int]  # each truth line against its closest recognised line
    handwritten: Handwritten | None
    rotations: tuple[int, ...]
    corrected: int  # pages whose orientation check turned them
    second_passes: int


@cache
def _engine() -> tuple[Settings, TesseractEngine]:
    """One settings object and one engine per benchmark process, as in a worker."""
    settings = Settings()
    return settings, TesseractEngine(settings.ocr_language, settings.ocr_timeout_seconds)


def read(data: bytes, truth: str) -> Reading:
    """OCR one scanned file with the product's stages and score it against ``truth``."""
    settings, engine = _engine()
    started = time.perf_counter()
    recognized = recognize_stage(rasterize_stage(data, None, settings), engine)
    seconds = time.perf_counter() - started
    text = recognized.text
    return Reading(
        pages=len(recognized.pages),
        seconds=seconds,
        document=char_errors(truth, text),
        lines=line_errors(truth, text),
        handwritten=recognized.handwritten,
        rotations=tuple(p.rotation for p in recognized.pages),
        corrected=sum(r.orientation_check == "corrected" for r in recognized.results),
        second_passes=sum(r.second_pass for r in recognized.results),
    )


def read_own(job: tuple[int, Handwritten | None, int]) -> tuple[Label, Reading]:
    """Render page ``index`` of the own corpus and read it."""
    index, kind, seed = job
    page: ReadingPage = reading_page(index, kind, seed)
    label = Label(page.description, page.level, page.handwritten, (page.rotation,))
    return label, read(page.data, page.truth)


def read_dev(job: tuple[str, str, Label]) -> tuple[Label, Reading]:
    path, truth, label = job
    return label, read(Path(path).read_bytes(), truth)


def dev_jobs(devset: Path, limit: int | None) -> list[tuple[str, str, Label]]:
    """The dev set's scanned letters (blank and separator sheets skipped) with labels."""
    jobs = []
    for row in read_jsonl(devset / "scans" / "labels.jsonl")[:limit]:
        if row["kind"] != "letter":
            continue
        meta = row["meta"]
        notes = any(a.get("type") == "handwritten_note" for a in meta.get("annotations") or [])
        kind: Handwritten | None = (
            "letter" if meta.get("handwritten") else "notes" if notes else None
        )
        rotations = meta.get("page_rotation")
        label = Label(row["file"], str(meta.get("scan_severity")), kind,
                      tuple(rotations) if rotations is not None else None)  # fmt: skip
        jobs.append((str(devset / "scans" / row["file"]), row["text"], label))
    return jobs


Result = list[tuple[Label, Reading]]
Job = Any  # a job of read_own or read_dev


def cer(results: Result) -> Row:
    return {
        "letters": len(results),
        "document_cer": pooled(r.document for _, r in results),
        "line_cer": pooled(r.lines for _, r in results),
        "above_5pct": sum(pooled([r.lines]) > 0.05 for _, r in results),
    }


def detection(results: Result, kind: Handwritten) -> Row:
    """Precision and recall of the document-level handwriting flag ``kind``."""
    flagged = [label.handwritten == kind for label, r in results if r.handwritten == kind]
    actual = [r.handwritten == kind for label, r in results if label.handwritten == kind]
    return {"flagged": len(flagged), "labelled": len(actual),
            "precision": share(flagged), "recall": share(actual)}  # fmt: skip


def wrongly_turned(results: Result, *, upright_only: bool = False) -> list[str]:
    """Pages whose final rotation is not the truth (only pages that came in upright), as
    ``name p<page>: <truth> -> <rotation>``."""
    found = []
    for label, r in results:
        if label.rotations is None or len(label.rotations) != len(r.rotations):
            continue
        for page, (truth, got) in enumerate(zip(label.rotations, r.rotations, strict=True)):
            if got != truth and (truth == 0 or not upright_only):
                found.append(f"{label.name.split(' ')[0]} p{page + 1}: {truth} -> {got}")
    return found


def figures(results: Result, wall: float) -> Row:
    printed = [(label, r) for label, r in results if label.handwritten != "letter"]
    hand = [(label, r) for label, r in results if label.handwritten == "letter"]
    levels = sorted({label.level for label, _ in results},
                    key=lambda v: LEVELS.index(v) if v in LEVELS else len(LEVELS))  # fmt: skip
    pages = max(sum(r.pages for _, r in results), 1)
    return {
        "letters": len(results),
        "pages": pages,
        "all": cer(results),
        "printed": cer(printed),
        "printed_by_level": {v: cer([x for x in printed if x[0].level == v]) for v in levels},
        "handwritten_letters": cer(hand),
        "detect_letter": detection(results, "letter"),
        "detect_notes": detection(results, "notes"),
        "printed_flagged_letter": share(r.handwritten == "letter" for _, r in printed),
        "orientation_corrected": sum(r.corrected for _, r in results),
        "turned_wrongly": len(wrongly_turned(results)),
        "upright_turned": len(wrongly_turned(results, upright_only=True)),
        "turned_wrongly_pages": wrongly_turned(results),
        "turned_pages": sum(t != 0 for label, _ in results for t in label.rotations or ()),
        "second_pass_pages": sum(r.second_passes for _, r in results),
        "seconds_per_page_wall": wall / pages,
        "seconds_per_page_worker": sum(r.seconds for _, r in results) / pages,
        "worst": worst(printed),
    }


def worst(results: Result, n: int = 5) -> list[tuple[float, str]]:
    """The ``n`` letters with the highest line-level CER."""
    return sorted(((pooled([r.lines]), label.name) for label, r in results), reverse=True)[:n]


def run(function: Callable[[Job], tuple[Label, Reading]], jobs: Iterable[Job],
        processes: int) -> tuple[Result, float]:  # fmt: skip
    """Every job in ``processes`` processes; the wall clock of the whole run."""
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=processes) as pool:
        results = list(pool.map(function, jobs))
    return results, time.perf_counter() - started


def print_figures(title: str, f: Row) -> None:
    def row(name: str, c: Row) -> tuple[str, ...]:
        rates = (pct(c["document_cer"]), pct(c["line_cer"]))
        return (name, str(c["letters"]), *rates, str(c["above_5pct"]))

    rows = [row("all letters", f["all"]), row("printed letters", f["printed"])]
    rows += [row(f"  printed, {level}", c) for level, c in f["printed_by_level"].items()]
    rows.append(row("handwritten letters", f["handwritten_letters"]))
    table(f"{title}: {f['letters']} letters, {f['pages']} pages", ("letters", "doc CER",
          "line CER", ">5 % line"), rows)  # fmt: skip
    rows = []
    for kind in ("letter", "notes"):
        d = f[f"detect_{kind}"]
        rows.append((f"handwritten={kind}: labelled {d['labelled']}, flagged {d['flagged']}",
                     pct(d["precision"]), pct(d["recall"])))  # fmt: skip
    rows.append(("printed letters flagged 'letter'", pct(f["printed_flagged_letter"]), ""))
    table("Handwriting detection", ("precision", "recall"), rows)
    print(f"orientation: {f['turned_pages']} pages turned in the scan; plausibility check "
          f"corrected {f['orientation_corrected']}; left turned wrongly {f['turned_wrongly']} "
          f"(of them upright pages turned: {f['upright_turned']}); second pass on "
          f"{f['second_pass_pages']} pages")  # fmt: skip
    if f["turned_wrongly_pages"]:
        print("turned wrongly (truth -> final rotation): " + "; ".join(f["turned_wrongly_pages"]))
    print(
        f"seconds per page: {f['seconds_per_page_wall']:.2f} wall clock, "
        f"{f['seconds_per_page_worker']:.2f} OCR in one worker"
    )
    print("worst printed letters (line CER): "
          + "; ".join(f"{pct(rate)} {name}" for rate, name in f["worst"]))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=120, help="pages of the own corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--devset", type=Path, default=DEFAULT_DEVSET)
    parser.add_argument("--no-devset", action="store_true")
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--scans", type=int, default=None, help="only the first N dev scans")
    parser.add_argument("--jobs", type=int, default=2, help="OCR processes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    report: Row = {"jobs": args.jobs}
    if not args.no_corpus:
        require_fonts()
        kinds = reading_kinds(args.pages, args.seed)
        jobs = [(i, kind, args.seed) for i, kind in enumerate(kinds)]
        results, wall = run(read_own, jobs, args.jobs)
        report["corpus"] = figures(results, wall) | {"seed": args.seed}
    if not args.no_devset:
        results, wall = run(read_dev, dev_jobs(args.devset, args.scans), args.jobs)
        report["devset"] = figures(results, wall) | {"path": str(args.devset)}
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    if "corpus" in report:
        print_figures(f"(a) DIN letters, seed {args.seed} (wall clock includes rendering)",
                      report["corpus"])  # fmt: skip
    if "devset" in report:
        print_figures(f"(b) dev scans, {args.devset}", report["devset"])
    print(f"\n{args.jobs} OCR processes")


if __name__ == "__main__":
    main()
