"""Loading genops.toml into `GenopsConfig`, with errors that name the line of the bad key."""

from __future__ import annotations

import difflib
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from genops.errors import ConfigError
from genops.workspace.catalog import refused_pins
from genops.workspace.config import GenopsConfig
from genops.workspace.inputs import check_inside

CONFIG_NAME = "genops.toml"


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
        raise ConfigError(CONFIG_NAME, "not found",
                          hint=f"run `genops init {root}` to create a workspace, or cd into one")
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
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        hint = "`genops help config` lists every key"
        if err["type"] == "extra_forbidden":
            what = "unknown key"
            close = difflib.get_close_matches(str(loc[-1]), allowed_keys(loc[:-1]), n=1)
            if close:
                what += f"; did you mean {close[0]!r}?"
        else:
            what = err["msg"]
        raise ConfigError(CONFIG_NAME, f"{field}: {what}", line=_line_of_key(text, loc),
                          hint=hint) from None


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
