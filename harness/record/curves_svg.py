"""A trial's learning curves as a small SVG, written as text: about a millisecond a trial where matplotlib's
PNG took 60 to 130 ms (benchmarks/plots_cost.py), a third of what recording a small trial cost. The MLflow
UI shows an .svg artifact as an image, like a PNG.

Two panels: loss (train solid, validation dashed) on the left, the study metric on the right; the best
epoch as a dotted grey line. A missing or non-finite point breaks its line rather than bending it.
"""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT = 400, 256  # the old PNG's size: 5 x 3.2 inches at 80 dpi
PANEL_WIDTH, TOP, BOTTOM, LEFT, RIGHT = 200, 26, 36, 44, 8
COLORS = {"train/loss": "#1f77b4", "val/loss": "#ff7f0e", "metric": "#2ca02c"}


def curves_svg(history: list[dict], metric: str, best_epoch: int | None) -> str:
    """The SVG document of one trial's curves; `history` holds one dict of scores per epoch."""
    panels = [
        panel(0, "loss", history, [("train/loss", COLORS["train/loss"], ""), ("val/loss", COLORS["val/loss"], "4 3")],
              best_epoch, legend=True),
        panel(PANEL_WIDTH, metric, history, [(metric, COLORS["metric"], "")], best_epoch, legend=False),
    ]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="9">'
            f'<rect width="100%" height="100%" fill="white"/>{"".join(panels)}</svg>\n')


def panel(x0: int, title: str, history: list[dict], lines: list[tuple[str, str, str]], best_epoch: int | None,
          legend: bool) -> str:
    values = [float(h[key]) for h in history for key, _, _ in lines if _finite(h.get(key))]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-12 * max(1.0, abs(high)):
        low, high = low - 0.5, high + 0.5  # a flat curve sits in the middle
    last = max(len(history) - 1, 1)
    left, right, top, bottom = x0 + LEFT, x0 + PANEL_WIDTH - RIGHT, TOP, HEIGHT - BOTTOM

    def x(epoch: float) -> float:
        return left + (right - left) * epoch / last

    def y(value: float) -> float:
        return bottom - (bottom - top) * (value - low) / (high - low)

    parts = [f'<text x="{(left + right) / 2:.1f}" y="{TOP - 10}" text-anchor="middle" font-size="10">'
             f'{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="none" stroke="#444"/>']
    for value in (low, (low + high) / 2, high):
        parts.append(f'<text x="{left - 3}" y="{y(value) + 3:.1f}" text-anchor="end">{_label(value)}</text>')
    for epoch in sorted({0, last // 2, last}):
        parts.append(f'<text x="{x(epoch):.1f}" y="{bottom + 12}" text-anchor="middle">{epoch}</text>')
    parts.append(f'<text x="{(left + right) / 2:.1f}" y="{bottom + 26}" text-anchor="middle">epoch</text>')
    if best_epoch is not None:
        parts.append(f'<line x1="{x(best_epoch):.1f}" y1="{top}" x2="{x(best_epoch):.1f}" y2="{bottom}" '
                     f'stroke="grey" stroke-dasharray="1 2"/>')
    for key, color, dash in lines:
        for segment in _segments([h.get(key) for h in history]):
            if len(segment) == 1:  # one epoch, or one point between gaps: a dot, as a line needs two
                (e, v), = segment
                parts.append(f'<circle cx="{x(e):.1f}" cy="{y(v):.1f}" r="2" fill="{color}"/>')
                continue
            points = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in segment)
            parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5"{_dashes(dash)}/>')
    if legend:
        for row, (key, color, dash) in enumerate(lines):
            ly = top + 10 + 11 * row
            parts.append(f'<line x1="{right - 70}" y1="{ly - 3}" x2="{right - 56}" y2="{ly - 3}" stroke="{color}" '
                         f'stroke-width="1.5"{_dashes(dash)}/><text x="{right - 52}" y="{ly}" font-size="8">{escape(key)}</text>')
    return "".join(parts)


def _segments(values: list) -> list[list[tuple[int, float]]]:
    """Runs of consecutive finite points: a gap (NaN, inf, missing) ends one run and starts the next."""
    runs, current = [], []
    for epoch, value in enumerate(values):
        if _finite(value):
            current.append((epoch, float(value)))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _dashes(dash: str) -> str:
    return f' stroke-dasharray="{dash}"' if dash else ""


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))


def _label(value: float) -> str:
    return f"{value:.3g}"
