"""YAML loading that keeps node positions, so validation errors can name a line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from genops.errors import ConfigError


def load_yaml_with_nodes(path: Path, rel: str) -> tuple[Any, yaml.Node | None]:
    """Parse YAML safely; a syntax error becomes a ConfigError with the line of the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(rel, "not UTF-8", hint="save the file as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(rel, f"YAML syntax error: {exc.problem or exc}", line=line,
                          hint="check indentation and quoting on that line") from None
    except yaml.YAMLError as exc:
        raise ConfigError(rel, f"YAML error: {exc}") from None
    return data, node


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node reachable along `loc` (keys and list indexes)."""
    best = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    best = key_node.start_mark.line + 1
                    nxt = value_node
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            best = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return best
