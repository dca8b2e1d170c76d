"""Print the figures of the package graph that issue 15 asked for, read from the imports.

    .venv/bin/python tools/package_graph.py

Counts the runtime packages, the arrows between them (package A imports something of package B), the
arrows that run back up or sideways against the layers contract in `pyproject.toml`, and an import
cycle between packages if there is one. import-linter enforces the layers in the test suite; this script gives the
numbers a person can compare across commits.
"""

from __future__ import annotations

import graphlib
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def layer_of_package() -> tuple[list[str], dict[str, int]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers_contract = next(c for c in config["contracts"] if c["type"] == "layers")
    rank: dict[str, int] = {}
    # The contract lists the top layer first; rank 0 is the bottom.
    for depth, layer in enumerate(reversed(layers_contract["layers"])):
        for package in layer.split("|"):
            rank[package.strip()] = depth
    return list(config["root_packages"]), rank


def package_arrows(packages: list[str]) -> set[tuple[str, str]]:
    graph = grimp.build_graph(*packages)
    arrows: set[tuple[str, str]] = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            source, target = importer.split(".")[0], imported.split(".")[0]
            if source != target and target in packages:
                arrows.add((source, target))
    return arrows


def a_cycle(packages: list[str], arrows: set[tuple[str, str]]) -> list[str]:
    """One import cycle between packages, or [] when the graph has none (the standard library's graphlib)."""
    graph: dict[str, set[str]] = {package: set() for package in packages}
    for source, target in arrows:
        graph[source].add(target)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        return list(error.args[1])
    return []


def main() -> int:
    sys.path.insert(0, str(ROOT))
    packages, rank = layer_of_package()
    arrows = package_arrows(packages)
    upward = sorted((s, t) for s, t in arrows if rank[t] > rank[s])
    sideways = sorted((s, t) for s, t in arrows if rank[t] == rank[s])
    cycle = a_cycle(packages, arrows)
    print(f"packages: {len(packages)}")
    print(f"arrows between packages: {len(arrows)}")
    print(f"arrows running back up: {len(upward)} {upward if upward else ''}".rstrip())
    print(f"arrows within one layer: {len(sideways)} {sideways if sideways else ''}".rstrip())
    print(f"package cycle: {' -> '.join(cycle) if cycle else 'none'}")
    return 1 if upward or sideways or cycle else 0


if __name__ == "__main__":
    raise SystemExit(main())
