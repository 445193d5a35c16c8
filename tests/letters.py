"""Scanned test letters with known content, made with the product's own sample renderer."""

from __future__ import annotations

from pathlib import Path

from mailroom.demo.scan import degrade, render_page, tiff_bytes

CASE_REF = "209.10-0457/2024"
CASE_UNIT = "209.10"

PAGE_1 = [
    "Anna Schneider",
    "Kohlstraße 5",
    "42103 Wuppertal",
    "",
    "Stadt Wuppertal",
    "Elterngeld und Unterhalt",
    "Johannes-Rau-Platz 1",
    "42275 Wuppertal",
    "",
    "Wuppertal, 12.03.2024",
    "",
    f"Betreff: Elterngeld für Mia Schneider, Ihr Zeichen {CASE_REF}",
    "",
    "Sehr geehrte Damen und Herren,",
    "",
    "anbei sende ich Ihnen die angeforderten Unterlagen zu meinem Antrag auf",
    "Elterngeld. Die Geburtsurkunde meiner Tochter Mia und die",
    "Verdienstbescheinigung meines Arbeitgebers liegen diesem Schreiben bei.",
]
PAGE_2 = [
    "Bitte teilen Sie mir mit, ob noch weitere Nachweise für die Bewilligung",
    "des Elterngeldes fehlen. Die Bankverbindung hat sich nicht geändert.",
    "",
    "Mit freundlichen Grüßen",
    "",
    "Anna Schneider",
]


def two_page_letter(path: Path, *, seed: int = 7) -> Path:
    """A two-page letter quoting an open case, scanned slightly skewed, as one TIFF."""
    pages = [
        degrade(render_page(PAGE_1, seed=seed), skew=1.5, noise=0.15, seed=seed),
        degrade(render_page(PAGE_2, seed=seed + 1), skew=-1.0, seed=seed + 1),
    ]
    path.write_bytes(tiff_bytes(pages))
    return path


def case_csv(path: Path) -> Path:
    path.write_text(
        "aktenzeichen,unit,subject,names\n"
        f"{CASE_REF},{CASE_UNIT},Elterngeld für Mia Schneider,Anna Schneider\n",
        encoding="utf-8",
    )
    return path
