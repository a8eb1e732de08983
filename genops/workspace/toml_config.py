"""Loading genops.toml into `GenopsConfig`, with errors that name the line of the bad key."""

from __future__ import annotations

import datetime
import difflib
import json
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from genops.errors import ConfigError, UsageError
from genops.workspace.catalog import refused_pins
from genops.workspace.config import GenopsConfig
from genops.workspace.inputs import check_inside

CONFIG_NAME = "genops.toml"


def not_in_workspace(start: Path, *, also: str = "") -> UsageError:
    """The one error every command gives outside a workspace (exit 2); `also` leads the hint
    with what this command can do without one."""
    return UsageError(f"{start} is not inside a genops workspace (no {CONFIG_NAME} here or above)",
                      hint=(f"{also}; or " if also else "") + "cd into a workspace, pass --workspace "
                           "DIR, or create one with `genops init DIR` (or `genops init --here`)")


def _line_of_key(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line of a dotted TOML key: find its table header, then the key below it."""
    lines = text.splitlines()
    parts = [str(p) for p in loc]
    for split in range(len(parts), 0, -1):
        table, rest = parts[:split], parts[split:]
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(
            r'"?' + re.escape(p) + r'"?' for p in table) + r"\s*\]\s*$")
        for index, line in enumerate(lines):
            if header.match(line):
                if not rest:
                    return index + 1
                key = re.compile(r"^\s*" + re.escape(rest[0]) + r"\s*=")
                for offset, sub in enumerate(lines[index + 1:], start=index + 2):
                    if sub.lstrip().startswith("["):
                        break
                    if key.match(sub):
                        return offset
                return index + 1
    if parts:
        key = re.compile(r"^\s*" + re.escape(parts[-1]) + r"\s*=")
        for index, line in enumerate(lines):
            if key.match(line):
                return index + 1
    return None


def load_config(root: Path) -> GenopsConfig:
    """Parse and validate genops.toml; a ConfigError names the line and the field."""
    path = root / CONFIG_NAME
    if not path.is_file():
        raise not_in_workspace(root)
    check_inside(root, path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(CONFIG_NAME, f"not UTF-8 ({exc.reason} at byte {exc.start})",
                          hint="save the file as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(CONFIG_NAME, f"TOML syntax error: {exc}",
                          line=int(match.group(1)) if match else None) from None
    try:
        return GenopsConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        loc = key_path(tuple(errors[0]["loc"]))
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") \
            or "(top level)"
        hint = "`genops help config` lists every key, its type and its bounds"
        if errors[0]["type"] == "extra_forbidden":
            what = "unknown key"
            close = difflib.get_close_matches(str(loc[-1]), allowed_keys(loc[:-1]), n=1)
            if close:
                what += f"; did you mean {close[0]!r}?"
        else:
            what = describe([e for e in errors if key_path(tuple(e["loc"])) == loc])
        raise ConfigError(CONFIG_NAME, f"{field}: {what}", line=_line_of_key(text, loc),
                          hint=hint) from None


# What each pydantic error type expects, in TOML's words.
_EXPECTED = {
    "float_type": "a number", "float_parsing": "a number",
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "bool_type": "a boolean (true or false)", "bool_parsing": "a boolean (true or false)",
    "string_type": "a string", "list_type": "an array", "dict_type": "a table",
    "model_type": "a table", "model_attributes_type": "a table",
    "finite_number": "a finite number",
}
_BOUND = {"gt": "greater than", "ge": "greater than or equal to", "lt": "less than",
          "le": "less than or equal to"}
_BOUND_TYPES = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt",
                "less_than_equal": "le"}


def describe(errors: list[Any]) -> str:
    """`expected <what>, got <value> (<its TOML type>)` for one key's errors (a union such as
    `bool | float` reports one error per member: each is one alternative), else pydantic's words."""
    expected: list[str] = []
    for err in errors:
        kind = err["type"]
        if kind in _EXPECTED:
            what = _EXPECTED[kind]
        elif kind in _BOUND_TYPES:
            name = _BOUND_TYPES[kind]
            what = f"a number {_BOUND[name]} {_number(err.get('ctx', {}).get(name))}"
        elif kind == "literal_error":
            what = str(err.get("ctx", {}).get("expected") or err["msg"])
        else:
            return str(err["msg"])
        if what not in expected:
            expected.append(what)
    if len(expected) > 1:
        expected = [e.replace(" (true or false)", "") for e in expected]
    value = errors[0].get("input")
    return f"expected {' or '.join(expected)}, got {_shown(value)} ({_toml_type(value)})"


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(value: Any) -> str:
    """A value as it is written in TOML (shortened)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.date, datetime.time)):
        return "a date/time"
    return type(value).__name__


def key_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The TOML key a pydantic error location names: `loc` without the member tag a union
    adds (`models.m.capabilities.temperature.bool` is `models.m.capabilities.temperature`)."""
    annotation: Any = GenopsConfig
    path: list[Any] = []
    for part in loc:
        annotation = _optional(annotation)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(part)) or next(
                (f for f in annotation.model_fields.values() if f.alias == part), None)
            annotation = info.annotation if info is not None else None
        elif origin is dict and len(args) == 2:
            annotation = args[1]
        elif origin is list and args and isinstance(part, int):
            annotation = args[0]
        elif annotation is not None:
            break  # a union's member tag, or a validator's
        path.append(part)
    return tuple(path)


def _optional(annotation: Any) -> Any:
    """`X | None` as X; any other annotation as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the table at `loc` accepts, walking the config models ([] when unknown)."""
    model: Any = GenopsConfig
    parts = list(loc)
    while parts:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        info = model.model_fields.get(str(parts.pop(0)))
        if info is None:
            return []
        model = info.annotation
        args = typing.get_args(model)
        if typing.get_origin(model) is dict and len(args) == 2:  # [models.<rung>]: skip the name
            if not parts:
                return []
            parts.pop(0)
            model = args[1]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def check_pins(root: Path, config: GenopsConfig) -> None:
    """Refuse a sampling pin a rung's model cannot honour (the catalog's capabilities), naming the
    line in genops.toml: a seed the API never sends must not look pinned in the archive key."""
    text = (root / CONFIG_NAME).read_text(encoding="utf-8")
    for rung, cfg in config.models.items():
        for key, why in refused_pins(cfg):
            raise ConfigError(CONFIG_NAME, f"models.{rung}.{key}: {why}",
                              line=_line_of_key(text, ("models", rung, key)),
                              hint=f"remove {key} from [models.{rung}] (or, for a model newer than "
                                   f"genops's catalog, state what it accepts in "
                                   f"[models.{rung}.capabilities]); `genops help providers`")
