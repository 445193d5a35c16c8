"""``mailroom demo``: realistic German letters, scanned, dropped into a hot folder, processed."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import typer

from config.settings import CONFIG_DIR
from mailroom.cli.common import app_context, console, err_console, report_errors
from mailroom.runtime.context import AppContext


def drop_demo_letters(ctx: AppContext, *, count: int = 6, seed: int | None = None) -> list[Path]:
    """Generate ``count`` letters, scan them (PNG, multi-page TIFF, PDF) into scan line 1.

    Files are written under a temporary name and renamed, as a scanner's capture software
    does, so the watcher never sees half a file.
    """
    from mailroom.demo.letters import generate_letters
    from mailroom.demo.scan import degrade, pdf_bytes, png_bytes, render_page, tiff_bytes
    from mailroom.services.cases import import_cases_csv

    seed = seed if seed is not None else random.SystemRandom().randrange(1_000_000)
    examples = CONFIG_DIR / "cases.example.csv"
    with ctx.db.session() as session:
        import_cases_csv(session, examples, ctx.fileplan)
    cases = _case_pairs(examples)
    letters = generate_letters(ctx.fileplan, count, seed=seed, cases=cases)
    folder = ctx.scan_lines[0].hot_folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311 - demo data
    written = []
    for i, letter in enumerate(letters):
        if i % 3 == 1:
            # Two pages: the letter and its continuation, as one multi-page TIFF.
            half = max(len(letter.lines) // 2, 1)
            pages = [
                render_page(letter.lines[:half], seed=seed + i),
                render_page(letter.lines[half:], seed=seed + i + 1000),
            ]
            name, data = f"brief-{seed}-{i + 1:02d}.tif", tiff_bytes(pages)
        else:
            page = degrade(
                render_page(letter.lines, seed=seed + i),
                seed=seed + i,
                skew=rng.uniform(-2.5, 2.5),
                noise=rng.choice([0.0, 0.1, 0.2]),
                rotate=180 if i == 4 else 0,
            )
            if i % 3 == 2:
                name, data = f"brief-{seed}-{i + 1:02d}.pdf", pdf_bytes([page])
            else:
                name, data = f"brief-{seed}-{i + 1:02d}.png", png_bytes(page)
        target = folder / name
        tmp = folder / f".{name}.part"
        tmp.write_bytes(data)
        tmp.replace(target)
        written.append(target)
    return written


def _case_pairs(path: Path) -> list[tuple[str, str]]:
    import csv

    with path.open(encoding="utf-8") as fh:
        return [(row["aktenzeichen"], row["unit"]) for row in csv.DictReader(fh)]


@report_errors
def demo(
    count: Annotated[int, typer.Option(min=1, max=50, help="How many letters")] = 6,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 2,
    seed: Annotated[int | None, typer.Option(help="Random seed for the letters")] = None,
) -> None:
    """Scan a few demo letters into scan line 1 and watch them being processed."""
    from mailroom.cli.status import collect_status, render_status
    from mailroom.cli.supervise import supervisor

    ctx = app_context()
    files = drop_demo_letters(ctx, count=count, seed=seed)
    err_console.print(f"{len(files)} Briefe in {ctx.scan_lines[0].hot_folder} abgelegt")
    supervisor(ctx, workers=workers, web=False, live=True).run(exit_when_idle=True)
    console.print(render_status(collect_status(ctx, limit=count)))
