"""``mailroom train``, ``mailroom evaluate`` and ``mailroom retrain``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from classifiers.evaluation import evaluate_router
from mailroom.cli.common import app_context, console, err_console, report_errors
from mailroom.core.errors import BadInputError
from mailroom.runtime.context import AppContext
from mailroom.runtime.pipeline import recognize_file
from mailroom.services.training import read_labelled_dir, store_samples
from mailroom.services.training import train as train_model


def _ocr(ctx: AppContext) -> Callable[[bytes, str], str]:
    """OCR for labelled scans and PDFs: the pipeline's rasterise and recognise stages."""

    def ocr_text(data: bytes, media_type: str) -> str:
        pages = recognize_file(data, ctx, media_type=media_type)
        return "\n\n".join(ocr.text for _page, ocr in pages)

    return ocr_text


def _print_metrics(metrics: dict[str, Any], title: str) -> None:
    table = Table("Kennzahl", "Wert", title=title)
    rows = [
        ("Dokumente", metrics.get("n")),
        ("Abteilung: Genauigkeit", metrics.get("department_accuracy")),
        ("Abteilung: Macro-F1", metrics.get("department_macro_f1")),
        ("Einheit: Genauigkeit", metrics.get("unit_accuracy")),
        ("Einheit: Macro-F1", metrics.get("unit_macro_f1")),
        ("Automatisch: Präzision", metrics.get("auto_precision")),
        ("Automatisch: Abdeckung", metrics.get("auto_coverage")),
        ("ms je Dokument", metrics.get("ms_per_document")),
    ]
    for name, value in rows:
        shown = (
            f"{value:.1%}" if isinstance(value, float) and name != "ms je Dokument" else str(value)
        )
        table.add_row(name, shown)
    console.print(table)
    worst = sorted((metrics.get("per_class") or {}).items(), key=lambda kv: kv[1]["recall"])[:5]
    if worst:
        console.print(
            "Schwächste Einheiten (Recall): "
            + ", ".join(f"{code} {v['recall']:.0%}" for code, v in worst)
        )


@report_errors
def train(
    directory: Annotated[
        Path | None, typer.Argument(help="Folder of filed documents (images, PDFs, .txt)")
    ] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="CSV file,unit[,case]")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the held-out split")] = 0,
    promote: Annotated[
        bool, typer.Option(help="Promote the new version if it is not worse")
    ] = False,
) -> None:
    """Train a new router version from clerks' decisions and imported documents."""
    if (directory is None) != (labels is None):
        raise BadInputError("give both DIR and --labels FILE.csv, or neither")
    ctx = app_context()
    if directory is not None and labels is not None:
        files = read_labelled_dir(directory, labels, ctx.fileplan, _ocr(ctx))
        with ctx.db.session() as session:
            store_samples(session, files)
        console.print(f"{len(files)} Dokumente als Trainingsbeispiele übernommen.")
    row = train_model(
        ctx.db, ctx.store, ctx.fileplan, ctx.settings, seed=seed, notes="mailroom train"
    )
    _print_metrics(row.metrics or {}, f"Neue Modellversion {row.version} (Kandidat)")
    if promote:
        row = ctx.registry.promote(row.version, actor="cli")
        console.print(f"Modell {row.version} ist jetzt aktiv.")
    else:
        console.print(f"Aktivieren mit: mailroom models promote {row.version}")


@report_errors
def evaluate(
    directory: Annotated[Path, typer.Argument(help="Folder of labelled documents")],
    labels: Annotated[Path, typer.Option("--labels", help="CSV file,unit[,case]")],
    model: Annotated[
        str | None, typer.Option("--model", help="Version (default: the active one)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON")] = False,
) -> None:
    """Measure a router version on any labelled set."""
    ctx = app_context()
    router = ctx.registry.load(model) if model else ctx.registry.router()
    files = read_labelled_dir(directory, labels, ctx.fileplan, _ocr(ctx))
    metrics = evaluate_router(router, [f.text for f in files], [f.unit_code for f in files])
    metrics["model"] = router.version
    if as_json:
        print(json.dumps(metrics, ensure_ascii=False, indent=2))
    else:
        _print_metrics(metrics, f"Modell {router.version}")


@report_errors
def retrain(
    watch: Annotated[bool, typer.Option(help="Keep checking for new corrections")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between checks with --watch")] = 300.0,
    force: Annotated[bool, typer.Option(help="Train now, however few corrections arrived")] = False,
) -> None:
    """Retrain after enough clerks' corrections and promote the result if it is not worse."""
    ctx = app_context()
    while True:
        row = ctx.registry.maybe_retrain(owner="cli-retrain", force=force)
        if row is not None:
            console.print(f"Neue Modellversion {row.version} ({row.status}).")
        elif not watch:
            err_console.print(
                f"Nicht genug neue Korrekturen (mindestens "
                f"{ctx.settings.retrain_after_corrections}); nichts trainiert."
            )
        if not watch:
            return
        force = False
        time.sleep(interval)
