"""YAML documents that remember where each value was written, so errors can name the file line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class _Spot:
    line: int  # 1-based line of the value in the file
    block: bool  # a `|` or `>` block scalar: its text starts on the line after the key


@dataclass
class SourceMap:
    """Maps a path inside the document (("steps", 2, "template")) to its line in the file."""

    path: str
    spots: dict[PathKey, _Spot] = field(default_factory=dict)

    def line_of(self, key: Sequence[str | int], inner_line: int | None = None) -> int | None:
        """The file line of the value at `key` (or its nearest written ancestor).

        `inner_line` is a 1-based line inside a multi-line string value (a template error's line).
        """
        probe: PathKey = tuple(key)
        while probe not in self.spots and probe:
            probe = probe[:-1]
            inner_line = None
        spot = self.spots.get(probe)
        if spot is None:
            return None
        if inner_line is None:
            return spot.line
        return spot.line + (inner_line - 1) + (1 if spot.block else 0)


class YamlError(ValueError):
    """A file that is not valid YAML (or not UTF-8); the message carries the file and line."""

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path, self.problem, self.line = path, problem, line
        super().__init__(f"{path}{'' if line is None else f':{line}'}: {problem}")


def _walk(node: yaml.Node, key: PathKey, spots: dict[PathKey, _Spot]) -> None:
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    spots[key] = _Spot(node.start_mark.line + 1, block)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _walk(value_node, (*key, str(key_node.value)), spots)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*key, index), spots)


def load_yaml_text(text: str, path: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document and build its source map; raises YamlError naming the line."""
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlError(path, f"not valid YAML: {error.problem or error}", line) from None
    except yaml.YAMLError as error:
        raise YamlError(path, f"not valid YAML: {error}") from None
    source = SourceMap(path)
    if node is not None:
        _walk(node, (), source.spots)
    return data, source


def load_yaml_file(path: Path, display: str | None = None) -> tuple[Any, SourceMap]:
    """Read and parse a UTF-8 YAML file (a BOM is accepted: editors on Windows add one)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise YamlError(display or str(path), "not UTF-8 text") from None
    return load_yaml_text(text, display or str(path))
