"""A trial's learning curves as SVG text: a valid document whose lines follow the scores."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.record.curves_svg import HEIGHT, curves_svg

SVG = "{http://www.w3.org/2000/svg}"


def points(line: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in line.get("points").split()]


def test_each_curve_is_a_line_through_its_scores_and_the_best_epoch_is_marked() -> None:
    history = [{"train/loss": 4 - e, "val/loss": 5 - e, "val/rmse": 10 * (e + 1)} for e in range(4)]
    root = ET.fromstring(curves_svg(history, "val/rmse", best_epoch=2))
    lines = root.findall(f"{SVG}polyline")
    assert [line.get("stroke") for line in lines] == ["#1f77b4", "#ff7f0e", "#2ca02c"]
    train, val, metric = (points(line) for line in lines)
    assert len(train) == len(val) == len(metric) == 4
    # Falling losses go down the page (SVG's y grows downwards); the rising metric goes up.
    assert all(a[1] < b[1] for a, b in zip(train, train[1:]))
    assert all(a[1] > b[1] for a, b in zip(metric, metric[1:]))
    assert min(y for _, y in val) >= 0 and max(y for _, y in val) <= HEIGHT
    # The metric panel's highest score touches its top edge, the lowest its bottom.
    assert metric[-1][1] < metric[0][1]
    best = [el for el in root.findall(f"{SVG}line") if el.get("stroke") == "grey"]
    assert len(best) == 2 and best[0].get("x1") == f"{metric[2][0] - 200:.1f}"  # one mark per panel, at epoch 2
    assert "val/rmse" in {t.text for t in root.findall(f"{SVG}text")}


def test_a_missing_score_breaks_the_line_and_a_lone_point_is_a_dot() -> None:
    nan = float("nan")
    history = [{"train/loss": 1.0, "val/loss": v, "val/acc": 0.5} for v in (2.0, 1.5, nan, 1.0, 0.9)]
    root = ET.fromstring(curves_svg(history, "val/acc", best_epoch=None))
    val_segments = [points(line) for line in root.findall(f"{SVG}polyline") if line.get("stroke") == "#ff7f0e"]
    assert [len(s) for s in val_segments] == [2, 2]  # epochs 0-1 and 3-4, nothing drawn through epoch 2
    assert not [el for el in root.findall(f"{SVG}line") if el.get("stroke") == "grey"]  # no best epoch: no mark

    one_epoch = ET.fromstring(curves_svg([{"train/loss": 1.0, "val/loss": 2.0, "val/acc": 0.5}], "val/acc", 0))
    assert len(one_epoch.findall(f"{SVG}circle")) == 3 and not one_epoch.findall(f"{SVG}polyline")
