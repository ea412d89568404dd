"""Make experiments/data/scipy_docstrings.csv: which SciPy subpackage a function's docstring comes from.

The text is the opening paragraph of the docstrings of public functions and classes in six SciPy
subpackages, as shipped in the installed scipy wheel (SciPy is BSD-3-Clause licensed; its docstrings are
part of its source). Nothing is downloaded. Run with the project's Python:

    python experiments/data/make_scipy_docstrings.py

Columns: summary (free text), kind (function, class or ufunc), n_params (how many parameters its signature
shows; empty where Python cannot tell), subpackage (the label: linalg, ndimage, optimize, signal, special,
stats). At most PER_CLASS rows per subpackage, the first ones by name, so no class dwarfs the others.
"""

from __future__ import annotations

import csv
import importlib
import inspect
import re
from pathlib import Path

import numpy as np

SUBPACKAGES = ("linalg", "ndimage", "optimize", "signal", "special", "stats")
PER_CLASS = 150
MAX_CHARS = 400
OUT = Path(__file__).with_name("scipy_docstrings.csv")


def opening(doc: str) -> str:
    """The summary line and the paragraph after it, without a leading call signature or sections."""
    paragraphs = [p.strip() for p in doc.split("\n\n") if p.strip()]
    while paragraphs and re.fullmatch(r"\w+\(.*\)", paragraphs[0], re.S):  # ufuncs open with their calls
        paragraphs.pop(0)
    prose = []
    for paragraph in paragraphs[:2]:
        if paragraph.startswith(("..", "Parameters\n")):  # a math block or the sections: the prose is over
            break
        prose.append(paragraph)
    text = re.sub(r"\s+", " ", " ".join(prose)).strip()
    text = re.split(r" (?:Parameters|Returns|See Also|Notes|Examples) -{3,}", text)[0]
    return text[:MAX_CHARS].rsplit(" ", 1)[0] if len(text) > MAX_CHARS else text


def n_params(obj) -> str:
    if isinstance(obj, np.ufunc):
        return str(obj.nin)  # its Python signature also lists out=, where=, casting=, ...
    try:
        return str(len(inspect.signature(obj).parameters))
    except (TypeError, ValueError):  # ufuncs and some builtins have no signature Python can read
        return ""


def rows() -> list[dict]:
    out, seen = [], set()
    for name in SUBPACKAGES:
        module = importlib.import_module(f"scipy.{name}")
        kept = 0
        for attr in sorted(getattr(module, "__all__", dir(module))):
            obj = getattr(module, attr, None)
            if obj is None or attr.startswith("_") or not callable(obj) or inspect.ismodule(obj):
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj) or isinstance(obj, np.ufunc)):
                continue  # skips stats' distribution instances: 100 copies of one template
            text = opening(inspect.getdoc(obj) or "")
            if len(text.split()) < 4 or text in seen:
                continue
            seen.add(text)
            kind = "ufunc" if isinstance(obj, np.ufunc) else "class" if inspect.isclass(obj) else "function"
            out.append({"summary": text, "kind": kind, "n_params": n_params(obj), "subpackage": name})
            kept += 1
            if kept == PER_CLASS:
                break
    return out


if __name__ == "__main__":
    table = rows()
    with OUT.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["summary", "kind", "n_params", "subpackage"])
        writer.writeheader()
        writer.writerows(table)
    print(f"wrote {len(table)} rows to {OUT}")
