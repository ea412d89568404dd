"""The architecture as a contract: which room of harness/ may import what (read from the source, so an
import inside a function counts as much as one at the top; nothing is imported to check it).

    spec/    the study file                    no torch, Optuna or MLflow
    data/    rows and images to tensors        no torch.nn, Optuna or MLflow
    nn/      the networks and the loop         no Optuna or MLflow
    search/  the Optuna side                   no MLflow
    record/  the MLflow run tree               no Optuna
    serve/   what models:/NAME@alias needs     no Optuna
    study/   a study's life: the only room that brings torch, Optuna and MLflow together
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import ROOT

PACKAGE = ROOT / "harness"
LIBRARIES = ("torch", "torch.nn", "optuna", "mlflow")
FORBIDDEN = {
    "spec": ("torch", "optuna", "mlflow"),
    "data": ("torch.nn", "optuna", "mlflow"),
    "nn": ("optuna", "mlflow"),
    "search": ("mlflow",),
    "record": ("optuna",),
    "serve": ("optuna",),
}
# The rooms each room may import from (besides itself and harness.errors): never upward into study or cli.
ALLOWED = {
    "spec": {"data"},
    "data": set(),
    "nn": {"data", "spec"},
    "search": {"spec", "nn", "data"},
    "record": {"spec", "nn", "data"},
    "serve": {"spec", "nn", "data"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` in the file names (relative imports resolved)."""
    here = module_name(path).split(".")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + (path.name == "__init__.py")]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}
INTERNAL = {name: {m for m in found if m in MODULES and m not in ("harness", name)} for name, found in MODULES.items()}


def libraries(found: set[str]) -> set[str]:
    """Which of torch, torch.nn, Optuna and MLflow a set of imported names reaches."""
    out = set()
    for name in found:
        for lib in LIBRARIES:
            if name == lib or name.startswith(lib + "."):
                out.add(lib)
    return out


def reachable(name: str) -> set[str]:
    """The harness modules `name` imports, directly or through others."""
    seen, todo = set(), [name]
    while todo:
        for nxt in INTERNAL[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def room(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in FORBIDDEN else None


def test_there_are_no_import_cycles() -> None:
    cycles = sorted(name for name in MODULES if name in reachable(name))
    assert not cycles, f"modules that import themselves through others: {cycles}"


def test_no_module_imports_the_package_itself() -> None:
    upward = sorted(name for name, found in MODULES.items() if "harness" in found and name != "harness.__main__")
    assert not upward, f"`from harness import ...` inside the package (an upward import): {upward}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if room(n)))
def test_each_room_keeps_to_its_libraries_and_neighbours(name: str) -> None:
    own = room(name)
    reached = {name, *reachable(name)}
    used = set().union(*(libraries(MODULES[m]) for m in reached))
    banned = used & set(FORBIDDEN[own])
    assert not banned, f"{name} reaches {sorted(banned)} (directly or through {sorted(reached - {name})})"
    rooms = {room(m) or m for m in INTERNAL[name]} - {own, "harness.errors"}
    assert rooms <= ALLOWED[own], f"{name} imports from {sorted(rooms - ALLOWED[own])}, which {own}/ may not use"


def reaches_all_three(name: str) -> bool:
    used = set().union(*(libraries(MODULES[m]) for m in {name, *reachable(name)}))
    return {"torch", "optuna", "mlflow"} <= used


def test_only_study_brings_torch_optuna_and_mlflow_together() -> None:
    """The entry points (the cli's commands, the package's lazy API) reach everything through study; no
    room does."""
    entry_points = {"harness", "harness.__main__"}
    meeting = sorted(name for name in MODULES
                     if name not in entry_points and not name.startswith("harness.cli") and reaches_all_three(name))
    assert meeting and all(name.startswith("harness.study") for name in meeting), meeting


def test_the_contract_sees_every_room() -> None:
    """The checks above would pass vacuously if the rooms were renamed: make sure they are all found."""
    assert {room(n) for n in MODULES} - {None} == set(FORBIDDEN)
    assert reaches_all_three("harness.study.objective") and reaches_all_three("harness.study.run")
