"""Pages for the border and punch-hole tests, made with the product's own sample renderer."""

from __future__ import annotations

import numpy as np

PX_PER_MM = 300 / 25.4


def near_the_edge(page: np.ndarray, *, left_mm: float, top_mm: float) -> np.ndarray:
    """``page`` moved up and left so that its text starts ``left_mm``/``top_mm`` from the
    edges (``render_page`` starts the text 25 mm from the left and 45 mm from the top)."""
    dx, dy = round((25 - left_mm) * PX_PER_MM), round((45 - top_mm) * PX_PER_MM)
    moved = np.full_like(page, 255)
    moved[:-dy, :-dx] = page[dy:, dx:]
    return moved
